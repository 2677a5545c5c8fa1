package images

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

const agnhostRef = "registry.k8s.io/e2e-test-images/agnhost:2.47"

func TestNetexec(t *testing.T) {
	fixClock(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	pod := testPod
	var d net.Dialer
	pod.Dial = d.DialContext
	s := serve(t, agnhostRef, []string{"netexec", "--http-port=8080", "--udp-port=8081"}, pod)
	addr := s.addr[8080]

	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/hostname", 200, "web-5d8f7c9b4-x2x7q"},
		{"/hostName", 200, "web-5d8f7c9b4-x2x7q"},
		{"/", 200, "NOW: 2024-01-01 00:00:00 +0000 UTC"},
		{"/anything", 200, "NOW: 2024-01-01 00:00:00 +0000 UTC"},
		{"/echo?msg=hello", 200, "hello"},
		{"/echo?msg=teapot&code=418", 418, "teapot"},
		{"/echo?code=x", 200, "argument 'code' must be an integer or empty, got \"x\"\n"},
		{"/healthz", 200, ""},
		{"/shell?cmd=id", 403, "minilab's built-in agnhost does not run shell commands\n"},
		{"/dial?request=hostname&protocol=http&host=" + hostOf(addr) + "&port=" + portOf(addr) + "&tries=2", 200, `{"responses":["web-5d8f7c9b4-x2x7q","web-5d8f7c9b4-x2x7q"]}`},
		{"/dial?request=hostname&protocol=udp&host=127.0.0.1&port=" + portOf(s.udp[8081]), 200, `{"responses":["web-5d8f7c9b4-x2x7q"]}`},
		{"/dial?request=hostname&protocol=sctp&host=127.0.0.1&port=1", 400, "unsupported protocol. sctp\n"},
		{"/dial?protocol=http&host=127.0.0.1&port=1", 400, "request parameter not specified. <nil>\n"},
	}
	for _, tt := range tests {
		resp, body := rawGet(t, addr, "GET", tt.path)
		if resp.StatusCode != tt.status || body != tt.body {
			t.Errorf("GET %s = %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
	}
	if _, body := rawGet(t, addr, "GET", "/clientip"); !strings.HasPrefix(body, "127.0.0.1:") {
		t.Errorf("GET /clientip = %q", body)
	}
	resp, _ := rawGet(t, addr, "GET", "/redirect?location=/echo%3Fmsg%3Dx&code=307")
	if resp.StatusCode != 307 || resp.Header.Get("Location") != "/echo?msg=x" {
		t.Errorf("GET /redirect = %d %v", resp.StatusCode, resp.Header)
	}
	_, body := rawGet(t, addr, "GET", "/dial?request=hostname&host=127.0.0.1&port=1")
	if !strings.HasPrefix(body, `{"errors":["Get \"http://127.0.0.1:1/hostname\": dial tcp 127.0.0.1:1: connect: connection refused"]}`) {
		t.Errorf("GET /dial to a closed port = %q", body)
	}

	// The UDP server.
	c, err := net.Dial("udp", s.udp[8081])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for msg, want := range map[string]string{"hostname": "web-5d8f7c9b4-x2x7q", "echo Hi There": "hi there", "clientip": c.LocalAddr().String()} {
		if got := udpExchange(t, c, msg); got != want {
			t.Errorf("UDP %q = %q, want %q", msg, got, want)
		}
	}

	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	log := lines(s.log.String())
	for _, want := range []string{
		"2024/01/01 00:00:00 Started UDP server on port  8081",
		"2024/01/01 00:00:00 Started HTTP server on port 8080",
		"2024/01/01 00:00:00 GET /hostname",
		"2024/01/01 00:00:00 GET /echo?msg=hello&code=",
		"2024/01/01 00:00:00 Sending udp hostName response",
		"2024/01/01 00:00:00 Echoing hi there to UDP client " + c.LocalAddr().String(),
	} {
		if !slices.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, strings.Join(log, "\n"))
		}
	}
}

func hostOf(addr string) string { h, _, _ := net.SplitHostPort(addr); return h }
func portOf(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

func udpExchange(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("UDP %q: %v", msg, err)
	}
	return string(buf[:n])
}

