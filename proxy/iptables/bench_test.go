package iptables

import (
	"fmt"
	"net/netip"
	"testing"
)

// clusterIPState is n ClusterIP services with two remote endpoints each, the
// shape of DESIGN.md's restore measurements.
func clusterIPState(n int) *State {
	st := newTestState()
	for i := 0; i < n; i++ {
		name := portName(fmt.Sprintf("ns%d", i%100), fmt.Sprintf("svc%d", i), "http")
		ip := netip.AddrFrom4([4]byte{172, 30, byte(i >> 8), byte(i)})
		st.Services[name] = &ServicePort{Name: name, ClusterIP: ip, Port: 80}
		st.Endpoints[name] = []Endpoint{
			{IP: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 8080, NodeName: "other", Ready: true, Serving: true},
			{IP: netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), Port: 8080, NodeName: "other", Ready: true, Serving: true},
		}
	}
	return st
}

func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("ClusterIP-services=%d", n), func(b *testing.B) {
			st := clusterIPState(n)
			b.ReportAllocs()
			var size int
			for b.Loop() {
				size = len(Build(st, nil).Payload)
			}
			b.ReportMetric(float64(size), "payload-bytes")
		})
	}
}

// TestClusterIPStateShape keeps the benchmark's fixture honest.
func TestClusterIPStateShape(t *testing.T) {
	r := Build(clusterIPState(1000), nil)
	checkRuleJumps(t, r.Payload)
	// Per service: KUBE-SERVICES, masquerade, 2 dispatch, 2×2 SEP = 8 rules;
	// plus 4 static rules and the KUBE-NODEPORTS jump.
	if want := 1000*8 + 5; r.NATRules != want {
		t.Errorf("NATRules = %d, want %d", r.NATRules, want)
	}
	if want := 5 + 1000*3; len(r.NATChains) != want {
		t.Errorf("%d nat chains, want %d", len(r.NATChains), want)
	}
}
