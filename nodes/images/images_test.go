package images

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		ref  string
		args []string
		want string // Image.Name; "" = not found
	}{
		{ref: "gcr.io/google-samples/hello-app:1.0", want: "gcr.io/google-samples/hello-app:1.0"},
		{ref: "gcr.io/google-samples/hello-app:2.0", want: "gcr.io/google-samples/hello-app:2.0"},
		{ref: "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0", want: "gcr.io/google-samples/hello-app:1.0"},
		{ref: "gcr.io/google-samples/hello-app@sha256:845f77fab71033404f4cfceaa1ddb27b70c3551ceb22a5e7f4498cdda6c9daea", want: "gcr.io/google-samples/hello-app:1.0"},
		{ref: "gcr.io/google-samples/hello-app:2.0@sha256:0123456789abcdef", want: "gcr.io/google-samples/hello-app:2.0"},
		{ref: "gcr.io/google-samples/hello-app:3.0"}, // no such tag: ErrImagePull
		{ref: "gcr.io/google-samples/hello-app"},     // no :latest either
		{ref: "xiaopeng163/hello-app:1.0", want: "xiaopeng163/hello-app:1.0"},
		{ref: "docker.io/xiaopeng163/hello-app:2.0", want: "xiaopeng163/hello-app:2.0"},
		{ref: "wangyanglinux/myapp:v1", want: "wangyanglinux/myapp:v1"},
		{ref: "docker.io/wangyanglinux/myapp:v2", want: "wangyanglinux/myapp:v2"},
		{ref: "ikubernetes/myapp:v1", want: "wangyanglinux/myapp:v1"},
		{ref: "wangyanglinux/myapp:v9"},
		{ref: "nginx", want: "nginx:latest"},
		{ref: "nginx:1.25", want: "nginx:1.25"},
		{ref: "nginx:alpine", want: "nginx:alpine"},
		{ref: "library/nginx:1.14.2", want: "nginx:1.14.2"},
		{ref: "docker.io/library/nginx:latest", want: "nginx:latest"},
		{ref: "index.docker.io/library/nginx", want: "nginx:latest"},
		{ref: "docker.io/nginx:stable-alpine", want: "nginx:stable-alpine"},
		{ref: "nginx@sha256:0123456789abcdef", want: "nginx:latest"},
		{ref: " nginx:1.27 ", want: "nginx:1.27"},
		{ref: "traefik/whoami", want: "traefik/whoami:latest"},
		{ref: "traefik/whoami:v1.10.1", want: "traefik/whoami:v1.10.1"},
		{ref: "containous/whoami", want: "traefik/whoami:latest"},
		{ref: "quay.io/qxu/spring-boot-whoami", want: "quay.io/qxu/spring-boot-whoami:latest"},
		{ref: "registry.k8s.io/e2e-test-images/agnhost:2.47", args: []string{"netexec"}, want: "registry.k8s.io/e2e-test-images/agnhost:2.47"},
		{ref: "k8s.gcr.io/e2e-test-images/agnhost:2.39", args: []string{"serve-hostname"}, want: "registry.k8s.io/e2e-test-images/agnhost:2.39"},
		{ref: "registry.k8s.io/pause:3.10", want: "registry.k8s.io/pause:3.10"},
		{ref: "busybox", want: "busybox:latest"},
		{ref: "busybox:1.36", want: "busybox:1.36"},
		{ref: "registry.k8s.io/busybox", want: "busybox:latest"},
		{ref: "alpine:3.20", want: "alpine:3.20"},
		{ref: "ubuntu:24.04", want: "ubuntu:24.04"},
		{ref: "debian:bookworm-slim", want: "debian:bookworm-slim"},
		{ref: "curlimages/curl:8.10.1", want: "curlimages/curl:8.10.1"},
		{ref: "nicolaka/netshoot", want: "nicolaka/netshoot:latest"},
		{ref: "registry.k8s.io/e2e-test-images/jessie-dnsutils:1.3", want: "registry.k8s.io/e2e-test-images/jessie-dnsutils:1.3"},
		{ref: "redis:7"},
		{ref: "myregistry.local:5000/nginx"}, // same name, another registry
		{ref: "nginxinc/nginx-unprivileged"},
		{ref: "quay.io/nginx"},
		{ref: ""},
		{ref: "nginx:"},
		{ref: "nginx@"},
		{ref: "/nginx"},
	}
	for _, tt := range tests {
		img, ok := LookupWithArgs(tt.ref, tt.args)
		if ok != (tt.want != "") {
			t.Errorf("LookupWithArgs(%q) found = %v, want %v", tt.ref, ok, tt.want != "")
			continue
		}
		if ok && img.Name != tt.want {
			t.Errorf("LookupWithArgs(%q).Name = %q, want %q", tt.ref, img.Name, tt.want)
		}
	}
}