func TestNetexecHealthzWithoutUDP(t *testing.T) {
	s := serve(t, agnhostRef, []string{"netexec", "--udp-port=-1"}, testPod)
	if resp, _ := rawGet(t, s.addr[8080], "GET", "/healthz"); resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("/healthz without a UDP server = %d, want 412", resp.StatusCode)
	}
	if _, body := rawGet(t, s.addr[8080], "GET", "/dial?request=hostname&host=127.0.0.1&port=80"); body != `{"errors":["minilab: this pod cannot open connections"]}` {
		t.Errorf("/dial without Pod.Dial = %q", body)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestNetexecExit(t *testing.T) {
	for _, tt := range []struct {
		path     string
		code     int
		answered bool // graceful: the /exit request itself gets its response
	}{
		{"/exit?code=3", 3, false},
		{"/exit?code=4&timeout=1s", 4, true},
		{"/shutdown", 0, false},
	} {
		s := serve(t, agnhostRef, []string{"netexec"}, testPod)
		resp, err := http.Get("http://" + s.addr[8080] + tt.path)
		if tt.answered != (err == nil) {
			t.Errorf("GET %s: err %v, want answered %v", tt.path, err, tt.answered)
		}
		if err == nil {
			resp.Body.Close()
		}
		select {
		case err := <-s.done:
			var exit *ExitError
			if !errors.As(err, &exit) || exit.Code != tt.code {
				t.Errorf("GET %s: Serve = %v, want exit status %d", tt.path, err, tt.code)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("GET %s: Serve did not exit", tt.path)
		}
		if !refused(s.addr[8080]) {
			t.Errorf("GET %s: listener open after exit", tt.path)
		}
	}
}

func TestNetexecHTTPOverride(t *testing.T) {
	s := serve(t, agnhostRef, []string{"netexec", "--http-override=/echo?msg=overridden"}, testPod)
	if _, body := rawGet(t, s.addr[8080], "GET", "/hostname"); body != "overridden" {
		t.Errorf("GET /hostname with --http-override = %q", body)
	}
	s.stop()
}

func TestServeHostname(t *testing.T) {
	fixClock(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	s := serve(t, agnhostRef, []string{"serve-hostname"}, testPod)
	resp, body := rawGet(t, s.addr[9376], "GET", "/whatever")
	if resp.StatusCode != 200 || body != "web-5d8f7c9b4-x2x7q" {
		t.Errorf("GET = %d %q", resp.StatusCode, body)
	}
	s.stop()
	if log := lines(s.log.String()); len(log) != 2 || log[0] != "2024/01/01 00:00:00 Serving on port 9376." || !strings.HasPrefix(log[1], "2024/01/01 00:00:00 HTTP request from 127.0.0.1:") {
		t.Errorf("log = %q", log)
	}

	s = serve(t, agnhostRef, []string{"/agnhost", "serve-hostname", "--tcp", "--udp", "--http=false", "--port=9376"}, testPod)
	waitListening(t, s.addr[9376])
	c, err := net.Dial("tcp", s.addr[9376])
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _ := c.Read(buf)
	c.Close()
	if got := string(buf[:n]); got != "web-5d8f7c9b4-x2x7q" {
		t.Errorf("raw TCP = %q", got)
	}
	u, err := net.Dial("udp", s.udp[9376])
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if got := udpExchange(t, u, "x"); got != "web-5d8f7c9b4-x2x7q" {
		t.Errorf("UDP = %q", got)
	}
	s.stop()
}

func TestAgnhostFailures(t *testing.T) {
	tests := []struct {
		args []string
		code int
		log  string
	}{
		{args: nil, code: 0, log: "Usage:\n  agnhost [command]\n"},
		{args: []string{"porter"}, code: 1, log: "Error: unknown command \"porter\" for \"agnhost\"\nminilab's built-in agnhost has the commands: liveness, netexec, pause, serve-hostname\n"},
		{args: []string{"netexec", "--bogus=1"}, code: 1, log: "Error: unknown flag: --bogus\nRun 'agnhost netexec --help' for usage.\n"},
		{args: []string{"serve-hostname", "--udp"}, code: 1, log: "Can't server TCP/UDP mode and HTTP mode at the same time\n"},
		{args: []string{"netexec", "--tls-cert-file=/localhost.crt"}, code: 1, log: "minilab: the built-in agnhost netexec cannot serve HTTPS (--tls-cert-file)\n"},
	}
	for _, tt := range tests {
		img, ok := LookupWithArgs(agnhostRef, tt.args)
		if !ok {
			t.Fatalf("%q not found", tt.args)
		}
		var log syncBuffer
		err := img.Serve(context.Background(), Pod{Name: "a", Log: &log}, nil)
		var exit *ExitError
		if !errors.As(err, &exit) || exit.Code != tt.code {
			t.Errorf("%q: Serve = %v, want exit status %d", tt.args, err, tt.code)
		}
		if !strings.Contains(log.String(), tt.log) {
			t.Errorf("%q: log %q lacks %q", tt.args, log.String(), tt.log)
		}
	}
}

func TestLiveness(t *testing.T) {
	advance := fixClock(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	s := serve(t, agnhostRef, []string{"liveness"}, testPod)
	addr := s.addr[8080]
	waitListening(t, addr)
	if resp, body := rawGet(t, addr, "GET", "/healthz"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("/healthz at start = %d %q", resp.StatusCode, body)
	}
	advance(12500 * time.Millisecond)
	if resp, body := rawGet(t, addr, "GET", "/healthz"); resp.StatusCode != 500 || body != "error: 12.5" {
		t.Errorf("/healthz after 12.5s = %d %q", resp.StatusCode, body)
	}
	if _, body := rawGet(t, addr, "GET", "/started"); body != "12.5s" {
		t.Errorf("/started = %q", body)
	}
	s.stop()
}

func TestNetexecReadyWithoutUDPSocket(t *testing.T) {
	img, _ := LookupWithArgs(agnhostRef, []string{"netexec"})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- img.Serve(ctx, testPod, map[int32]net.Listener{8080: l}) }()
	if resp, _ := rawGet(t, l.Addr().String(), "GET", "/healthz"); resp.StatusCode != 200 {
		t.Errorf("/healthz when the node agent opened no UDP socket = %d, want 200", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v", err)
	}
}
