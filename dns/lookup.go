package dns

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// target is one fact the index knows about a name, before it is shaped
// into records for the query type: an address (with the port it serves)
// or, for an ExternalName Service, the name it aliases.
type target struct {
	addr  netip.Addr // invalid for a CNAME target
	port  int32      // noPort when unknown
	owner string     // the name the address belongs to, without the zone: "web.shop.svc", "db-0.db.shop.svc"
	cname string     // ExternalName target (FQDN)
}

// Fixed values from CoreDNS's kubernetes plugin.
const (
	dnsSchemaVersion = "1.1.0" // dns-version.<zone> TXT (spec schema version)
	dnsVersionTTL    = 28800   // the TXT's TTL ignores the ttl option
	dnsVersionLabel  = "dns-version"
	defaultNSBase    = "ns.dns" // ns.dns.<zone>: the fallback nameserver name
	maxCNAMEChain    = 8        // CoreDNS stops chasing once 8 CNAMEs are in the answer
	kubeDNSNamespace = "kube-system"
	kubeDNSService   = "kube-dns"
)

// records is CoreDNS's Records: what the index holds for a parsed name.
// It answers (nil, nil) for names that exist but hold nothing (the apex,
// svc.<zone>, an existing namespace) and errNameError for names that do
// not exist.
func (s *Server) records(zm zoneMatch) ([]target, error) {
	r, err := parseRequest(zm.base)
	if err != nil {
		return nil, err
	}
	if r.podOrSvc == "" {
		return nil, nil
	}
	if zm.reverse {
		// svc/pod names only exist in the cluster zone.
		return nil, errNameError
	}
	if !s.ix.namespaceExists(r.namespace) {
		return nil, errNameError
	}
	if r.podOrSvc == labelPod {
		return s.findPod(r)
	}
	return s.findServices(r)
}

// services is CoreDNS's Services for query types other than TXT and NS:
// records, except that ns.dns.<zone> answers with the nameserver addresses.
func (s *Server) services(zm zoneMatch, qtype uint16) ([]target, error) {
	if zm.base == defaultNSBase {
		var out []target
		for _, ns := range s.nameservers(zm.spelled) {
			if (qtype == dns.TypeA && ns.ip.Is4()) || (qtype == dns.TypeAAAA && ns.ip.Is6()) {
				out = append(out, target{addr: ns.ip, port: noPort})
			}
		}
		return out, nil
	}
	return s.records(zm)
}

// findPod answers <ip-label>.<ns>.pod.<zone> in "pods insecure" mode: any
// IP-shaped label resolves to that IP, whether or not such a pod exists, as
// long as the namespace does (checked by records). Labels after the pod
// label (an "endpoint" or port/protocol) are ignored, as in CoreDNS.
func (s *Server) findPod(r request) ([]target, error) {
	if r.service == "" {
		return nil, nil // <ns>.pod.<zone>: NODATA
	}
	ip, ok := podIP(r.service)
	if !ok {
		return nil, errNameError
	}
	return []target{{addr: ip, port: 0, owner: r.service + "." + r.namespace + "." + labelPod}}, nil
}

