package images

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWhoami(t *testing.T) {
	fixClock(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	pod := testPod
	pod.IPs = []string{"fd00:10:244::5", "10.244.1.5"}
	s := serve(t, "traefik/whoami", nil, pod)
	addr := s.addr[80]

	resp, body := rawGet(t, addr, "GET", "/")
	want := "Hostname: web-5d8f7c9b4-x2x7q\nIP: 127.0.0.1\nIP: ::1\nIP: 10.244.1.5\nIP: fd00:10:244::5\n" +
		"RemoteAddr: " + localAddrOf(t, body) + "\n" +
		"GET / HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"
	if resp.StatusCode != 200 || body != want {
		t.Errorf("GET / = %d\n%q\nwant\n%q", resp.StatusCode, body, want)
	}

	// Any other path is the same page; other headers follow, sorted.
	_, body = rawGet(t, addr, "GET", "/foo?bar=1", "X-Forwarded-For: 1.2.3.4", "Accept-Language: en")
	if !strings.HasSuffix(body, "GET /foo?bar=1 HTTP/1.1\r\nHost: "+addr+"\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nAccept-Language: en\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n") {
		t.Errorf("GET /foo = %q", body)
	}

	resp, body = rawGet(t, addr, "GET", "/api")
	var data map[string]any
	if err := json.Unmarshal([]byte(body), &data); err != nil || resp.Header.Get("Content-Type") != "application/json" || !strings.HasSuffix(body, "}\n") {
		t.Fatalf("GET /api = %q (%v)", body, err)
	}
	wantData := map[string]any{
		"hostname":   "web-5d8f7c9b4-x2x7q",
		"ip":         []any{"127.0.0.1", "::1", "10.244.1.5", "fd00:10:244::5"},
		"headers":    map[string]any{"User-Agent": []any{"curl/8.5.0"}, "Accept": []any{"*/*"}},
		"url":        "/api",
		"host":       addr,
		"method":     "GET",
		"remoteAddr": data["remoteAddr"],
	}
	if !reflect.DeepEqual(data, wantData) || !strings.HasPrefix(data["remoteAddr"].(string), "127.0.0.1:") {
		t.Errorf("GET /api = %v\nwant %v", data, wantData)
	}

	if resp, body = rawGet(t, addr, "GET", "/health"); resp.StatusCode != 200 || body != "" {
		t.Errorf("GET /health = %d %q", resp.StatusCode, body)
	}
	postHealth(t, addr, "500")
	if resp, _ = rawGet(t, addr, "HEAD", "/health"); resp.StatusCode != 500 {
		t.Errorf("HEAD /health after POST 500 = %d", resp.StatusCode)
	}
	if _, body = rawGet(t, addr, "GET", "/bench"); body != "1" {
		t.Errorf("GET /bench = %q", body)
	}
	if _, body = rawGet(t, addr, "GET", "/data?size=30"); body != "|ABCDEFGHIJKLMNOPQRSTUVWXYZ-A|" {
		t.Errorf("GET /data?size=30 = %q", body)
	}
	if _, body = rawGet(t, addr, "GET", "/data?size=2&unit=KB"); len(body) != 2048 {
		t.Errorf("GET /data?size=2&unit=KB = %d bytes", len(body))
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	wantLog := "2024/01/01 00:00:00 Starting up on port 80\nUpdate health check status code [500]\n"
	if got := s.log.String(); got != wantLog {
		t.Errorf("log = %q, want %q", got, wantLog)
	}
}

// localAddrOf digs the RemoteAddr line out of a whoami page.
func localAddrOf(t *testing.T, body string) string {
	for _, l := range strings.Split(body, "\n") {
		if a, ok := strings.CutPrefix(l, "RemoteAddr: "); ok {
			if !strings.HasPrefix(a, "127.0.0.1:") {
				t.Errorf("RemoteAddr %q", a)
			}
			return a
		}
	}
	t.Errorf("no RemoteAddr in %q", body)
	return ""
}

func postHealth(t *testing.T, addr, code string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/health", "text/plain", strings.NewReader(code))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestWhoamiFlagsAndEnv(t *testing.T) {
	fixClock(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		args     []string
		env      map[string]string
		port     int32
		name     string
		verbose  bool
		startLog string
	}{
		{args: []string{"--port", "8080", "--name", "alpha"}, port: 8080, name: "alpha", startLog: "Starting up on port 8080"},
		{env: map[string]string{"WHOAMI_PORT_NUMBER": "9000", "WHOAMI_NAME": "beta"}, port: 9000, name: "beta", startLog: "Starting up on port 9000"},
		{args: []string{"/whoami", "-port=7000", "-verbose"}, env: map[string]string{"WHOAMI_PORT_NUMBER": "9000"}, port: 7000, verbose: true, startLog: "Starting up on port 7000"},
	}
	for _, tt := range tests {
		pod := testPod
		pod.Env = tt.env
		s := serve(t, "traefik/whoami", tt.args, pod)
		addr := s.addr[tt.port]
		if addr == "" {
			t.Fatalf("%q: not listening on %d: %v", tt.args, tt.port, s.addr)
		}
		_, body := rawGet(t, addr, "GET", "/")
		if tt.name != "" && !strings.HasPrefix(body, "Name: "+tt.name+"\nHostname: ") {
			t.Errorf("%q: body %q lacks Name", tt.args, body)
		}
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
		log := lines(s.log.String())
		if log[0] != "2024/01/01 00:00:00 "+tt.startLog {
			t.Errorf("%q: log %q", tt.args, log)
		}
		if tt.verbose {
			if len(log) != 2 || !strings.HasPrefix(log[1], "2024/01/01 00:00:00 127.0.0.1:") || !strings.HasSuffix(log[1], ` - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" - -`) {
				t.Errorf("%q: verbose log %q", tt.args, log)
			}
		}
	}
}

func TestWhoamiBadFlag(t *testing.T) {
	s := serve(t, "traefik/whoami", []string{"--bogus"}, testPod)
	select {
	case err := <-s.done:
		var exit *ExitError
		if !errors.As(err, &exit) || exit.Code != 2 {
			t.Errorf("Serve = %v, want exit status 2", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Serve did not exit")
	}
	if !strings.HasPrefix(s.log.String(), "flag provided but not defined: -bogus\nUsage of whoami:\n") {
		t.Errorf("log = %q", s.log.String())
	}
}
