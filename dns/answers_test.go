package dns

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// SOA records as CoreDNS sends them with "ttl 30" (§8.2); SERIAL is
// replaced by the index's serial when comparing.
const (
	soaZone = "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. SERIAL 7200 1800 86400 30"
	soaV4   = "in-addr.arpa. 30 IN SOA ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. SERIAL 7200 1800 86400 30"
	soaV6   = "ip6.arpa. 30 IN SOA ns.dns.ip6.arpa. hostmaster.ip6.arpa. SERIAL 7200 1800 86400 30"
)

type answerCase struct {
	q      query
	rcode  int
	noAA   bool // replies CoreDNS's server writes itself (REFUSED, SERVFAIL) carry no AA
	answer []string
	ns     []string
	extra  []string
}

// nodata and nxdomain are the two negative answers of §8.1.
func nodata(q query) answerCase {
	return answerCase{q: q, rcode: dns.RcodeSuccess, ns: []string{soaZone}}
}
func nxdomain(q query) answerCase {
	return answerCase{q: q, rcode: dns.RcodeNameError, ns: []string{soaZone}}
}

func a(name string) query    { return query{name: name, qtype: dns.TypeA} }
func aaaa(name string) query { return query{name: name, qtype: dns.TypeAAAA} }
func srv(name string) query  { return query{name: name, qtype: dns.TypeSRV} }
func typ(name string, t uint16) query {
	return query{name: name, qtype: t}
}