// podIP reads a dashed pod label: exactly three dashes and no "--" means
// IPv4 (10-244-1-99), anything else is tried as IPv6 (fd00-10-244-1--63).
func podIP(label string) (netip.Addr, bool) {
	var s string
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		s = strings.ReplaceAll(label, "-", ".")
	} else {
		s = strings.ReplaceAll(label, "-", ":")
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// findServices is CoreDNS's findServices for one Service.
func (s *Server) findServices(r request) ([]target, error) {
	if r.service == "" {
		return nil, nil // <ns>.svc.<zone>: NODATA
	}
	svc := s.ix.service(r.namespace, r.service)
	if svc == nil {
		return nil, errNameError
	}
	if svc.kind == kindExternalName {
		// An ExternalName Service has no endpoints and no ports, and an
		// externalName that is an IP literal is not a CNAME target:
		// CoreDNS answers NXDOMAIN for both.
		if r.endpoint != "" || r.port != "" || r.protocol != "" || net.ParseIP(strings.TrimSuffix(svc.externalName, ".")) != nil {
			return nil, errNameError
		}
		return []target{{cname: dns.Fqdn(svc.externalName), port: noPort}}, nil
	}
	var out []target
	if svc.kind == kindHeadless || r.endpoint != "" {
		// Headless Services and endpoint names (under any Service) are
		// answered from the ready endpoints, one entry per address × port.
		for _, sl := range svc.slices {
			for _, a := range sl.addresses {
				if r.endpoint != "" && r.endpoint != a.label {
					continue
				}
				for _, p := range sl.ports {
					if matchPort(r, p) {
						out = append(out, target{addr: a.ip, port: p.port, owner: a.owner})
					}
				}
			}
		}
		if len(out) == 0 {
			return nil, errNameError
		}
		return out, nil
	}
	matched := false
	for _, p := range svc.ports {
		if !matchPort(r, p) {
			continue
		}
		matched = true
		for _, ip := range svc.clusterIPs {
			out = append(out, target{addr: ip, port: p.port, owner: svc.owner})
		}
	}
	if !matched {
		return nil, errNameError
	}
	return out, nil
}

// matchPort compares the _port._protocol labels (if any) with a port,
// case-insensitively.
func matchPort(r request, p portInfo) bool {
	return (r.port == "" || strings.EqualFold(r.port, p.name)) &&
		(r.protocol == "" || strings.EqualFold(r.protocol, p.protocol))
}

// --- one function per query type ----------------------------------------

// answer is what the zone handler produced for a query.
type answer struct {
	records   []dns.RR
	extra     []dns.RR
	truncated bool // an upstream reply for an ExternalName target was truncated
}

// addresses answers A and AAAA. ExternalName targets are chased: inside
// the cluster zone from the index, elsewhere through the upstreams. The
// CNAME is kept even when the upstream has nothing for the target.
func (s *Server) addresses(ctx context.Context, c client, zm zoneMatch, qname string, qtype uint16, chain int) (answer, error) {
	var a answer
	if zm.base == "" {
		return a, nil // the apex holds no addresses
	}
	targets, err := s.services(zm, qtype)
	if err != nil {
		return a, err
	}
	var seen []netip.Addr
	lq := lowerASCII(qname)
	for _, t := range targets {
		if t.cname != "" {
			next, ok := s.chase(ctx, c, lq, qname, t.cname, qtype, chain)
			if ok {
				a.records = append(a.records, next.records...)
				a.truncated = a.truncated || next.truncated
			}
			continue
		}
		if (qtype == dns.TypeA) != t.addr.Is4() || containsAddr(seen, t.addr) {
			continue
		}
		seen = append(seen, t.addr)
		a.records = append(a.records, s.addressRR(qname, t.addr))
	}
	return a, nil
}

// chase follows an ExternalName CNAME for an address query.
func (s *Server) chase(ctx context.Context, c client, lq, qname, targetName string, qtype uint16, chain int) (answer, bool) {
	lt := lowerASCII(targetName)
	if lt == lq || dns.IsSubDomain(lq, lt) {
		return answer{}, false // x CNAME x (or below x) would loop
	}
	if chain >= maxCNAMEChain {
		return answer{}, false
	}
	cname := &dns.CNAME{Hdr: s.header(qname, dns.TypeCNAME), Target: targetName}
	if zm, ok := matchZone(targetName, lt, s.zones[:1]); ok {
		next, err := s.addresses(ctx, c, zm, targetName, qtype, chain+1)
		if err != nil || len(next.records) == 0 {
			return answer{}, false
		}
		return answer{records: append([]dns.RR{cname}, next.records...), truncated: next.truncated}, true
	}
	out := answer{records: []dns.RR{cname}}
	if m := s.lookupUpstream(ctx, c, targetName, qtype); m != nil {
		out.records = append(out.records, m.Answer...)
		out.truncated = m.Truncated
	}
	return out, true
}

func containsAddr(list []netip.Addr, ip netip.Addr) bool {
	for _, x := range list {
		if x == ip {
			return true
		}
	}
	return false
}

// txt answers only dns-version.<zone>. Any other name that exists gets
// NODATA; a name with nothing in it gets NXDOMAIN (CoreDNS since #5737,
// which also makes the apex, svc.<zone> and namespace names NXDOMAIN for TXT).
func (s *Server) txt(zm zoneMatch, qname string) (answer, error) {
	if zm.base == dnsVersionLabel {
		h := s.header(qname, dns.TypeTXT)
		h.Ttl = dnsVersionTTL
		return answer{records: []dns.RR{&dns.TXT{Hdr: h, Txt: []string{dnsSchemaVersion}}}}, nil
	}
	if targets, _ := s.records(zm); len(targets) > 0 {
		return answer{}, nil
	}
	return answer{}, errNameError
}

// cname answers a CNAME query: only ExternalName Services have one.
func (s *Server) cname(zm zoneMatch, qname string) (answer, error) {
	targets, err := s.services(zm, dns.TypeCNAME)
	if err != nil || len(targets) == 0 || targets[0].cname == "" {
		return answer{}, err
	}
	return answer{records: []dns.RR{&dns.CNAME{Hdr: s.header(qname, dns.TypeCNAME), Target: targets[0].cname}}}, nil
}

// srv answers SRV with CoreDNS's numbers: priority 0, weight 100/N where N
// counts every matching (address × port) entry before duplicates are
// removed, and the targets' addresses in the additional section.
func (s *Server) srv(zm zoneMatch, qname string) (answer, error) {
	targets, err := s.services(zm, dns.TypeSRV)
	if err != nil {
		return answer{}, err
	}
	n := 0
	for _, t := range targets {
		if t.cname == "" {
			n++
		}
	}
	if n == 0 {
		return answer{}, nil
	}
	weight := uint16(100 / n)
	if weight == 0 {
		weight = 1
	}
	type srvKey struct {
		name string
		port int32
	}
	type addrKey struct {
		name string
		ip   netip.Addr
	}
	seenSRV := map[srvKey]bool{}
	seenAddr := map[addrKey]bool{}
	var a answer
	for _, t := range targets {
		if t.cname != "" || t.port == noPort {
			continue
		}
		name := t.owner + "." + zm.spelled
		if !seenSRV[srvKey{name, t.port}] {
			seenSRV[srvKey{name, t.port}] = true
			a.records = append(a.records, &dns.SRV{
				Hdr: s.header(qname, dns.TypeSRV), Priority: 0, Weight: weight, Port: uint16(t.port), Target: name,
			})
		}
		if !seenAddr[addrKey{name, t.addr}] {
			seenAddr[addrKey{name, t.addr}] = true
			a.extra = append(a.extra, s.addressRR(name, t.addr))
		}
	}
	return a, nil
}

// ptr answers reverse lookups: a ClusterIP first (the first Service wins),
// else one PTR per Service publishing the IP as a ready endpoint. PTR
// targets always use the configured cluster zone.
func (s *Server) ptr(zm zoneMatch, qname string) (answer, error) {
	if zm.reverse {
		if ip, ok := reverseIP(zm); ok {
			var a answer
			var seen []string
			for _, n := range s.ix.reverse(ip) {
				if containsString(seen, n) {
					continue
				}
				seen = append(seen, n)
				a.records = append(a.records, &dns.PTR{Hdr: s.header(qname, dns.TypePTR), Ptr: n + "." + s.zone})
			}
			if len(a.records) == 0 {
				return a, errNameError
			}
			return a, nil
		}
	}
	// Not an address: the name only decides between NODATA and NXDOMAIN.
	_, err := s.records(zm)
	return answer{}, err
}

func containsString(list []string, x string) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

// reverseIP reads d.c.b.a.in-addr.arpa. (exactly four octets) or the
// 32-nibble ip6.arpa. form.
func reverseIP(zm zoneMatch) (netip.Addr, bool) {
	if zm.base == "" {
		return netip.Addr{}, false
	}
	labels := strings.Split(zm.base, ".")
	if zm.zone == "in-addr.arpa." {
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		ip, err := netip.ParseAddr(labels[3] + "." + labels[2] + "." + labels[1] + "." + labels[0])
		return ip, err == nil
	}
	if len(labels) != 32 {
		return netip.Addr{}, false
	}
	var b [16]byte
	for i, l := range labels {
		if len(l) != 1 {
			return netip.Addr{}, false
		}
		v, ok := hexNibble(l[0])
		if !ok {
			return netip.Addr{}, false
		}
		// labels[0] is the lowest nibble of the last byte.
		pos := 31 - i
		if pos%2 == 0 {
			b[pos/2] |= v << 4
		} else {
			b[pos/2] |= v
		}
	}
	return netip.AddrFrom16(b).Unmap(), true
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// nameserver is one NS name with its glue address.
type nameserver struct {
	name string
	ip   netip.Addr
}

// nameservers is CoreDNS's nsAddrs: the cluster DNS Service
// (kube-system/kube-dns, with its primary ClusterIP as glue), or, when it
// does not exist, ns.dns.<zone> with the addresses this server listens on.
func (s *Server) nameservers(zone string) []nameserver {
	if svc := s.ix.service(kubeDNSNamespace, kubeDNSService); svc != nil && svc.kind == kindClusterIP && len(svc.clusterIPs) > 0 {
		return []nameserver{{name: kubeDNSService + "." + kubeDNSNamespace + "." + labelSvc + "." + zone, ip: svc.clusterIPs[0]}}
	}
	var out []nameserver
	if ips := s.localIPs.Load(); ips != nil {
		for _, ip := range *ips {
			out = append(out, nameserver{name: defaultNSBase + "." + zone, ip: ip})
		}
	}
	return out
}

// ns answers the NS query at a zone apex, with glue.
func (s *Server) ns(zm zoneMatch, qname string) answer {
	zone := zm.spelled
	if zm.reverse {
		zone = s.zone // the reverse zones are served by the same cluster DNS
	}
	var a answer
	var seen []string
	for _, ns := range s.nameservers(zone) {
		a.extra = append(a.extra, s.addressRR(ns.name, ns.ip))
		if containsString(seen, ns.name) {
			continue
		}
		seen = append(seen, ns.name)
		a.records = append(a.records, &dns.NS{Hdr: s.header(qname, dns.TypeNS), Ns: ns.name})
	}
	return a
}

// soa is the SOA CoreDNS puts in every negative answer (and answers at the
// apex): owner = the zone as the client spelled it, TTL = min(ttl, 300),
// serial = time of the last change, MINIMUM = ttl.
func (s *Server) soa(zone string) *dns.SOA {
	ttl := s.ttl
	if ttl > 300 {
		ttl = 300
	}
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      defaultNSBase + "." + zone,
		Mbox:    "hostmaster." + zone,
		Serial:  s.ix.serial(),
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  s.ttl,
	}
}

func (s *Server) header(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: s.ttl}
}

func (s *Server) addressRR(name string, ip netip.Addr) dns.RR {
	if ip.Is4() {
		b := ip.As4()
		return &dns.A{Hdr: s.header(name, dns.TypeA), A: net.IP(b[:])}
	}
	b := ip.As16()
	return &dns.AAAA{Hdr: s.header(name, dns.TypeAAAA), AAAA: net.IP(b[:])}
}
