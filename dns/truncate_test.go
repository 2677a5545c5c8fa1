package dns

import (
	"testing"

	"github.com/miekg/dns"
)

// §18: a headless service with 40 ready endpoints, measured against
// CoreDNS: 29 records and TC over plain UDP, everything with a 1232-byte
// EDNS buffer (compressed) and over TCP (uncompressed).
func TestTruncation(t *testing.T) {
	lab := newTestLab(t, Config{}, fixture()...)
	cases := []struct {
		name    string
		q       query
		answers int
		tc      bool
		bytes   int
	}{
		{"udp without EDNS", query{name: "big.shop.svc.cluster.local.", qtype: dns.TypeA}, 29, true, 508},
		{"udp with EDNS 1232", query{name: "big.shop.svc.cluster.local.", qtype: dns.TypeA, edns: 1232}, 40, false, 695},
		{"tcp", query{name: "big.shop.svc.cluster.local.", qtype: dns.TypeA, tcp: true}, 40, false, 1724},
		{"udp without EDNS, small answer", query{name: "db.shop.svc.cluster.local.", qtype: dns.TypeA}, 2, false, 125}, // fits, so sent uncompressed
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, size := ask(t, lab.server, tc.q)
			if len(m.Answer) != tc.answers || m.Truncated != tc.tc || size != tc.bytes {
				t.Errorf("got %d answers, tc=%v, %d bytes; want %d, tc=%v, %d bytes",
					len(m.Answer), m.Truncated, size, tc.answers, tc.tc, tc.bytes)
			}
			if m.Rcode != dns.RcodeSuccess || !m.Authoritative {
				t.Errorf("rcode %s aa=%v", dns.RcodeToString[m.Rcode], m.Authoritative)
			}
		})
	}
}
