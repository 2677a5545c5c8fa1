package probes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Probes' seconds are 20ms in tests.
func init() { second = 20 * time.Millisecond }

// closedPort returns a local port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func serverPort(t *testing.T, srv *httptest.Server) int {
	t.Helper()
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

func httpProbe(path string, port intstr.IntOrString, timeoutSeconds int32, headers ...corev1.HTTPHeader) *corev1.Probe {
	return &corev1.Probe{TimeoutSeconds: timeoutSeconds, ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port, HTTPHeaders: headers}}}
}

func TestRunHTTP(t *testing.T) {
	var mu sync.Mutex
	var seen *http.Request
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r
		mu.Unlock()
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/healthz", http.StatusFound) })
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		// Same server, other host name: the kubelet does not follow it.
		w.Header().Set("Location", "http://localhost:"+strings.Split(r.Host, ":")[1]+"/healthz")
		w.WriteHeader(http.StatusMovedPermanently)
		io.WriteString(w, "gone")
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	port := serverPort(t, srv)
	dead := closedPort(t)
	target := Target{PodIP: "127.0.0.1", Ports: map[string]int32{"http": int32(port)}}

	tests := []struct {
		name   string
		probe  *corev1.Probe
		ok     bool
		output string
	}{
		{"success", httpProbe("/healthz", intstr.FromInt32(int32(port)), 10), true, "ok"},
		{"named port", httpProbe("/healthz", intstr.FromString("http"), 10), true, "ok"},
		{"port number as a string", httpProbe("/healthz", intstr.FromString(fmt.Sprint(port)), 10), true, "ok"},
		{"status 503", httpProbe("/broken", intstr.FromInt32(int32(port)), 10), false, "HTTP probe failed with statuscode: 503"},
		{"redirect to the same host is followed", httpProbe("/moved", intstr.FromInt32(int32(port)), 10), true, "ok"},
		{"redirect to another host is a success with a warning", httpProbe("/elsewhere", intstr.FromInt32(int32(port)), 10),
			true, "Probe terminated redirects, Response body: gone"},
		{"too many redirects", httpProbe("/loop", intstr.FromInt32(int32(port)), 10),
			false, fmt.Sprintf(`Get "/loop": stopped after 10 redirects`)},
		{"connection refused", httpProbe("/healthz", intstr.FromInt32(int32(dead)), 10),
			false, fmt.Sprintf(`Get "http://127.0.0.1:%d/healthz": dial tcp 127.0.0.1:%d: connect: connection refused`, dead, dead)},
		{"timeout", httpProbe("/slow", intstr.FromInt32(int32(port)), 1),
			false, fmt.Sprintf(`Get "http://127.0.0.1:%d/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, port)},
		{"unknown port name", httpProbe("/healthz", intstr.FromString("metrics"), 10), false, `strconv.Atoi: parsing "metrics": invalid syntax`},
		{"port out of range", httpProbe("/healthz", intstr.FromInt32(70000), 10), false, "invalid port number: 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, output := Run(context.Background(), tt.probe, target)
			if ok != tt.ok || output != tt.output {
				t.Errorf("Run = %v, %q; want %v, %q", ok, output, tt.ok, tt.output)
			}
		})
	}

	t.Run("request as the kubelet sends it", func(t *testing.T) {
		p := httpProbe("/healthz?verbose=1", intstr.FromInt32(int32(port)), 10,
			corev1.HTTPHeader{Name: "x-custom", Value: "a"}, corev1.HTTPHeader{Name: "Host", Value: "app.example"})
		if ok, out := Run(context.Background(), p, target); !ok {
			t.Fatalf("probe failed: %s", out)
		}
		mu.Lock()
		defer mu.Unlock()
		checks := map[string][2]string{
			"User-Agent": {seen.UserAgent(), "kube-probe/1.33"},
			"Accept":     {seen.Header.Get("Accept"), "*/*"},
			"X-Custom":   {seen.Header.Get("X-Custom"), "a"},
			"Host":       {seen.Host, "app.example"},
			"query":      {seen.URL.RawQuery, "verbose=1"},
		}
		for what, c := range checks {
			if c[0] != c[1] {
				t.Errorf("%s = %q, want %q", what, c[0], c[1])
			}
		}
	})
	t.Run("own User-Agent and an empty Accept", func(t *testing.T) {
		p := httpProbe("/healthz", intstr.FromInt32(int32(port)), 10,
			corev1.HTTPHeader{Name: "User-Agent", Value: "mine"}, corev1.HTTPHeader{Name: "Accept", Value: ""})
		Run(context.Background(), p, target)
		mu.Lock()
		defer mu.Unlock()
		if seen.UserAgent() != "mine" || len(seen.Header.Values("Accept")) != 0 {
			t.Errorf("User-Agent %q, Accept %q", seen.UserAgent(), seen.Header.Values("Accept"))
		}
	})
}

func TestRunTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open, dead := l.Addr().(*net.TCPAddr).Port, closedPort(t)
	var dialed []string
	target := Target{PodIP: "127.0.0.1", Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = append(dialed, addr)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	tcp := func(host string, port int) *corev1.Probe {
		return &corev1.Probe{TimeoutSeconds: 10, ProbeHandler: corev1.ProbeHandler{
			TCPSocket: &corev1.TCPSocketAction{Host: host, Port: intstr.FromInt32(int32(port))}}}
	}
	tests := []struct {
		name   string
		probe  *corev1.Probe
		ok     bool
		output string
	}{
		{"open port", tcp("", open), true, ""},
		{"closed port", tcp("", dead), false, fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", dead)},
		{"host given", tcp("localhost", open), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, output := Run(context.Background(), tt.probe, target)
			if ok != tt.ok || output != tt.output {
				t.Errorf("Run = %v, %q; want %v, %q", ok, output, tt.ok, tt.output)
			}
		})
	}
	want := []string{fmt.Sprintf("127.0.0.1:%d", open), fmt.Sprintf("127.0.0.1:%d", dead), fmt.Sprintf("localhost:%d", open)}
	if fmt.Sprint(dialed) != fmt.Sprint(want) {
		t.Errorf("dialed %v through the node's dialer, want %v", dialed, want)
	}
}

// fakeExec answers commands as a container would.
func fakeExec(ctx context.Context, command []string) (int, string, error) {
	switch strings.Join(command, " ") {
	case "cat /tmp/healthy":
		return 0, "ok\n", nil
	case "cat /tmp/missing":
		return 1, "cat: /tmp/missing: No such file or directory\n", nil
	case "sleep 100":
		<-ctx.Done()
		return -1, "", ctx.Err()
	}
	return 0, "", errors.New("executable file not found in $PATH")
}

func TestRunExec(t *testing.T) {
	exec := func(command ...string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: command}}}
	}
	tests := []struct {
		name   string
		probe  *corev1.Probe
		target Target
		ok     bool
		output string
	}{
		{"exit 0", exec("cat", "/tmp/healthy"), Target{Exec: fakeExec}, true, "ok\n"},
		{"exit 1", exec("cat", "/tmp/missing"), Target{Exec: fakeExec}, false, "cat: /tmp/missing: No such file or directory\n"},
		{"timeout", exec("sleep", "100"), Target{Exec: fakeExec}, false, `command "sleep 100" timed out`},
		{"cannot run", exec("nope"), Target{Exec: fakeExec}, false, "executable file not found in $PATH"},
		{"no exec", exec("true"), Target{}, false, "exec probes are not supported for this container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, output := Run(context.Background(), tt.probe, tt.target)
			if ok != tt.ok || output != tt.output {
				t.Errorf("Run = %v, %q; want %v, %q", ok, output, tt.ok, tt.output)
			}
		})
	}
}

// healthServer is a gRPC server over h2c implementing grpc.health.v1.Health
// with the given statuses per service (a missing service is NotFound); with
// nil statuses it has no Health service.
func healthServer(t *testing.T, statuses map[string]byte, userAgent *atomic.Value) int {
	t.Helper()
	handler := func(w http.ResponseWriter, r *http.Request) {
		userAgent.Store(r.UserAgent())
		w.Header().Set("Content-Type", "application/grpc")
		if statuses == nil || r.URL.Path != healthCheckPath {
			// A trailers-only response, as grpc-go sends for an unknown method.
			w.Header().Set("Grpc-Status", "12")
			w.Header().Set("Grpc-Message", "unknown service grpc.health.v1.Health")
			return
		}
		body, _ := io.ReadAll(r.Body)
		msg, _ := grpcUnframe(body)
		service := ""
		if len(msg) > 2 {
			service = string(msg[2:])
		}
		if service == "slow" {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		status, ok := statuses[service]
		if !ok {
			w.Header().Set("Grpc-Status", "5")
			w.Header().Set("Grpc-Message", "unknown%20service")
			return
		}
		w.Write(grpcFrame([]byte{0x08, status}))
		w.Header().Set("Grpc-Status", "0")
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(handler))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return serverPort(t, srv)
}

func TestRunGRPC(t *testing.T) {
	var ua, ua2 atomic.Value
	port := healthServer(t, map[string]byte{"": 1, "down": 2}, &ua)
	noHealth := healthServer(t, nil, &ua2)
	http1 := httptest.NewServer(http.NotFoundHandler())
	defer http1.Close()
	dead := closedPort(t)
	grpc := func(port int, service *string, timeout int32) *corev1.Probe {
		return &corev1.Probe{TimeoutSeconds: timeout, ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: int32(port), Service: service}}}
	}
	svc := func(s string) *string { return &s }
	tests := []struct {
		name   string
		probe  *corev1.Probe
		ok     bool
		output string
	}{
		{"serving", grpc(port, nil, 10), true, "service healthy"},
		{"not serving", grpc(port, svc("down"), 10), false, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", grpc(port, svc("other"), 10), false, "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"},
		{"no health service", grpc(noHealth, nil, 10), false,
			"error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service grpc.health.v1.Health"},
		{"slow", grpc(port, svc("slow"), 1), false, "timeout: health rpc did not complete within 20ms"},
		{"nothing listening", grpc(dead, nil, 1), false,
			fmt.Sprintf(`timeout: failed to connect service "127.0.0.1:%d" within 20ms: context deadline exceeded`, dead)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, output := Run(context.Background(), tt.probe, Target{PodIP: "127.0.0.1"})
			if ok != tt.ok || output != tt.output {
				t.Errorf("Run = %v, %q; want %v, %q", ok, output, tt.ok, tt.output)
			}
		})
	}
	if got := ua.Load(); got != "kube-probe/1.33" {
		t.Errorf("User-Agent %q", got)
	}

	t.Run("a server that does not speak HTTP/2", func(t *testing.T) {
		ok, output := Run(context.Background(), grpc(serverPort(t, http1), nil, 10), Target{PodIP: "127.0.0.1"})
		want := fmt.Sprintf(`error: health rpc probe failed: rpc error: code = Unavailable desc = Post "http://127.0.0.1:%d/grpc.health.v1.Health/Check": `, serverPort(t, http1))
		if ok || !strings.HasPrefix(output, want) {
			t.Errorf("Run = %v, %q; want false, %q...", ok, output, want)
		}
	})
}
