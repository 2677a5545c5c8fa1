package dns

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testUpstream is a resolver started by the test on 127.0.0.1 (UDP and TCP
// on the same port); it records which transport each question came over.
type testUpstream struct {
	addr string
	mu   sync.Mutex
	seen map[string]string // question name → "udp"/"tcp"
}

func startUpstream(t *testing.T) *testUpstream {
	t.Helper()
	u := &testUpstream{seen: map[string]string{}}
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if i == 10 {
			t.Fatal(err)
		}
	}
	u.addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: u}, {Listener: ln, Handler: u}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

func (u *testUpstream) transport(name string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[name]
}

// ServeDNS answers like a recursive resolver: RA set, AA not, own TTLs.
func (u *testUpstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	q := r.Question[0]
	u.mu.Lock()
	u.seen[q.Name] = w.RemoteAddr().Network()
	u.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	rr := func(s string) dns.RR {
		x, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		return x
	}
	switch {
	case q.Name == "example.com." && q.Qtype == dns.TypeA:
		m.Answer = []dns.RR{rr("example.com. 123 IN A 93.184.216.34")}
	case q.Name == "foo.example.com." && q.Qtype == dns.TypeA:
		m.Answer = []dns.RR{rr("foo.example.com. 77 IN A 192.0.2.10")}
	case q.Name == "foo.example.com." && q.Qtype == dns.TypeAAAA:
		m.Answer = []dns.RR{rr("foo.example.com. 77 IN AAAA 2001:db8::10")}
	case q.Name == "99.99.99.10.in-addr.arpa." && q.Qtype == dns.TypePTR:
		m.Answer = []dns.RR{rr("99.99.99.10.in-addr.arpa. 600 IN PTR host.upstream.example.")}
	case q.Name == "big.example.com.":
		for i := 0; i < 100; i++ {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, byte(i))})
		}
	case strings.HasSuffix(q.Name, "example.com."):
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{rr("example.com. 900 IN SOA ns.example.com. admin.example.com. 1 2 3 4 900")}
	default:
		m.Rcode = dns.RcodeRefused
	}
	size := dns.MinMsgSize
	if w.RemoteAddr().Network() == "tcp" {
		size = dns.MaxMsgSize
	} else if o := r.IsEdns0(); o != nil {
		size = int(o.UDPSize())
	}
	m.Truncate(size)
	_ = w.WriteMsg(m)
}