var answerCases = []answerCase{
	// §3.1 ClusterIP services: A per ClusterIP, with or without endpoints.
	{q: a("web.shop.svc.cluster.local."), answer: []string{"web.shop.svc.cluster.local. 30 IN A 10.96.0.50"}},
	{q: a("kubernetes.default.svc.cluster.local."), answer: []string{"kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1"}},
	{q: a("svcempty.shop.svc.cluster.local."), answer: []string{"svcempty.shop.svc.cluster.local. 30 IN A 10.96.0.70"}},
	nodata(aaaa("web.shop.svc.cluster.local.")),
	{q: a("dual.shop.svc.cluster.local."), answer: []string{"dual.shop.svc.cluster.local. 30 IN A 10.96.0.60"}},
	{q: aaaa("dual.shop.svc.cluster.local."), answer: []string{"dual.shop.svc.cluster.local. 30 IN AAAA fd00:10:96::60"}},
	// §1: the owner name is echoed byte for byte (DNS 0x20).
	{q: a("WeB.sHoP.SVC.Cluster.LOCAL."), answer: []string{"WeB.sHoP.SVC.Cluster.LOCAL. 30 IN A 10.96.0.50"}},
	// §3.2 SRV on a ClusterIP service.
	{q: srv("_http._tcp.web.shop.svc.cluster.local."),
		answer: []string{"_http._tcp.web.shop.svc.cluster.local. 30 IN SRV 0 100 80 web.shop.svc.cluster.local."},
		extra:  []string{"web.shop.svc.cluster.local. 30 IN A 10.96.0.50"}},
	{q: srv("web.shop.svc.cluster.local."),
		answer: []string{"web.shop.svc.cluster.local. 30 IN SRV 0 50 443 web.shop.svc.cluster.local.", "web.shop.svc.cluster.local. 30 IN SRV 0 50 80 web.shop.svc.cluster.local."},
		extra:  []string{"web.shop.svc.cluster.local. 30 IN A 10.96.0.50"}},
	{q: srv("_Https._Tcp.Web.Shop.Svc.Cluster.Local."),
		answer: []string{"_Https._Tcp.Web.Shop.Svc.Cluster.Local. 30 IN SRV 0 100 443 web.shop.svc.Cluster.Local."},
		extra:  []string{"web.shop.svc.Cluster.Local. 30 IN A 10.96.0.50"}},
	{q: srv("http.tcp.web.shop.svc.cluster.local."), // the underscores are optional
		answer: []string{"http.tcp.web.shop.svc.cluster.local. 30 IN SRV 0 100 80 web.shop.svc.cluster.local."},
		extra:  []string{"web.shop.svc.cluster.local. 30 IN A 10.96.0.50"}},
	{q: srv("_http._tcp.dual.shop.svc.cluster.local."),
		answer: []string{"_http._tcp.dual.shop.svc.cluster.local. 30 IN SRV 0 50 80 dual.shop.svc.cluster.local."},
		extra:  []string{"dual.shop.svc.cluster.local. 30 IN A 10.96.0.60", "dual.shop.svc.cluster.local. 30 IN AAAA fd00:10:96::60"}},
	{q: srv("other.svc.cluster.local."), ns: []string{soaZone}},
	nxdomain(srv("_ftp._tcp.web.shop.svc.cluster.local.")),
	nxdomain(srv("_http._udp.web.shop.svc.cluster.local.")),
	nxdomain(srv("_tcp.web.shop.svc.cluster.local.")), // one extra label is an endpoint name
	{q: a("_http._tcp.web.shop.svc.cluster.local."), answer: []string{"_http._tcp.web.shop.svc.cluster.local. 30 IN A 10.96.0.50"}},

	// §4.1 headless: one record per ready endpoint, deduplicated.
	{q: a("db.shop.svc.cluster.local."), answer: []string{"db.shop.svc.cluster.local. 30 IN A 10.244.1.20", "db.shop.svc.cluster.local. 30 IN A 10.244.2.21"}},
	{q: a("dup.shop.svc.cluster.local."), answer: []string{"dup.shop.svc.cluster.local. 30 IN A 10.244.3.30", "dup.shop.svc.cluster.local. 30 IN A 10.244.3.31"}},
	nodata(aaaa("db.shop.svc.cluster.local.")),
	nxdomain(a("empty.shop.svc.cluster.local.")),
	nxdomain(typ("empty.shop.svc.cluster.local.", dns.TypeTXT)),
	nxdomain(srv("empty.shop.svc.cluster.local.")),
	{q: a("noports.shop.svc.cluster.local."), answer: []string{"noports.shop.svc.cluster.local. 30 IN A 10.244.1.40"}},
	nodata(srv("noports.shop.svc.cluster.local.")),
	{q: aaaa("v6h.shop.svc.cluster.local."), answer: []string{"v6h.shop.svc.cluster.local. 30 IN AAAA fd00:10:244:1::3d"}},
	nodata(a("v6h.shop.svc.cluster.local.")),
	// §4.2 per-endpoint names: hostname, else the dashed IP; only the chosen label.
	{q: a("db-0.db.shop.svc.cluster.local."), answer: []string{"db-0.db.shop.svc.cluster.local. 30 IN A 10.244.1.20"}},
	nxdomain(a("10-244-1-20.db.shop.svc.cluster.local.")),
	nxdomain(a("db-2.db.shop.svc.cluster.local.")), // not ready
	{q: aaaa("fd00-10-244-1--3d.v6h.shop.svc.cluster.local."), answer: []string{"fd00-10-244-1--3d.v6h.shop.svc.cluster.local. 30 IN AAAA fd00:10:244:1::3d"}},
	{q: a("10-244-1-11.web.shop.svc.cluster.local."), answer: []string{"10-244-1-11.web.shop.svc.cluster.local. 30 IN A 10.244.1.11"}},
	{q: a("10-244-2-12.web.shop.svc.cluster.local."), answer: []string{"10-244-2-12.web.shop.svc.cluster.local. 30 IN A 10.244.2.12"}}, // ready unset counts as ready
	nxdomain(a("10-244-1-13.web.shop.svc.cluster.local.")),                                                                             // ready=false
	nxdomain(a("x.y.z.web.shop.svc.cluster.local.")),
	// §4.3 SRV on headless services: slice ports, weight 100/N, addresses in additional.
	{q: srv("_mysql._tcp.db.shop.svc.cluster.local."),
		answer: []string{"_mysql._tcp.db.shop.svc.cluster.local. 30 IN SRV 0 50 3306 db-0.db.shop.svc.cluster.local.", "_mysql._tcp.db.shop.svc.cluster.local. 30 IN SRV 0 50 3306 db-1.db.shop.svc.cluster.local."},
		extra:  []string{"db-0.db.shop.svc.cluster.local. 30 IN A 10.244.1.20", "db-1.db.shop.svc.cluster.local. 30 IN A 10.244.2.21"}},
	{q: srv("db.shop.svc.cluster.local."),
		answer: []string{"db.shop.svc.cluster.local. 30 IN SRV 0 50 3306 db-0.db.shop.svc.cluster.local.", "db.shop.svc.cluster.local. 30 IN SRV 0 50 3306 db-1.db.shop.svc.cluster.local."},
		extra:  []string{"db-0.db.shop.svc.cluster.local. 30 IN A 10.244.1.20", "db-1.db.shop.svc.cluster.local. 30 IN A 10.244.2.21"}},
	{q: srv("db-0.db.shop.svc.cluster.local."),
		answer: []string{"db-0.db.shop.svc.cluster.local. 30 IN SRV 0 100 3306 db-0.db.shop.svc.cluster.local."},
		extra:  []string{"db-0.db.shop.svc.cluster.local. 30 IN A 10.244.1.20"}},
	{q: srv("_http._tcp.dup.shop.svc.cluster.local."), // three entries before dedup → 33
		answer: []string{"_http._tcp.dup.shop.svc.cluster.local. 30 IN SRV 0 33 80 10-244-3-30.dup.shop.svc.cluster.local.", "_http._tcp.dup.shop.svc.cluster.local. 30 IN SRV 0 33 80 10-244-3-31.dup.shop.svc.cluster.local."},
		extra:  []string{"10-244-3-30.dup.shop.svc.cluster.local. 30 IN A 10.244.3.30", "10-244-3-31.dup.shop.svc.cluster.local. 30 IN A 10.244.3.31"}},

	// §6 ExternalName.
	{q: typ("ext.shop.svc.cluster.local.", dns.TypeCNAME), answer: []string{"ext.shop.svc.cluster.local. 30 IN CNAME foo.example.com."}},
	{q: a("ext.shop.svc.cluster.local."), answer: []string{"ext.shop.svc.cluster.local. 30 IN CNAME foo.example.com."}}, // no upstream: the CNAME alone
	{q: a("extin.shop.svc.cluster.local."), answer: []string{"extin.shop.svc.cluster.local. 30 IN CNAME web.shop.svc.cluster.local.", "web.shop.svc.cluster.local. 30 IN A 10.96.0.50"}},
	nodata(typ("ext.shop.svc.cluster.local.", dns.TypeTXT)),
	nodata(srv("ext.shop.svc.cluster.local.")),
	nxdomain(srv("_http._tcp.ext.shop.svc.cluster.local.")),
	nxdomain(a("x.ext.shop.svc.cluster.local.")),
	nxdomain(a("extip.shop.svc.cluster.local.")),
	nxdomain(typ("extip.shop.svc.cluster.local.", dns.TypeCNAME)),

	// §7.1 pods insecure.
	{q: a("10-244-1-99.shop.pod.cluster.local."), answer: []string{"10-244-1-99.shop.pod.cluster.local. 30 IN A 10.244.1.99"}},
	{q: aaaa("fd00-10-244-1--63.shop.pod.cluster.local."), answer: []string{"fd00-10-244-1--63.shop.pod.cluster.local. 30 IN AAAA fd00:10:244:1::63"}},
	nodata(aaaa("10-244-1-99.shop.pod.cluster.local.")),
	nodata(a("shop.pod.cluster.local.")),
	nodata(a("pod.cluster.local.")),
	nxdomain(a("10-244-1-99.nope.pod.cluster.local.")),
	nxdomain(a("not-an-ip.shop.pod.cluster.local.")),
	nxdomain(a("nope.pod.cluster.local.")),

	// §8.1 / §11 the namespace and zone levels.
	nodata(a("svc.cluster.local.")),
	nodata(a("shop.svc.cluster.local.")),
	nxdomain(a("nope.svc.cluster.local.")),
	nxdomain(a("web.nope.svc.cluster.local.")),
	nxdomain(a("missing.shop.svc.cluster.local.")),
	nxdomain(a("foo.cluster.local.")),
	nxdomain(a("*.shop.svc.cluster.local.")), // §10: no wildcards
	nxdomain(a("web.*.svc.cluster.local.")),
	nxdomain(srv("_http.*.web.shop.svc.cluster.local.")),
	// §12 other types on existing / missing names.
	nodata(typ("web.shop.svc.cluster.local.", dns.TypeCNAME)),
	nodata(typ("web.shop.svc.cluster.local.", dns.TypeTXT)),
	nodata(typ("web.shop.svc.cluster.local.", dns.TypeMX)),
	nodata(typ("web.shop.svc.cluster.local.", dns.TypePTR)),
	nodata(typ("web.shop.svc.cluster.local.", dns.TypeNS)),
	nodata(typ("web.shop.svc.cluster.local.", dns.TypeANY)),
	nodata(typ("web.shop.svc.cluster.local.", dns.TypeHTTPS)),
	nodata(typ("db.shop.svc.cluster.local.", dns.TypeTXT)),
	nxdomain(typ("missing.shop.svc.cluster.local.", dns.TypeMX)),
	nxdomain(typ("missing.shop.svc.cluster.local.", dns.TypeTXT)),
	nxdomain(typ("missing.shop.svc.cluster.local.", dns.TypeNS)),
	// TXT only answers dns-version; names holding nothing are NXDOMAIN for TXT (CoreDNS #5737).
	nxdomain(typ("shop.svc.cluster.local.", dns.TypeTXT)),
	nodata(typ("svc.cluster.local.", dns.TypeNS)),
	nodata(typ("shop.svc.cluster.local.", dns.TypeNS)),
	// §8.1: SOA below the apex is NODATA, even for a name that does not exist.
	nodata(typ("web.shop.svc.cluster.local.", dns.TypeSOA)),
	nodata(typ("missing.shop.svc.cluster.local.", dns.TypeSOA)),

	// §2 dns-version.
	{q: typ("dns-version.cluster.local.", dns.TypeTXT), answer: []string{`dns-version.cluster.local. 28800 IN TXT "1.1.0"`}},
	nxdomain(a("dns-version.cluster.local.")),

	// §8.3 apex.
	{q: typ("cluster.local.", dns.TypeSOA), answer: []string{soaZone}},
	{q: typ("Cluster.Local.", dns.TypeSOA), answer: []string{"Cluster.Local. 30 IN SOA ns.dns.Cluster.Local. hostmaster.Cluster.Local. SERIAL 7200 1800 86400 30"}},
	{q: typ("cluster.local.", dns.TypeNS),
		answer: []string{"cluster.local. 30 IN NS kube-dns.kube-system.svc.cluster.local."},
		extra:  []string{"kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10"}},
	nodata(a("cluster.local.")),
	nodata(srv("cluster.local.")),
	{q: a("ns.dns.cluster.local."), answer: []string{"ns.dns.cluster.local. 30 IN A 10.96.0.10"}},
	{q: a("NOPE.Cluster.Local."), rcode: dns.RcodeNameError, ns: []string{"Cluster.Local. 30 IN SOA ns.dns.Cluster.Local. hostmaster.Cluster.Local. SERIAL 7200 1800 86400 30"}},

	// §3.3 / §4.4 / §13 reverse zones (no upstream: NXDOMAIN with the reverse SOA).
	{q: typ("50.0.96.10.in-addr.arpa.", dns.TypePTR), answer: []string{"50.0.96.10.in-addr.arpa. 30 IN PTR web.shop.svc.cluster.local."}},
	{q: typ("20.1.244.10.in-addr.arpa.", dns.TypePTR), answer: []string{"20.1.244.10.in-addr.arpa. 30 IN PTR db-0.db.shop.svc.cluster.local."}},
	{q: typ("11.1.244.10.in-addr.arpa.", dns.TypePTR), answer: []string{ // one PTR per service selecting the pod
		"11.1.244.10.in-addr.arpa. 30 IN PTR 10-244-1-11.web.other.svc.cluster.local.",
		"11.1.244.10.in-addr.arpa. 30 IN PTR 10-244-1-11.web.shop.svc.cluster.local."}},
	{q: typ("30.3.244.10.in-addr.arpa.", dns.TypePTR), answer: []string{"30.3.244.10.in-addr.arpa. 30 IN PTR 10-244-3-30.dup.shop.svc.cluster.local."}},
	{q: typ("0.6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR),
		answer: []string{"0.6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 30 IN PTR dual.shop.svc.cluster.local."}},
	{q: typ("13.1.244.10.in-addr.arpa.", dns.TypePTR), rcode: dns.RcodeNameError, ns: []string{soaV4}}, // not ready
	{q: typ("99.1.244.10.in-addr.arpa.", dns.TypePTR), rcode: dns.RcodeNameError, ns: []string{soaV4}}, // a pod no service selects
	{q: typ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.ip6.arpa.", dns.TypePTR), rcode: dns.RcodeNameError, ns: []string{soaV6}},
	{q: a("50.0.96.10.in-addr.arpa."), rcode: dns.RcodeNameError, ns: []string{soaV4}},
	{q: typ("in-addr.arpa.", dns.TypeSOA), answer: []string{soaV4}},

	// §16 zone transfers need the transfer plugin.
	{q: typ("cluster.local.", dns.TypeAXFR), rcode: dns.RcodeRefused, noAA: true},
	{q: typ("cluster.local.", dns.TypeIXFR), rcode: dns.RcodeRefused, noAA: true},
	// §15 outside the zones with no upstream configured.
	{q: a("example.com."), rcode: dns.RcodeServerFailure, noAA: true},
}

func TestAnswers(t *testing.T) {
	lab := newTestLab(t, Config{}, fixture()...)
	serial := fmt.Sprint(lab.server.ix.serial())
	withSerial := func(in []string) []string {
		var out []string
		for _, s := range in {
			out = append(out, strings.Replace(s, "SERIAL", serial, 1))
		}
		return sorted(out)
	}
	for _, tc := range answerCases {
		t.Run(tc.q.name+"/"+dns.TypeToString[tc.q.qtype], func(t *testing.T) {
			m, _ := ask(t, lab.server, tc.q)
			if m.Rcode != tc.rcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode])
			}
			if m.Authoritative == tc.noAA || m.RecursionAvailable || m.Truncated || !m.Response {
				t.Errorf("flags aa=%v ra=%v tc=%v qr=%v, want aa=%v ra=false tc=false qr=true",
					m.Authoritative, m.RecursionAvailable, m.Truncated, m.Response, !tc.noAA)
			}
			if len(m.Question) != 1 || m.Question[0].Name != tc.q.name {
				t.Errorf("question = %v, want the query echoed", m.Question)
			}
			for _, sec := range []struct {
				name      string
				got, want []string
			}{
				{"answer", rrStrings(m.Answer), withSerial(tc.answer)},
				{"authority", rrStrings(m.Ns), withSerial(tc.ns)},
				{"additional", rrStrings(m.Extra), withSerial(tc.extra)},
			} {
				if !reflect.DeepEqual(sec.got, sec.want) {
					t.Errorf("%s:\n got  %q\n want %q", sec.name, sec.got, sec.want)
				}
			}
		})
	}
}