func TestLookupImageKinds(t *testing.T) {
	tests := []struct {
		ref     string
		args    []string
		toolbox bool
		ports   []Port
	}{
		{ref: "busybox", toolbox: true},
		{ref: "curlimages/curl", toolbox: true},
		{ref: "nicolaka/netshoot", toolbox: true},
		{ref: "registry.k8s.io/pause:3.10"},
		{ref: "nginx", ports: []Port{{80, "TCP"}}},
		{ref: "wangyanglinux/myapp:v1", ports: []Port{{80, "TCP"}}},
		{ref: "gcr.io/google-samples/hello-app:1.0", ports: []Port{{8080, "TCP"}}},
		{ref: "traefik/whoami", ports: []Port{{80, "TCP"}}},
		{ref: "traefik/whoami", args: []string{"--port", "8080"}, ports: []Port{{8080, "TCP"}}},
		{ref: "traefik/whoami", args: []string{"/whoami", "-port=9090"}, ports: []Port{{9090, "TCP"}}},
		{ref: "quay.io/qxu/spring-boot-whoami", ports: []Port{{8080, "TCP"}}},
		{ref: "registry.k8s.io/e2e-test-images/agnhost:2.47", args: []string{"netexec", "--http-port=8080", "--udp-port=8081"}, ports: []Port{{8080, "TCP"}, {8081, "UDP"}}},
		{ref: "registry.k8s.io/e2e-test-images/agnhost:2.47", args: []string{"/agnhost", "netexec", "--http-port", "80", "--udp-port=-1"}, ports: []Port{{80, "TCP"}}},
		{ref: "registry.k8s.io/e2e-test-images/agnhost:2.47", args: []string{"serve-hostname"}, ports: []Port{{9376, "TCP"}}},
		{ref: "registry.k8s.io/e2e-test-images/agnhost:2.47", args: []string{"serve-hostname", "--udp", "--http=false", "--port", "53"}, ports: []Port{{53, "UDP"}}},
		{ref: "registry.k8s.io/e2e-test-images/agnhost:2.47", args: []string{"liveness"}, ports: []Port{{8080, "TCP"}}},
		{ref: "registry.k8s.io/e2e-test-images/agnhost:2.47", args: []string{"pause"}},
	}
	for _, tt := range tests {
		img, ok := LookupWithArgs(tt.ref, tt.args)
		if !ok {
			t.Fatalf("LookupWithArgs(%q, %q) not found", tt.ref, tt.args)
		}
		if img.Toolbox != tt.toolbox || !slices.Equal(img.Ports, tt.ports) {
			t.Errorf("LookupWithArgs(%q, %q) = Toolbox %v, Ports %v; want %v, %v", tt.ref, tt.args, img.Toolbox, img.Ports, tt.toolbox, tt.ports)
		}
	}
}

func TestPortsFor(t *testing.T) {
	tests := []struct {
		ref  string
		args []string
		env  map[string]string
		want int32
	}{
		{ref: "gcr.io/google-samples/hello-app:1.0", env: map[string]string{"PORT": "9000"}, want: 9000},
		{ref: "gcr.io/google-samples/hello-app:1.0", env: map[string]string{"PORT": "oops"}, want: 8080},
		{ref: "gcr.io/google-samples/hello-app:1.0", want: 8080},
		{ref: "traefik/whoami", env: map[string]string{"WHOAMI_PORT_NUMBER": "8000"}, want: 8000},
		{ref: "traefik/whoami", args: []string{"--port=7000"}, env: map[string]string{"WHOAMI_PORT_NUMBER": "8000"}, want: 7000},
		{ref: "nginx", env: map[string]string{"PORT": "9000"}, want: 80},
	}
	for _, tt := range tests {
		img, _ := LookupWithArgs(tt.ref, tt.args)
		if got := img.PortsFor(tt.env); got[0].Port != tt.want {
			t.Errorf("%s %q PortsFor(%v) = %v, want port %d", tt.ref, tt.args, tt.env, got, tt.want)
		}
	}
	img, _ := Lookup("gcr.io/google-samples/hello-app:1.0")
	img.PortsFor(map[string]string{"PORT": "9000"})
	if img.Ports[0].Port != 8080 {
		t.Errorf("PortsFor changed Image.Ports to %v", img.Ports)
	}
}

