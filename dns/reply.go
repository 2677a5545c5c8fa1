package dns

import (
	"math/rand/v2"

	"github.com/miekg/dns"
)

// replyRcode is a bare reply with only an rcode, what CoreDNS's server
// writes when no plugin answered (SERVFAIL, REFUSED, NOTIMP): no AA, no
// records.
func replyRcode(r *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	if r == nil {
		m.Response = true
		m.Rcode = rcode
		return m
	}
	m.SetRcode(r, rcode)
	return m
}

// negative is an authoritative NXDOMAIN, NODATA (NOERROR, no answer) or
// SERVFAIL with the zone's SOA in the authority section (§8.1, §8.2).
func (s *Server) negative(r *dns.Msg, rcode int, zone string) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	m.Authoritative = true
	m.Ns = []dns.RR{s.soa(zone)}
	return m
}

// finish does what CoreDNS does to every reply on its way out: the
// loadbalance plugin shuffles address records of successful answers, then
// the server's scrub writer mirrors the request's OPT and truncates the
// reply to what the client can take.
func (s *Server) finish(r, m *dns.Msg, c client) {
	if m.Rcode == dns.RcodeSuccess && !isTransfer(r) {
		m.Answer = roundRobin(m.Answer)
		m.Ns = roundRobin(m.Ns)
		m.Extra = roundRobin(m.Extra)
	}
	sizeAndDo(r, m)
	scrub(m, c)
}

func isTransfer(r *dns.Msg) bool {
	if r == nil || len(r.Question) == 0 {
		return false
	}
	t := r.Question[0].Qtype
	return t == dns.TypeAXFR || t == dns.TypeIXFR
}

// roundRobin is the loadbalance plugin's round_robin policy: CNAMEs stay
// first in their order, other records follow, then the A/AAAA records and
// then the MX records, each group in random order.
func roundRobin(in []dns.RR) []dns.RR {
	if len(in) < 2 {
		return in
	}
	out := make([]dns.RR, 0, len(in))
	var address, mx []dns.RR
	for _, rr := range in {
		if rr.Header().Rrtype == dns.TypeCNAME {
			out = append(out, rr)
		}
	}
	for _, rr := range in {
		switch rr.Header().Rrtype {
		case dns.TypeCNAME:
		case dns.TypeA, dns.TypeAAAA:
			address = append(address, rr)
		case dns.TypeMX:
			mx = append(mx, rr)
		default:
			out = append(out, rr)
		}
	}
	shuffle(address)
	shuffle(mx)
	out = append(out, address...)
	return append(out, mx...)
}

func shuffle(rrs []dns.RR) {
	rand.Shuffle(len(rrs), func(i, j int) { rrs[i], rrs[j] = rrs[j], rrs[i] })
}

// sizeAndDo gives the reply the request's EDNS0 view: an OPT record only
// when the request had one, with the client's buffer size and DO bit.
func sizeAndDo(r, m *dns.Msg) {
	if r == nil {
		return
	}
	o := r.IsEdns0()
	if o == nil {
		return
	}
	opt := m.IsEdns0()
	if opt == nil {
		opt = &dns.OPT{}
		m.Extra = append(m.Extra, opt)
	}
	// An OPT already in the reply (from an upstream) keeps its options and
	// DO bit; the extended rcode is filled in again when the reply is packed.
	opt.Hdr.Name = "."
	opt.Hdr.Rrtype = dns.TypeOPT
	opt.Hdr.Ttl &= 0xff00
	opt.SetUDPSize(o.UDPSize())
	if o.Do() {
		opt.SetDo()
	}
}

// scrub truncates the reply to the client's limit with miekg's Truncate
// (512 bytes on UDP without EDNS, the advertised buffer with it, 65535 on
// TCP; TC set when anything was dropped). Large UDP replies that fit are
// still compressed above 1480 (IPv4) / 1220 (IPv6) bytes to avoid IP
// fragmentation, as CoreDNS's request.Scrub does.
func scrub(m *dns.Msg, c client) {
	m.Truncate(c.size)
	if m.Compress || c.tcp {
		return
	}
	if l := m.Len(); (c.family == 1 && l > 1480) || (c.family == 2 && l > 1220) {
		m.Compress = true
	}
}
