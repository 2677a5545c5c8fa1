package dns

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// exchangeRaw sends raw bytes over UDP and returns the reply, or nil when
// none comes within the timeout.
func exchangeRaw(t *testing.T, addr string, pkt []byte, timeout time.Duration) *dns.Msg {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return nil
	}
	m := new(dns.Msg)
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatalf("unpacking the reply: %v", err)
	}
	return m
}

// The UDP readers treat odd datagrams the way miekg's server does.
func TestUDPMalformed(t *testing.T) {
	lab := newTestLab(t, Config{}, fixture()...)
	addr, _ := serveLocal(t, lab.server)
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	two := a("web.shop.svc.cluster.local.").msg()
	two.Question = append(two.Question, two.Question[0])
	two.Id = 7
	if m := exchangeRaw(t, addr, pack(two), time.Second); m == nil || m.Rcode != dns.RcodeFormatError || m.Id != 7 || len(m.Answer) != 0 {
		t.Errorf("two questions: %v, want FORMERR", m)
	}

	update := a("web.shop.svc.cluster.local.").msg()
	update.Opcode = dns.OpcodeUpdate
	if m := exchangeRaw(t, addr, pack(update), time.Second); m == nil || m.Rcode != dns.RcodeNotImplemented || m.Opcode != dns.OpcodeUpdate {
		t.Errorf("UPDATE: %v, want NOTIMP", m)
	}

	truncated := pack(a("web.shop.svc.cluster.local.").msg())
	if m := exchangeRaw(t, addr, truncated[:len(truncated)-3], time.Second); m == nil || m.Rcode != dns.RcodeFormatError {
		t.Errorf("cut-off question: %v, want FORMERR", m)
	}

	response := a("web.shop.svc.cluster.local.").msg()
	response.Response = true
	if m := exchangeRaw(t, addr, pack(response), 200*time.Millisecond); m != nil {
		t.Errorf("a response got a reply: %v", m)
	}
	if m := exchangeRaw(t, addr, []byte{1, 2, 3}, 200*time.Millisecond); m != nil {
		t.Errorf("a 3-byte datagram got a reply: %v", m)
	}
	// And the readers still answer afterwards.
	if m := exchangeRaw(t, addr, pack(a("web.shop.svc.cluster.local.").msg()), time.Second); m == nil || len(m.Answer) != 1 {
		t.Errorf("after the malformed ones: %v", m)
	}
}

// A reader waiting on a dead upstream hands its place over: in-cluster
// names keep being answered while every original reader is stuck.
func TestUDPSlowUpstreamDoesNotBlock(t *testing.T) {
	lab := newTestLab(t, Config{Upstreams: []string{blackhole(t)}, UpstreamTimeout: time.Second}, fixture()...)
	addr, _ := serveLocal(t, lab.server)
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ { // more than the readers there are
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
			m, _, err := c.Exchange(a("example.com.").msg(), addr)
			if err != nil || m.Rcode != dns.RcodeServerFailure {
				t.Errorf("forwarded query: %v %v, want SERVFAIL", m, err)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // let them reach the upstream
	c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	start := time.Now()
	m, _, err := c.Exchange(a("web.shop.svc.cluster.local.").msg(), addr)
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("in-cluster query while upstreams hang: %v %v", m, err)
	}
	if took := time.Since(start); took > 300*time.Millisecond {
		t.Errorf("in-cluster answer took %v", took)
	}
	wg.Wait()
}

// On a wildcard bind the reply leaves from the address the query went to
// (IP_PKTINFO): a connected client socket only accepts it from there.
func TestUDPWildcardBind(t *testing.T) {
	lab := newTestLab(t, Config{}, fixture()...)
	pc, err := net.ListenPacket("udp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lab.server.Serve(ctx, pc, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
	b, _ := a("web.shop.svc.cluster.local.").msg().Pack()
	var m *dns.Msg
	for i := 0; i < 20 && m == nil; i++ {
		m = exchangeRaw(t, addr, b, 100*time.Millisecond)
	}
	if m == nil || len(m.Answer) != 1 {
		t.Fatalf("no answer through the wildcard socket: %v", m)
	}
}
