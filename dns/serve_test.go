package dns

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// serveLocal runs Serve on fresh 127.0.0.1 sockets (UDP and TCP on one port).
func serveLocal(t testing.TB, s *Server) (addr string, stop func() error) {
	t.Helper()
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, ln) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			return context.DeadlineExceeded
		}
	}
	t.Cleanup(func() { _ = stop() })
	addr = pc.LocalAddr().String()
	c := &dns.Client{Net: "udp", Timeout: 100 * time.Millisecond}
	for i := 0; ; i++ {
		if _, _, err := c.Exchange(typ("cluster.local.", dns.TypeSOA).msg(), addr); err == nil {
			break
		} else if i == 50 {
			t.Fatalf("server on %s does not answer: %v", addr, err)
		}
	}
	return addr, stop
}

// Real sockets: UDP and TCP answer, UDP truncates and TCP does not, and
// Serve returns once its context ends.
func TestServeSockets(t *testing.T) {
	lab := newTestLab(t, Config{}, fixture()...)
	addr, stop := serveLocal(t, lab.server)
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: 2 * time.Second}
		m, _, err := c.Exchange(a("web.shop.svc.cluster.local.").msg(), addr)
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		if len(m.Answer) != 1 || !m.Authoritative {
			t.Errorf("%s: answer %v aa=%v", network, m.Answer, m.Authoritative)
		}
		m, _, err = c.Exchange(a("big.shop.svc.cluster.local.").msg(), addr)
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		if want := network == "udp"; m.Truncated != want {
			t.Errorf("%s: big answer tc=%v with %d records", network, m.Truncated, len(m.Answer))
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve returned %v after cancel", err)
	}
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	if _, _, err := c.Exchange(a("web.shop.svc.cluster.local.").msg(), addr); err == nil {
		t.Error("still answering after Serve returned")
	}
}

// Without a kube-system/kube-dns Service the apex NS falls back to
// ns.dns.<zone>, glued to the address the server listens on (§8.3).
func TestNSFallback(t *testing.T) {
	lab := newTestLab(t, Config{}, namespace("default"))
	serveLocal(t, lab.server)
	m, _ := ask(t, lab.server, typ("cluster.local.", dns.TypeNS))
	got := append(rrStrings(m.Answer), rrStrings(m.Extra)...)
	want := []string{"cluster.local. 30 IN NS ns.dns.cluster.local.", "ns.dns.cluster.local. 30 IN A 127.0.0.1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NS = %q, want %q", got, want)
	}
	m, _ = ask(t, lab.server, a("ns.dns.cluster.local."))
	if got := rrStrings(m.Answer); len(got) != 1 || got[0] != "ns.dns.cluster.local. 30 IN A 127.0.0.1" {
		t.Errorf("ns.dns A = %q", got)
	}
}

func TestMetricsHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	lab := newTestLab(t, Config{Metrics: reg}, fixture()...)
	ask(t, lab.server, a("web.shop.svc.cluster.local."))
	ask(t, lab.server, a("web.shop.svc.cluster.local."))
	ask(t, lab.server, query{name: "missing.shop.svc.cluster.local.", qtype: dns.TypeMX, tcp: true})

	srv := httptest.NewServer(lab.server.MetricsHandler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`coredns_dns_requests_total{family="1",proto="udp",server="dns://:53",type="A",zone="."} 2`,
		`coredns_dns_requests_total{family="1",proto="tcp",server="dns://:53",type="MX",zone="."} 1`,
		`coredns_dns_responses_total{plugin="kubernetes",rcode="NOERROR",server="dns://:53",zone="."} 2`,
		`coredns_dns_responses_total{plugin="kubernetes",rcode="NXDOMAIN",server="dns://:53",zone="."} 1`,
		`coredns_dns_request_duration_seconds_count{server="dns://:53",type="A",zone="."} 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 3 {
		t.Errorf("the extra registry holds %d metric families (%v), want 3", len(mfs), err)
	}
	if code, body := get("/health"); code != 200 || body != "OK" {
		t.Errorf("/health = %d %q", code, body)
	}
	if code, body := get("/ready"); code != 200 || body != "OK" {
		t.Errorf("/ready = %d %q", code, body)
	}
	notSynced := New(Config{}, informersNotStarted())
	rec := httptest.NewRecorder()
	notSynced.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
	if rec.Code != 503 {
		t.Errorf("/ready before sync = %d, want 503", rec.Code)
	}
}

func TestReadUpstreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	conf := "# generated\nsearch example.internal\nnameserver 127.0.0.53\n; comment\nnameserver 2001:db8::53\noptions edns0 trust-ad\nnameserver not-an-ip\nnameserver 192.0.2.1 # trailing\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadUpstreams(path)
	want := []string{"127.0.0.53:53", "[2001:db8::53]:53", "192.0.2.1:53"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ReadUpstreams = %q, %v; want %q", got, err, want)
	}
	if _, err := ReadUpstreams(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("no error for a missing file")
	}
}
