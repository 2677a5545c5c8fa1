package dns

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// eventually retries check until it holds: informer events arrive
// asynchronously, but no periodic rebuild is involved.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func rcodeOf(t *testing.T, s *Server, q query) int {
	m, _ := ask(t, s, q)
	return m.Rcode
}

// Changes reach the answers as soon as the informers deliver them.
func TestLiveUpdates(t *testing.T) {
	lab := newTestLab(t, Config{}, namespace("shop"))
	ctx := context.Background()
	cs := lab.client
	tcp := corev1.ProtocolTCP
	name := "api.shop.svc.cluster.local."
	if rcodeOf(t, lab.server, a(name)) != dns.RcodeNameError {
		t.Fatal("api exists before it was created")
	}
	// The serial is a unix time in seconds; wind it back so a change shows.
	lab.server.ix.modified.Store(1000)
	serial := lab.server.ix.serial()

	// A headless Service with one ready and one unready endpoint.
	if _, err := cs.CoreV1().Services("shop").Create(ctx, headlessService("shop", "api", port{"http", tcp, 80}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	es := slice("shop", "api", "api-1", discoveryv1.AddressTypeIPv4, []ep{{ip: "10.244.1.7", ready: "true"}, {ip: "10.244.1.8", ready: "false"}}, port{"http", tcp, 80})
	if _, err := cs.DiscoveryV1().EndpointSlices("shop").Create(ctx, es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the headless service to answer", func() bool {
		m, _ := ask(t, lab.server, a(name))
		return len(m.Answer) == 1
	})
	if lab.server.ix.serial() <= serial {
		t.Errorf("SOA serial %d did not move past %d", lab.server.ix.serial(), serial)
	}
	ptrQ := typ("7.1.244.10.in-addr.arpa.", dns.TypePTR)
	if m, _ := ask(t, lab.server, ptrQ); len(m.Answer) != 1 || m.Answer[0].(*dns.PTR).Ptr != "10-244-1-7.api.shop.svc.cluster.local." {
		t.Errorf("PTR = %v", m.Answer)
	}

	// The second pod turns ready.
	es.Endpoints[1].Conditions.Ready = ptr(true)
	if _, err := cs.DiscoveryV1().EndpointSlices("shop").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both endpoints", func() bool {
		m, _ := ask(t, lab.server, a(name))
		return len(m.Answer) == 2
	})

	// Every endpoint gone: a headless service with nothing ready is NXDOMAIN.
	if err := cs.DiscoveryV1().EndpointSlices("shop").Delete(ctx, "api-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "NXDOMAIN without endpoints", func() bool { return rcodeOf(t, lab.server, a(name)) == dns.RcodeNameError })
	eventually(t, "the PTR to go", func() bool { return rcodeOf(t, lab.server, ptrQ) == dns.RcodeNameError })

	// Turning it into a ClusterIP service answers the ClusterIP, endpoints or not.
	svc, err := cs.CoreV1().Services("shop").Get(ctx, "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.0.99", []string{"10.96.0.99"}
	if _, err := cs.CoreV1().Services("shop").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ClusterIP", func() bool {
		m, _ := ask(t, lab.server, a(name))
		return len(m.Answer) == 1 && m.Answer[0].(*dns.A).A.String() == "10.96.0.99"
	})
	eventually(t, "the ClusterIP PTR", func() bool {
		m, _ := ask(t, lab.server, typ("99.0.96.10.in-addr.arpa.", dns.TypePTR))
		return len(m.Answer) == 1
	})

	// Deleting the namespace hides everything in it.
	if err := cs.CoreV1().Namespaces().Delete(ctx, "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "NXDOMAIN without the namespace", func() bool { return rcodeOf(t, lab.server, a(name)) == dns.RcodeNameError })
	if rcodeOf(t, lab.server, a("shop.svc.cluster.local.")) != dns.RcodeNameError {
		t.Error("the deleted namespace still exists")
	}

	// The Service's deletion clears its reverse entry.
	if err := cs.CoreV1().Services("shop").Delete(ctx, "api", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ClusterIP PTR to go", func() bool {
		return rcodeOf(t, lab.server, typ("99.0.96.10.in-addr.arpa.", dns.TypePTR)) == dns.RcodeNameError
	})
}

func TestDashedIP(t *testing.T) {
	for in, want := range map[string]string{
		"10.244.1.31":       "10-244-1-31",
		"fd00:10:244:1::3d": "fd00-10-244-1--3d",
		"fd00::":            "fd00--0",
	} {
		es := slice("ns", "svc", "s", discoveryv1.AddressTypeIPv6, []ep{{ip: in}})
		if got := newSliceInfo(es).addresses[0].label; got != want {
			t.Errorf("label for %s = %q, want %q", in, got, want)
		}
	}
}
