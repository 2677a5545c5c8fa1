package envvars

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func service(namespace, name, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: clusterIP, Ports: ports},
	}
}

func port(name string, number int32, protocol corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: number, Protocol: protocol}
}

func envStrings(env []corev1.EnvVar) []string {
	var out []string
	for _, e := range env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}

// What every pod of a kubeadm cluster sees for the API server.
var kubernetesVars = []string{
	"KUBERNETES_PORT=tcp://10.96.0.1:443",
	"KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
	"KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1",
	"KUBERNETES_PORT_443_TCP_PORT=443",
	"KUBERNETES_PORT_443_TCP_PROTO=tcp",
	"KUBERNETES_SERVICE_HOST=10.96.0.1",
	"KUBERNETES_SERVICE_PORT=443",
	"KUBERNETES_SERVICE_PORT_HTTPS=443",
}

var whoamiVars = []string{
	"WHOAMI_PORT=tcp://10.96.0.20:8080",
	"WHOAMI_PORT_8080_TCP=tcp://10.96.0.20:8080",
	"WHOAMI_PORT_8080_TCP_ADDR=10.96.0.20",
	"WHOAMI_PORT_8080_TCP_PORT=8080",
	"WHOAMI_PORT_8080_TCP_PROTO=tcp",
	"WHOAMI_SERVICE_HOST=10.96.0.20",
	"WHOAMI_SERVICE_PORT=8080",
	"WHOAMI_SERVICE_PORT_HTTP=8080",
}

func TestServiceEnv(t *testing.T) {
	kubernetes := service("default", "kubernetes", "10.96.0.1", port("https", 443, corev1.ProtocolTCP))
	whoami := service("demo", "whoami", "10.96.0.20", port("http", 8080, corev1.ProtocolTCP))
	tests := []struct {
		name      string
		services  []*corev1.Service
		links     bool
		namespace string
		want      []string
	}{{
		name:     "a service of the pod's namespace, and the API server's",
		services: []*corev1.Service{whoami, kubernetes}, links: true, namespace: "demo",
		want: append(append([]string{}, kubernetesVars...), whoamiVars...),
	}, {
		name:     "enableServiceLinks false leaves only the API server's",
		services: []*corev1.Service{whoami, kubernetes}, links: false, namespace: "demo",
		want: kubernetesVars,
	}, {
		name:     "services of other namespaces are not seen",
		services: []*corev1.Service{whoami, kubernetes, service("default", "web", "10.96.0.30", port("", 80, ""))}, links: true, namespace: "other",
		want: kubernetesVars,
	}, {
		name: "headless and ExternalName services have no variables",
		services: []*corev1.Service{
			service("demo", "db", corev1.ClusterIPNone, port("", 5432, corev1.ProtocolTCP)),
			{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
		},
		links: true, namespace: "demo",
		want: nil,
	}, {
		name: "several ports: the first gives _PORT, named ones _SERVICE_PORT_<NAME>, protocol defaults to TCP",
		services: []*corev1.Service{service("kube-system", "kube-dns", "10.96.0.10",
			port("dns", 53, corev1.ProtocolUDP), port("dns-tcp", 53, corev1.ProtocolTCP), port("metrics", 9153, ""))},
		links: true, namespace: "kube-system",
		want: []string{
			"KUBE_DNS_PORT=udp://10.96.0.10:53",
			"KUBE_DNS_PORT_53_TCP=tcp://10.96.0.10:53",
			"KUBE_DNS_PORT_53_TCP_ADDR=10.96.0.10",
			"KUBE_DNS_PORT_53_TCP_PORT=53",
			"KUBE_DNS_PORT_53_TCP_PROTO=tcp",
			"KUBE_DNS_PORT_53_UDP=udp://10.96.0.10:53",
			"KUBE_DNS_PORT_53_UDP_ADDR=10.96.0.10",
			"KUBE_DNS_PORT_53_UDP_PORT=53",
			"KUBE_DNS_PORT_53_UDP_PROTO=udp",
			"KUBE_DNS_PORT_9153_TCP=tcp://10.96.0.10:9153",
			"KUBE_DNS_PORT_9153_TCP_ADDR=10.96.0.10",
			"KUBE_DNS_PORT_9153_TCP_PORT=9153",
			"KUBE_DNS_PORT_9153_TCP_PROTO=tcp",
			"KUBE_DNS_SERVICE_HOST=10.96.0.10",
			"KUBE_DNS_SERVICE_PORT=53",
			"KUBE_DNS_SERVICE_PORT_DNS=53",
			"KUBE_DNS_SERVICE_PORT_DNS_TCP=53",
			"KUBE_DNS_SERVICE_PORT_METRICS=9153",
		},
	}, {
		name:     "an IPv6 cluster IP is bracketed in URLs",
		services: []*corev1.Service{service("demo", "web", "fd00:10:96::20", port("", 80, corev1.ProtocolTCP))}, links: true, namespace: "demo",
		want: []string{
			"WEB_PORT=tcp://[fd00:10:96::20]:80",
			"WEB_PORT_80_TCP=tcp://[fd00:10:96::20]:80",
			"WEB_PORT_80_TCP_ADDR=fd00:10:96::20",
			"WEB_PORT_80_TCP_PORT=80",
			"WEB_PORT_80_TCP_PROTO=tcp",
			"WEB_SERVICE_HOST=fd00:10:96::20",
			"WEB_SERVICE_PORT=80",
		},
	}, {
		name:     "a `kubernetes` service of the pod's namespace replaces the API server's",
		services: []*corev1.Service{service("demo", "kubernetes", "10.96.5.5", port("", 80, "")), kubernetes},
		links:    true, namespace: "demo",
		want: []string{
			"KUBERNETES_PORT=tcp://10.96.5.5:80",
			"KUBERNETES_PORT_80_TCP=tcp://10.96.5.5:80",
			"KUBERNETES_PORT_80_TCP_ADDR=10.96.5.5",
			"KUBERNETES_PORT_80_TCP_PORT=80",
			"KUBERNETES_PORT_80_TCP_PROTO=tcp",
			"KUBERNETES_SERVICE_HOST=10.96.5.5",
			"KUBERNETES_SERVICE_PORT=80",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := envStrings(ServiceEnv(tt.services, tt.links, tt.namespace))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
