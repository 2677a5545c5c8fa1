package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/minilab/minilab/dns"
	"github.com/minilab/minilab/nodes/images"
)

// The cluster DNS addon, as `kubeadm init` installs it: the kube-dns
// Service at the tenth address of the service CIDR, and a coredns
// Deployment whose image minilab serves with its own DNS server (package
// dns), inside the coredns pods' network namespaces.

const corednsImage = "registry.k8s.io/coredns/coredns:v1.12.0"

// corefile is kubeadm's Corefile: what the DNS server does, in CoreDNS's
// terms. minilab's server follows it; the ConfigMap is there to be read.
func corefile(zone string) string {
	return `.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes ` + zone + ` in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success ` + zone + `
       disable denial ` + zone + `
    }
    loop
    reload
    loadbalance
}
`
}

// ensureDNSAddon creates the kube-dns objects that are missing (a user's
// changes to existing ones are kept, as kubeadm upgrades keep them).
func ensureDNSAddon(ctx context.Context, c kubernetes.Interface, zone string, dnsIP netip.Addr) error {
	labels := map[string]string{"k8s-app": "kube-dns"}
	two := int32(2)
	one := intstr.FromInt32(1)
	create := func(what string, err error) error {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating the DNS addon's %s: %w", what, err)
		}
		return nil
	}
	ns := "kube-system"
	if err := create("ServiceAccount", ignoreResult(c.CoreV1().ServiceAccounts(ns).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "coredns"}}, metav1.CreateOptions{FieldManager: "kubeadm"}))); err != nil {
		return err
	}
	if err := create("ConfigMap", ignoreResult(c.CoreV1().ConfigMaps(ns).Create(ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "coredns"}, Data: map[string]string{"Corefile": corefile(zone)}},
		metav1.CreateOptions{FieldManager: "kubeadm"}))); err != nil {
		return err
	}
	pod := corev1.PodSpec{
		PriorityClassName:  "system-cluster-critical",
		ServiceAccountName: "coredns",
		DNSPolicy:          corev1.DNSDefault,
		// minilab keeps the DNS on the control plane, out of the workers'
		// way in the tutorials.
		NodeSelector: map[string]string{"kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""},
		Tolerations: []corev1.Toleration{
			{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists},
			{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule},
		},
		Containers: []corev1.Container{{
			Name: "coredns", Image: corednsImage, Args: []string{"-conf", "/etc/coredns/Corefile"},
			Ports: []corev1.ContainerPort{
				{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", ContainerPort: 9153, Protocol: corev1.ProtocolTCP},
			},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("170Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("70Mi")},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "config-volume", MountPath: "/etc/coredns", ReadOnly: true}},
		}},
		Volumes: []corev1.Volume{{Name: "config-volume", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "coredns"},
			Items:                []corev1.KeyToPath{{Key: "Corefile", Path: "Corefile"}},
		}}}},
	}
	if err := create("Deployment", ignoreResult(c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "coredns", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &one}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}, metav1.CreateOptions{FieldManager: "kubeadm"}))); err != nil {
		return err
	}
	if _, err := c.CoreV1().Services(ns).Get(ctx, "kube-dns", metav1.GetOptions{}); err == nil {
		return nil // kept, with its ClusterIP
	}
	return create("Service", ignoreResult(c.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns",
			Labels:      map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
			Annotations: map[string]string{"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: dnsIP.String(), Selector: labels,
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
				{Name: "metrics", Port: 9153, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9153)},
			},
		},
	}, metav1.CreateOptions{FieldManager: "kubeadm"})))
}

func ignoreResult[T any](_ T, err error) error { return err }

// registerCoreDNSImage makes the coredns image a built-in one served by the
// lab's DNS server: DNS on 53/UDP and 53/TCP, Prometheus metrics on 9153,
// CoreDNS's health (8080 /health) and readiness (8181 /ready) endpoints.
func registerCoreDNSImage(server *dns.Server) {
	images.Register([]string{"registry.k8s.io/coredns/coredns"},
		[]string{"registry.k8s.io/coredns/coredns", "k8s.gcr.io/coredns/coredns", "docker.io/coredns/coredns"},
		func(tag string, args []string) *images.Image {
			return &images.Image{
				Ports: []images.Port{{Port: 53, Protocol: "UDP"}, {Port: 53, Protocol: "TCP"}, {Port: 9153, Protocol: "TCP"},
					{Port: 8080, Protocol: "TCP"}, {Port: 8181, Protocol: "TCP"}},
				Serve: func(ctx context.Context, pod images.Pod, listeners map[int32]net.Listener) error {
					ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })
					for port, h := range map[int32]http.Handler{9153: server.MetricsHandler(), 8080: ok, 8181: ok} {
						if l := listeners[port]; l != nil {
							srv := &http.Server{Handler: h}
							go srv.Serve(l)
							go func() { <-ctx.Done(); srv.Close() }()
						}
					}
					if pod.Log != nil {
						fmt.Fprintf(pod.Log, ".:53\n[INFO] plugin/reload: Running configuration SHA512 = minilab\nCoreDNS-%s (minilab)\nlinux/amd64, %s\n", strings.TrimPrefix(tag, "v"), "go")
					}
					return server.Serve(ctx, pod.PacketConns[53], listeners[53])
				},
			}
		})
}
