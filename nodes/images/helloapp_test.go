package images

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestHelloApp(t *testing.T) {
	fixClock(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		ref  string
		env  map[string]string
		port int32
		body string
	}{
		{ref: "gcr.io/google-samples/hello-app:1.0", port: 8080, body: "Hello, world!\nVersion: 1.0.0\nHostname: web-5d8f7c9b4-x2x7q\n"},
		{ref: "gcr.io/google-samples/hello-app:2.0", port: 8080, body: "Hello, world!\nVersion: 2.0.0\nHostname: web-5d8f7c9b4-x2x7q\n"},
		{ref: "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0", port: 8080, body: "Hello, world!\nVersion: 1.0.0\nHostname: web-5d8f7c9b4-x2x7q\n"},
		{ref: "xiaopeng163/hello-app:1.0", env: map[string]string{"PORT": "9000"}, port: 9000, body: "Hello, world!\nVersion: 1.0.0\nHostname: web-5d8f7c9b4-x2x7q\n"},
	}
	for _, tt := range tests {
		pod := testPod
		pod.Env = tt.env
		s := serve(t, tt.ref, nil, pod)
		addr := s.addr[tt.port]
		if addr == "" {
			t.Fatalf("%s: no socket for port %d: %v", tt.ref, tt.port, s.addr)
		}
		for _, path := range []string{"/", "/any/path?x=1"} {
			resp, body := rawGet(t, addr, "GET", path)
			if resp.StatusCode != http.StatusOK || body != tt.body {
				t.Errorf("%s GET %s = %d %q, want 200 %q", tt.ref, path, resp.StatusCode, body, tt.body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("%s Content-Type = %q", tt.ref, ct)
			}
		}
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
		port := "8080"
		if tt.env["PORT"] != "" {
			port = tt.env["PORT"]
		}
		want := []string{
			"2024/01/01 00:00:00 Server listening on port " + port,
			"2024/01/01 00:00:00 Serving request: /",
			"2024/01/01 00:00:00 Serving request: /any/path",
		}
		if got := lines(s.log.String()); !slices.Equal(got, want) {
			t.Errorf("%s log = %q, want %q", tt.ref, got, want)
		}
	}
}

func TestHelloAppBadPort(t *testing.T) {
	fixClock(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	pod := testPod
	pod.Env = map[string]string{"PORT": "http"}
	s := serve(t, "gcr.io/google-samples/hello-app:1.0", nil, pod)
	var exit *ExitError
	select {
	case err := <-s.done:
		if !errors.As(err, &exit) || exit.Code != 1 {
			t.Errorf("Serve = %v, want exit status 1", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Serve did not exit")
	}
	want := []string{"2024/01/01 00:00:00 Server listening on port http", "2024/01/01 00:00:00 listen tcp: lookup tcp/http: unknown port"}
	if got := lines(s.log.String()); !slices.Equal(got, want) {
		t.Errorf("log = %q, want %q", got, want)
	}
}
