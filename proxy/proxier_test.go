package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/minilab/minilab/proxy/iptables"
)

// fakeWriter records restores and answers iptables-save with the chains
// written so far, like a kernel would.
type fakeWriter struct {
	mu       sync.Mutex
	payloads []string
	chains   map[string]bool
	flushed  bool
}

func (f *fakeWriter) Restore(p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.payloads = append(f.payloads, string(p))
	if f.chains == nil {
		f.chains = map[string]bool{}
	}
	if strings.Contains(string(p), ":KUBE-PROXY-CANARY") && strings.Contains(string(p), "*mangle") {
		f.flushed = false
	}
	table := ""
	for _, line := range strings.Split(string(p), "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, ":") && table == "nat":
			f.chains[strings.Fields(line[1:])[0]] = true
		case strings.HasPrefix(line, "-X ") && table == "nat":
			delete(f.chains, strings.TrimSpace(line[3:]))
		}
	}
	return nil
}

func (f *fakeWriter) Save(table string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	b.WriteString("*nat\n")
	for c := range f.chains {
		b.WriteString(":" + c + " - [0:0]\n")
	}
	b.WriteString("COMMIT\n")
	return []byte(b.String()), nil
}

// Run answers the canary checks: the canary is there until flush.
func (f *fakeWriter) Run(args ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.flushed {
		return fmt.Errorf("iptables %v: No chain/target/match by that name", args)
	}
	return nil
}

func (f *fakeWriter) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.payloads) - 1; i >= 0; i-- {
		if strings.Contains(f.payloads[i], "*filter") {
			return f.payloads[i]
		}
	}
	return ""
}

func service(name, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: clusterIP, Type: corev1.ServiceTypeClusterIP, Ports: ports}}
}

func slice(svc, name string, port int32, portName string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
}

func endpoint(ip, node string, ready bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip}, NodeName: ptr.To(node), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}
}

func TestBuildStateMapsServicesToPorts(t *testing.T) {
	node := NodeInfo{Name: "w1", IPs: []netip.Addr{netip.MustParseAddr("172.30.0.3")}, ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}
	web := service("web", "10.96.0.20", corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")})
	web.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	headless := service("db", "None", corev1.ServicePort{Port: 5432, Protocol: corev1.ProtocolTCP})
	st := BuildState(node, []*corev1.Service{web, headless}, []*discoveryv1.EndpointSlice{
		slice("web", "web-b", 8080, "http", endpoint("10.244.2.9", "w2", true), endpoint("10.244.1.7", "w1", false)),
		slice("web", "web-a", 8080, "http", endpoint("10.244.1.5", "w1", true)),
		slice("web", "web-other-port", 9090, "metrics", endpoint("10.244.1.5", "w1", true)),
	})
	name := iptables.ServicePortName{Namespace: "default", Name: "web", Port: "http", Protocol: corev1.ProtocolTCP}
	sp := st.Services[name]
	if len(st.Services) != 1 || sp == nil || sp.ClusterIP.String() != "10.96.0.20" || sp.ClientIPAffinitySeconds != 10800 {
		t.Fatalf("services: %+v", st.Services)
	}
	eps := st.Endpoints[name]
	var got []string
	for _, e := range eps {
		got = append(got, e.String())
	}
	if strings.Join(got, ",") != "10.244.1.5:8080,10.244.1.7:8080,10.244.2.9:8080" || eps[1].Ready || !eps[0].Ready || eps[2].NodeName != "w2" {
		t.Fatalf("endpoints (sorted by IP, only the matching port): %+v", eps)
	}
}

func TestProxierSyncsOnChangesAndRemovesStaleChains(t *testing.T) {
	client := fake.NewSimpleClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	writer := &fakeWriter{}
	node := NodeInfo{Name: "w1", IPs: []netip.Addr{netip.MustParseAddr("172.30.0.3")}, ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}
	p := NewProxier(node, writer, factory, nil, nil)
	p.SyncPeriod = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go p.Run(ctx)

	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %s", what)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitUntil("first sync", func() bool { return p.Syncs() > 0 })
	// The first sync also installs the jumps and canaries.
	if len(writer.payloads) < 2 || !strings.Contains(writer.payloads[1], "-I PREROUTING 1 -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES") ||
		!strings.Contains(writer.payloads[1], "*mangle\n:KUBE-PROXY-CANARY") {
		t.Fatalf("first sync did not install the jump rules: %q", writer.payloads)
	}

	svc := service("web", "10.96.0.20", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)})
	client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	client.DiscoveryV1().EndpointSlices("default").Create(ctx, slice("web", "web-1", 8080, "", endpoint("10.244.1.5", "w1", true)), metav1.CreateOptions{})
	svcChain := iptables.ServiceChainName("KUBE-SVC-", iptables.ServicePortName{Namespace: "default", Name: "web", Protocol: corev1.ProtocolTCP})
	waitUntil("the service's rules", func() bool { return strings.Contains(writer.last(), ":"+svcChain) })
	if n := strings.Count(strings.Join(writer.payloads, ""), "-I PREROUTING"); n != 1 {
		t.Fatalf("jump rules written %d times; once is enough", n)
	}

	// A change to one Service is a partial sync: the other Service's
	// chains are not rewritten.
	client.CoreV1().Services("default").Create(ctx, service("other", "10.96.0.21", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}), metav1.CreateOptions{})
	client.DiscoveryV1().EndpointSlices("default").Create(ctx, slice("other", "other-1", 8080, "", endpoint("10.244.1.6", "w1", true)), metav1.CreateOptions{})
	otherChain := iptables.ServiceChainName("KUBE-SVC-", iptables.ServicePortName{Namespace: "default", Name: "other", Protocol: corev1.ProtocolTCP})
	waitUntil("the other service's rules", func() bool { return strings.Contains(writer.last(), ":"+otherChain) })
	if strings.Contains(writer.last(), ":"+svcChain) {
		t.Fatalf("a partial sync rewrote an unchanged service's chain:\n%s", writer.last())
	}
	if !strings.Contains(writer.last(), "-j "+svcChain) {
		t.Fatal("the partial sync dropped the unchanged service's KUBE-SERVICES rule")
	}

	client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{})
	waitUntil("the service's chains deleted", func() bool { return strings.Contains(writer.last(), "-X "+svcChain) })
	if writer.chains[svcChain] {
		t.Fatal("the deleted service's chain is still there")
	}

	// A flush (the canary gone) brings a full sync.
	full := p.FullSyncs()
	writer.mu.Lock()
	writer.flushed = true
	writer.mu.Unlock()
	waitUntil("a full sync after the flush", func() bool { return p.FullSyncs() > full })
}