// A CNAME chain stays in front of the addresses it leads to, whatever the
// loadbalance shuffle does (§17).
func TestCNAMEFirst(t *testing.T) {
	lab := newTestLab(t, Config{}, fixture()...)
	for i := 0; i < 20; i++ {
		m, _ := ask(t, lab.server, a("extin.shop.svc.cluster.local."))
		if len(m.Answer) != 2 || m.Answer[0].Header().Rrtype != dns.TypeCNAME {
			t.Fatalf("answer = %v, want the CNAME first", m.Answer)
		}
	}
}

// loadbalance shuffles A records: over many queries each address shows up first.
func TestLoadbalanceShuffles(t *testing.T) {
	lab := newTestLab(t, Config{}, fixture()...)
	first := map[string]int{}
	for i := 0; i < 200; i++ {
		m, _ := ask(t, lab.server, a("big.shop.svc.cluster.local."))
		if len(m.Answer) != 28 && len(m.Answer) != 29 {
			t.Fatalf("got %d answers", len(m.Answer))
		}
		first[m.Answer[0].(*dns.A).A.String()]++
	}
	if len(first) < 20 {
		t.Errorf("only %d distinct first addresses in 200 replies: not shuffled", len(first))
	}
}

// The reply's OPT mirrors the request's: only present when asked, with
// the client's buffer size and DO bit (§18).
func TestEDNSMirrored(t *testing.T) {
	lab := newTestLab(t, Config{}, fixture()...)
	m, _ := ask(t, lab.server, query{name: "web.shop.svc.cluster.local.", qtype: dns.TypeA, edns: 1232, do: true})
	opt := m.IsEdns0()
	if opt == nil || opt.UDPSize() != 1232 || !opt.Do() || opt.Version() != 0 {
		t.Errorf("OPT = %v, want size 1232 with DO", opt)
	}
	m, _ = ask(t, lab.server, a("web.shop.svc.cluster.local."))
	if m.IsEdns0() != nil {
		t.Errorf("reply has an OPT though the request had none")
	}
	// EDNS versions other than 0 get BADVERS.
	req := a("web.shop.svc.cluster.local.").msg()
	req.SetEdns0(1232, false)
	req.IsEdns0().SetVersion(1)
	rec := &recorder{}
	lab.server.ServeDNS(rec, req)
	if rec.msg.Rcode != dns.RcodeBadVers || len(rec.msg.Answer) != 0 {
		t.Errorf("EDNS version 1: rcode %s, want BADVERS", dns.RcodeToString[rec.msg.Rcode])
	}
}

// Before the informers have synced, would-be NXDOMAINs are SERVFAIL (§8.1).
func TestServfailBeforeSync(t *testing.T) {
	s := New(Config{}, informersNotStarted())
	if s.HasSynced() {
		t.Fatal("HasSynced before the factory started")
	}
	m, _ := ask(t, s, a("web.shop.svc.cluster.local."))
	if m.Rcode != dns.RcodeServerFailure || !m.Authoritative || len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("got %s aa=%v ns=%v, want SERVFAIL with the SOA", dns.RcodeToString[m.Rcode], m.Authoritative, m.Ns)
	}
	m, _ = ask(t, s, typ("cluster.local.", dns.TypeSOA))
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Errorf("apex SOA before sync: %s %v", dns.RcodeToString[m.Rcode], m.Answer)
	}
}

func informersNotStarted() informers.SharedInformerFactory {
	return informers.NewSharedInformerFactory(fake.NewClientset(), 0)
}