func TestNames(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) {
		t.Errorf("Names() not sorted: %q", names)
	}
	for _, want := range []string{"busybox", "curlimages/curl", "gcr.io/google-samples/hello-app:1.0", "gcr.io/google-samples/hello-app:2.0",
		"nginx", "nicolaka/netshoot", "quay.io/qxu/spring-boot-whoami", "registry.k8s.io/e2e-test-images/agnhost", "traefik/whoami",
		"wangyanglinux/myapp:v1", "xiaopeng163/hello-app:1.0", "alpine"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() lacks %q", want)
		}
	}
	for _, name := range names {
		if _, ok := Lookup(name); !ok {
			t.Errorf("Names() lists %q, which Lookup does not find", name)
		}
	}
}

// syncBuffer is a Pod.Log that tests can read while servers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// served is an image being served on loopback sockets.
type served struct {
	addr  map[int32]string // "127.0.0.1:port" by image port, TCP
	udp   map[int32]string // the same for UDP
	log   *syncBuffer
	stop  func() error // cancels and returns Serve's result
	done  chan error
	lists map[int32]net.Listener
}

// serve looks ref up and serves it for pod on fresh loopback sockets, one
// per port the image listens on (PortsFor the pod's env).
func serve(t *testing.T, ref string, args []string, pod Pod) *served {
	t.Helper()
	img, ok := LookupWithArgs(ref, args)
	if !ok {
		t.Fatalf("LookupWithArgs(%q, %q): not found", ref, args)
	}
	s := &served{addr: map[int32]string{}, udp: map[int32]string{}, log: &syncBuffer{}, done: make(chan error, 1), lists: map[int32]net.Listener{}}
	pod.Log = s.log
	pod.PacketConns = map[int32]net.PacketConn{}
	for _, p := range img.PortsFor(pod.Env) {
		if p.Protocol == "UDP" {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			pod.PacketConns[p.Port] = c
			s.udp[p.Port] = c.LocalAddr().String()
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.lists[p.Port] = l
		s.addr[p.Port] = l.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { s.done <- img.Serve(ctx, pod, s.lists) }()
	s.stop = func() error {
		cancel()
		select {
		case err := <-s.done:
			return err
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: Serve did not return within 2s of cancellation", ref)
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return s
}

// rawGet sends a request as curl does (Host, User-Agent, Accept) and reads
// the response.
func rawGet(t *testing.T, addr, method, path string, extra ...string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := method + " " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n"
	for _, h := range extra {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// fixClock makes the images see t0; the returned func moves that clock on.
func fixClock(t *testing.T, t0 time.Time) (advance func(time.Duration)) {
	var mu sync.Mutex
	now := t0
	clock = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	t.Cleanup(func() { clock = time.Now })
	return func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
}

// refused reports whether nothing listens at addr any more.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return true
}

var testPod = Pod{Name: "web-5d8f7c9b4-x2x7q", Namespace: "default", IPs: []string{"10.244.1.5"}}

func TestServeStopsOnCancel(t *testing.T) {
	tests := []struct {
		ref  string
		args []string
	}{
		{ref: "gcr.io/google-samples/hello-app:1.0"},
		{ref: "nginx"},
		{ref: "wangyanglinux/myapp:v1"},
		{ref: "traefik/whoami"},
		{ref: "quay.io/qxu/spring-boot-whoami"},
		{ref: "registry.k8s.io/e2e-test-images/agnhost:2.47", args: []string{"netexec"}},
		{ref: "registry.k8s.io/e2e-test-images/agnhost:2.47", args: []string{"serve-hostname"}},
		{ref: "registry.k8s.io/e2e-test-images/agnhost:2.47", args: []string{"serve-hostname", "--tcp", "--udp", "--http=false"}},
		{ref: "registry.k8s.io/e2e-test-images/agnhost:2.47", args: []string{"liveness"}},
	}
	for _, tt := range tests {
		s := serve(t, tt.ref, tt.args, testPod)
		for _, addr := range s.addr {
			waitListening(t, addr)
			// An idle keep-alive connection must not hold Serve up.
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
		}
		start := time.Now()
		if err := s.stop(); err != nil {
			t.Errorf("%s %q: Serve returned %v after cancellation, want nil", tt.ref, tt.args, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s %q: Serve took %v to return", tt.ref, tt.args, d)
		}
		for port, addr := range s.addr {
			if !refused(addr) {
				t.Errorf("%s: listener for port %d still open after Serve returned", tt.ref, port)
			}
		}
		for port, addr := range s.udp {
			if c, err := net.ListenPacket("udp", addr); err != nil {
				t.Errorf("%s: UDP socket for port %d still open after Serve returned: %v", tt.ref, port, err)
			} else {
				c.Close()
			}
		}
	}
}

// waitListening waits until addr accepts and answers (Serve runs in a goroutine).
func waitListening(t *testing.T, addr string) {
	t.Helper()
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing listens at %s", addr)
}

func TestToolboxBlocksUntilCancelled(t *testing.T) {
	for _, ref := range []string{"busybox", "alpine:3.20", "curlimages/curl", "nicolaka/netshoot", "ubuntu", "debian", "registry.k8s.io/e2e-test-images/jessie-dnsutils:1.3", "registry.k8s.io/pause:3.10"} {
		img, _ := Lookup(ref)
		// A listener the caller opened anyway is closed: nothing listens
		// in the container.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- img.Serve(ctx, Pod{Name: "tools"}, map[int32]net.Listener{80: l}) }()
		select {
		case err := <-done:
			t.Fatalf("%s: Serve returned %v before cancellation", ref, err)
		case <-time.After(50 * time.Millisecond):
		}
		if !refused(l.Addr().String()) {
			t.Errorf("%s: unused listener left open", ref)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: Serve returned %v, want nil", ref, err)
			}
		case <-time.After(time.Second):
			t.Fatalf("%s: Serve did not return after cancellation", ref)
		}
	}
}

func TestServeWithoutListener(t *testing.T) {
	img, _ := Lookup("nginx")
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = img.Serve(context.Background(), testPod, map[int32]net.Listener{8080: other})
	if err == nil || err.Error() != "no listener for port 80/TCP" {
		t.Errorf("Serve without a listener for 80 = %v, want no listener for port 80/TCP", err)
	}
	if !refused(other.Addr().String()) {
		t.Error("listener left open")
	}
}

func TestParseReference(t *testing.T) {
	tests := []struct {
		ref  string
		want reference
	}{
		{"nginx", reference{repository: "docker.io/library/nginx"}},
		{"nginx:1.25-alpine", reference{repository: "docker.io/library/nginx", tag: "1.25-alpine"}},
		{"traefik/whoami:v1.10", reference{repository: "docker.io/traefik/whoami", tag: "v1.10"}},
		{"registry-1.docker.io/busybox", reference{repository: "docker.io/library/busybox"}},
		{"localhost/nginx", reference{repository: "localhost/nginx"}},
		{"localhost:5000/nginx:1", reference{repository: "localhost:5000/nginx", tag: "1"}},
		{"gcr.io/google-samples/hello-app:1.0@sha256:abc", reference{repository: "gcr.io/google-samples/hello-app", tag: "1.0", digest: "sha256:abc"}},
	}
	for _, tt := range tests {
		got, ok := parseReference(tt.ref)
		if !ok || got != tt.want {
			t.Errorf("parseReference(%q) = %+v, %v; want %+v", tt.ref, got, ok, tt.want)
		}
	}
}

func TestExitError(t *testing.T) {
	var err error = &ExitError{Code: 3}
	var e *ExitError
	if !errors.As(err, &e) || e.Code != 3 || err.Error() != "exit status 3" {
		t.Errorf("ExitError = %v", err)
	}
}

// lines splits a log into lines.
func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