// blackhole is a UDP socket that never answers.
func blackhole(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestForwardPassThrough(t *testing.T) {
	up := startUpstream(t)
	lab := newTestLab(t, Config{Upstreams: []string{up.addr}}, fixture()...)

	req := a("example.com.").msg()
	req.Id = 4242
	rec := &recorder{remote: &net.UDPAddr{IP: net.IPv4(10, 244, 1, 5), Port: 1}}
	lab.server.ServeDNS(rec, req)
	m := rec.msg
	if m.Id != 4242 || m.Rcode != dns.RcodeSuccess || !m.RecursionAvailable || m.Authoritative {
		t.Errorf("id=%d rcode=%s ra=%v aa=%v, want the upstream's reply unchanged", m.Id, dns.RcodeToString[m.Rcode], m.RecursionAvailable, m.Authoritative)
	}
	if got := rrStrings(m.Answer); len(got) != 1 || got[0] != "example.com. 123 IN A 93.184.216.34" {
		t.Errorf("answer = %q", got)
	}
	if up.transport("example.com.") != "udp" {
		t.Errorf("upstream asked over %q, want udp", up.transport("example.com."))
	}

	// The upstream's rcode and authority pass through too.
	m, _ = ask(t, lab.server, a("missing.example.com."))
	if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 || m.Ns[0].Header().Ttl != 900 {
		t.Errorf("NXDOMAIN from upstream: rcode %s ns %v", dns.RcodeToString[m.Rcode], m.Ns)
	}

	// TCP clients are forwarded over TCP.
	m, _ = ask(t, lab.server, query{name: "example.com.", qtype: dns.TypeA, tcp: true})
	if m.Rcode != dns.RcodeSuccess || up.transport("example.com.") != "tcp" {
		t.Errorf("over TCP: rcode %s, upstream saw %q", dns.RcodeToString[m.Rcode], up.transport("example.com."))
	}

	// A truncated upstream reply reaches the client with TC, which then retries over TCP.
	m, _ = ask(t, lab.server, a("big.example.com."))
	if !m.Truncated {
		t.Errorf("big answer over UDP: tc=%v with %d records", m.Truncated, len(m.Answer))
	}
	m, _ = ask(t, lab.server, query{name: "big.example.com.", qtype: dns.TypeA, tcp: true})
	if m.Truncated || len(m.Answer) != 100 {
		t.Errorf("big answer over TCP: tc=%v with %d records", m.Truncated, len(m.Answer))
	}
}

func TestForwardTimeout(t *testing.T) {
	lab := newTestLab(t, Config{Upstreams: []string{blackhole(t)}, UpstreamTimeout: 200 * time.Millisecond}, fixture()...)
	start := time.Now()
	m, _ := ask(t, lab.server, a("example.com."))
	took := time.Since(start)
	if m.Rcode != dns.RcodeServerFailure || m.Authoritative {
		t.Errorf("rcode %s aa=%v, want SERVFAIL from the server", dns.RcodeToString[m.Rcode], m.Authoritative)
	}
	if took < 200*time.Millisecond || took > 2*time.Second {
		t.Errorf("took %v, want about the 200ms timeout", took)
	}
	// A dead upstream is skipped when another one answers.
	up := startUpstream(t)
	lab = newTestLab(t, Config{Upstreams: []string{blackhole(t), up.addr}, UpstreamTimeout: 100 * time.Millisecond}, fixture()...)
	for i := 0; i < 4; i++ {
		if m, _ := ask(t, lab.server, a("example.com.")); m.Rcode != dns.RcodeSuccess {
			t.Fatalf("with one live upstream: %s", dns.RcodeToString[m.Rcode])
		}
	}
}

func TestExternalNameChase(t *testing.T) {
	up := startUpstream(t)
	lab := newTestLab(t, Config{Upstreams: []string{up.addr}}, fixture()...)
	cases := []struct {
		q      query
		answer []string
	}{
		{a("ext.shop.svc.cluster.local."), []string{"ext.shop.svc.cluster.local. 30 IN CNAME foo.example.com.", "foo.example.com. 77 IN A 192.0.2.10"}},
		{aaaa("ext.shop.svc.cluster.local."), []string{"ext.shop.svc.cluster.local. 30 IN CNAME foo.example.com.", "foo.example.com. 77 IN AAAA 2001:db8::10"}},
		// An NXDOMAIN for the target still gives NOERROR with the CNAME (§6).
		{a("extnx.shop.svc.cluster.local."), []string{"extnx.shop.svc.cluster.local. 30 IN CNAME nx.example.com."}},
		{typ("ext.shop.svc.cluster.local.", dns.TypeCNAME), []string{"ext.shop.svc.cluster.local. 30 IN CNAME foo.example.com."}},
	}
	for _, tc := range cases {
		m, _ := ask(t, lab.server, tc.q)
		if m.Rcode != dns.RcodeSuccess || !m.Authoritative || m.RecursionAvailable {
			t.Errorf("%s: rcode %s aa=%v ra=%v", tc.q.name, dns.RcodeToString[m.Rcode], m.Authoritative, m.RecursionAvailable)
		}
		if got := rrStrings(m.Answer); strings.Join(got, "|") != strings.Join(sorted(tc.answer), "|") {
			t.Errorf("%s %s: answer %q, want %q", tc.q.name, dns.TypeToString[tc.q.qtype], got, tc.answer)
		}
		if len(m.Answer) > 0 && m.Answer[0].Header().Rrtype != dns.TypeCNAME {
			t.Errorf("%s: CNAME not first", tc.q.name)
		}
	}
	// The upstream timing out leaves the CNAME alone, still NOERROR.
	lab = newTestLab(t, Config{Upstreams: []string{blackhole(t)}, UpstreamTimeout: 100 * time.Millisecond}, fixture()...)
	m, _ := ask(t, lab.server, a("ext.shop.svc.cluster.local."))
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Errorf("upstream down: rcode %s answer %v", dns.RcodeToString[m.Rcode], m.Answer)
	}
}

// kubeadm's "fallthrough in-addr.arpa ip6.arpa": reverse names the cluster
// does not know go upstream; known ones are answered authoritatively.
func TestReverseFallthrough(t *testing.T) {
	up := startUpstream(t)
	lab := newTestLab(t, Config{Upstreams: []string{up.addr}}, fixture()...)
	m, _ := ask(t, lab.server, typ("99.99.99.10.in-addr.arpa.", dns.TypePTR))
	if m.Authoritative || !m.RecursionAvailable || len(m.Answer) != 1 || m.Answer[0].(*dns.PTR).Ptr != "host.upstream.example." {
		t.Errorf("unknown PTR: aa=%v ra=%v answer %v, want the upstream's answer", m.Authoritative, m.RecursionAvailable, m.Answer)
	}
	m, _ = ask(t, lab.server, typ("50.0.96.10.in-addr.arpa.", dns.TypePTR))
	if !m.Authoritative || len(m.Answer) != 1 || m.Answer[0].(*dns.PTR).Ptr != "web.shop.svc.cluster.local." {
		t.Errorf("ClusterIP PTR: aa=%v answer %v", m.Authoritative, m.Answer)
	}
	// Names in the cluster zone never fall through.
	m, _ = ask(t, lab.server, a("missing.shop.svc.cluster.local."))
	if m.Rcode != dns.RcodeNameError || !m.Authoritative {
		t.Errorf("cluster NXDOMAIN: %s aa=%v", dns.RcodeToString[m.Rcode], m.Authoritative)
	}
}
