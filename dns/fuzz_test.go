package dns

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// FuzzServeDNS feeds the handler whatever the bytes unpack into (a whole
// or partial message), and a message whose question name is the raw bytes:
// it must never panic and must always write exactly one reply.
func FuzzServeDNS(f *testing.F) {
	for _, q := range []query{
		a("web.shop.svc.cluster.local."),
		srv("_http._tcp.db.shop.svc.cluster.local."),
		typ("11.1.244.10.in-addr.arpa.", dns.TypePTR),
		{name: "big.shop.svc.cluster.local.", qtype: dns.TypeA, edns: 1232, do: true},
		aaaa("fd00-10-244-1--63.shop.pod.cluster.local."),
		typ("cluster.local.", dns.TypeAXFR),
		a("extin.shop.svc.cluster.local."),
		a("example.com."),
	} {
		b, err := q.msg().Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"))
	lab := newTestLab(f, Config{}, fixture()...)

	f.Fuzz(func(t *testing.T, data []byte) {
		parsed := new(dns.Msg)
		unpacked := parsed.Unpack(data) == nil
		garbage := &dns.Msg{Question: []dns.Question{{Name: string(data), Qtype: dns.TypeA, Qclass: dns.ClassINET}}}
		if len(data) >= 2 {
			garbage.Question[0].Qtype = uint16(data[0])<<8 | uint16(data[1])
		}
		for _, m := range []*dns.Msg{parsed, garbage} {
			for _, remote := range []net.Addr{&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1)}, &net.TCPAddr{IP: net.ParseIP("fd00::1")}} {
				rec := &recorder{remote: remote}
				lab.server.ServeDNS(rec, m)
				if rec.writes != 1 {
					t.Fatalf("%d replies to %v", rec.writes, m.Question)
				}
				if m == parsed && unpacked && (rec.msg == nil || !rec.msg.Response || rec.msg.Id != parsed.Id) {
					t.Fatalf("reply to a valid message is not a packable response with its id: %v", rec.msg)
				}
			}
		}
	})
}
