package main

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/minilab/minilab/proxy/iptables/tracer"
)

// Issue 6: LoadBalancer Services get an external IP from the pool and the
// appliance forwards to the nodes, as a cloud load balancer does.

func (l *netLab) applianceIP() string { return fmt.Sprintf("172.31.%d.254", l.third) }

// externalIP waits for the Service's EXTERNAL-IP.
func externalIP(t *testing.T, c kubernetes.Interface, name string, within time.Duration) string {
	t.Helper()
	var ip string
	waitFor(t, name+" to get an external IP", within, func() bool {
		svc, err := c.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && len(svc.Status.LoadBalancer.Ingress) > 0 {
			ip = svc.Status.LoadBalancer.Ingress[0].IP
		}
		return ip != ""
	})
	return ip
}

func TestLoadBalancerTutorial(t *testing.T) {
	l := newNetLab(t, "t6a", 55)
	l.up()
	c := l.client()
	ctx := context.Background()
	kubectls := kubectlsFor(t)
	k := kubectls[len(kubectls)-1]

	pods := deploy(t, c, "hello-world", "gcr.io/google-samples/hello-app:1.0", 2, nil)
	l.kubectl(k, "", "expose", "deployment", "hello-world", "--port=80", "--target-port=8080", "--type=LoadBalancer")
	lbIP := externalIP(t, c, "hello-world", time.Second)
	if lbIP != "172.31.55.200" {
		t.Fatalf("the first LoadBalancer got %s, want the pool's first address", lbIP)
	}
	out := l.kubectl(kubectls[0], "", "get", "svc", "hello-world")
	if !regexp.MustCompile(`(?m)^hello-world\s+LoadBalancer\s+10\.\S+\s+172\.31\.55\.200\s+80:3\d{4}/TCP\s+\d+s$`).MatchString(out) {
		t.Fatalf("get svc:\n%s", out)
	}
	desc := l.kubectl(k, "", "describe", "svc", "hello-world")
	for _, want := range []string{`LoadBalancer Ingress:\s+172\.31\.55\.200 \(VIP\)`, `Normal\s+EnsuringLoadBalancer\s+.*Ensuring load balancer`, `Normal\s+EnsuredLoadBalancer\s+.*Ensured load balancer`} {
		if !regexp.MustCompile(want).MatchString(desc) {
			t.Errorf("describe svc lacks %s:\n%s", want, desc)
		}
	}

	url := "http://" + lbIP
	l.curlUntil(t, url, "Hostname:")
	if names := l.curlNames(url, 20); len(names) != 2 {
		t.Fatalf("20 curls through the load balancer reached %v", names)
	}
	// From a pod: kube-proxy short-circuits the external IP.
	l.kubectl(k, "", "run", "client", "--image=curlimages/curl", "--restart=Never", "--", "sleep", "infinity")
	readyPods(t, c, "run=client", 1)
	fromPod := map[string]bool{}
	for i := 0; i < 20; i++ {
		o, _ := l.run("exec", "client", "--", "curl", "-s", "--max-time", "5", url)
		if m := regexp.MustCompile(`Hostname: (\S+)`).FindStringSubmatch(o); m != nil {
			fromPod[m[1]] = true
		}
	}
	if len(fromPod) != 2 {
		t.Fatalf("from a pod the load balancer IP reached %v", fromPod)
	}

	t.Run("the path, traced", func(t *testing.T) {
		// LB IP → nodeIP:nodePort on the appliance...
		svc, _ := c.CoreV1().Services("default").Get(ctx, "hello-world", metav1.GetOptions{})
		nodePort := svc.Spec.Ports[0].NodePort
		rs, err := tracer.Parse([]byte(l.inNode("lb", "iptables-save")))
		if err != nil {
			t.Fatal(err)
		}
		host := netip.MustParseAddr(l.hostIP())
		outcomes, err := rs.Trace(tracer.Node{IPs: []netip.Addr{netip.MustParseAddr(l.applianceIP()), netip.MustParseAddr(lbIP)}},
			tracer.Packet{Source: host, Destination: netip.MustParseAddr(lbIP), Protocol: "tcp", Port: 80, From: tracer.FromOutside})
		if err != nil {
			t.Fatal(err)
		}
		// Workers only: kubeadm excludes the control plane from load balancers.
		want := map[string]float64{fmt.Sprintf("%s:%d ACCEPT", l.nodeIP(1), nodePort): 0.5, fmt.Sprintf("%s:%d ACCEPT", l.nodeIP(2), nodePort): 0.5}
		got := endpointsOf(outcomes)
		for k, v := range want {
			if math.Abs(got[k]-v) > 1e-6 {
				t.Fatalf("appliance: traced %v, want %v\n%s", got, want, outcomes[0].Explain())
			}
		}
		// ... then nodeIP:nodePort → a pod, in the node.
		nodeOut := l.traceOn(t, "worker", 1, tracer.Packet{Source: host, Destination: netip.MustParseAddr(l.nodeIP(1)), Protocol: "tcp", Port: nodePort, From: tracer.FromOutside})
		podEndpoints := map[string]bool{}
		for _, o := range nodeOut {
			podEndpoints[strings.TrimSuffix(o.Endpoint, ":8080")] = true
		}
		for _, p := range pods {
			if !podEndpoints[p.Status.PodIP] {
				t.Fatalf("node trace %v does not reach pod %s", nodeOut, p.Status.PodIP)
			}
		}
		t.Logf("path: %s\n then: %s", outcomes[0].Explain(), nodeOut[0].Explain())
	})

	t.Run("externalTrafficPolicy Local keeps the client address", func(t *testing.T) {
		deploy(t, c, "whoami", "traefik/whoami", 1, func(s *corev1.PodSpec) {
			s.NodeSelector = map[string]string{"kubernetes.io/hostname": "t6a-worker2"}
		})
		createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "whoami"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
				Selector: map[string]string{"app": "whoami"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}}}})
		ip := externalIP(t, c, "whoami", 2*time.Second)
		l.curlUntil(t, "http://"+ip, "RemoteAddr: "+regexp.QuoteMeta(l.hostIP())+":")
		for i := 0; i < 20; i++ {
			o, err := l.inHost("curl", "-s", "--max-time", "3", "http://"+ip)
			if err != nil || !strings.Contains(o, "RemoteAddr: "+l.hostIP()+":") {
				t.Fatalf("request %d through the load balancer: %v\n%s", i, err, o)
			}
		}
	})

	t.Run("loadBalancerSourceRanges", func(t *testing.T) {
		// Only pods may come in: the host is outside the range.
		createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "guarded"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "hello-world"},
				LoadBalancerSourceRanges: []string{fmt.Sprintf("10.%d.0.0/16", 100+l.third)},
				Ports:                    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}})
		ip := externalIP(t, c, "guarded", 2*time.Second)
		var code string
		waitFor(t, "the pod to get through", 10*time.Second, func() bool {
			o, _ := l.run("exec", "client", "--", "curl", "-s", "--max-time", "2", "http://"+ip)
			return strings.Contains(o, "Hostname:")
		})
		o, err := l.inHost("curl", "-s", "--max-time", "2", "http://"+ip)
		if err == nil {
			t.Fatalf("the host got through a source range it is not in: %s %s", o, code)
		}
	})

	t.Run("down and up keep the external IPs", func(t *testing.T) {
		before := map[string]string{}
		for _, name := range []string{"hello-world", "whoami", "guarded"} {
			before[name] = externalIP(t, c, name, time.Second)
		}
		if out, code := l.run("down"); code != 0 {
			t.Fatal(out)
		}
		if left := l.leftovers(); len(left) > 0 {
			t.Fatalf("down left %v", left)
		}
		if _, err := l.inHost("curl", "-s", "--max-time", "1", "http://"+before["hello-world"]); err == nil {
			t.Fatal("the external IP still answers after down")
		}
		l.up()
		c = l.client()
		for name, ip := range before {
			if got := externalIP(t, c, name, 2*time.Second); got != ip {
				t.Fatalf("%s: external IP %s before down, %s after up", name, ip, got)
			}
		}
		l.curlUntil(t, "http://"+before["hello-world"], "Hostname:")
	})
}

func TestLoadBalancerPoolExhausted(t *testing.T) {
	l := newNetLab(t, "t6b", 45)
	l.up("--lb-pool", "172.31.45.200-172.31.45.201")
	c := l.client()
	ctx := context.Background()
	lb := func(name string) {
		createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80}}}})
	}
	lb("one")
	externalIP(t, c, "one", 2*time.Second)
	lb("two")
	externalIP(t, c, "two", 2*time.Second)
	lb("three")
	waitFor(t, "the pool-exhausted warning", 5*time.Second, func() bool {
		evs, _ := c.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=three"})
		for _, e := range evs.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == "SyncLoadBalancerFailed" && strings.Contains(e.Message, "no available IPs") {
				return true
			}
		}
		return false
	})
	if out := l.kubectlLatest(t, "get", "svc", "three"); !regexp.MustCompile(`three\s+LoadBalancer\s+\S+\s+<pending>`).MatchString(out) {
		t.Fatalf("the third service is not pending:\n%s", out)
	}
	freed := externalIP(t, c, "one", time.Second)
	if err := c.CoreV1().Services("default").Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := externalIP(t, c, "three", 5*time.Second); got != freed {
		t.Fatalf("the third service got %s, want the freed %s", got, freed)
	}
}
