package images

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNginxVersion(t *testing.T) {
	tests := map[string]string{
		"latest": "1.29.3", "alpine": "1.29.3", "mainline-alpine": "1.29.3", "bookworm": "1.29.3", "1": "1.29.3",
		"stable": "1.28.0", "stable-alpine-slim": "1.28.0",
		"1.25": "1.25.5", "1.25-alpine": "1.25.5", "1.25.3": "1.25.3", "1.14.2": "1.14.2", "1.16.1-alpine": "1.16.1",
		"1.99": "1.99.0",
	}
	for tag, want := range tests {
		if got := nginxVersion(tag); got != want {
			t.Errorf("nginxVersion(%q) = %q, want %q", tag, got, want)
		}
	}
}

const nginxNotFound1293 = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n" +
	"<hr><center>nginx/1.29.3</center>\r\n</body>\r\n</html>\r\n"

func TestNginx(t *testing.T) {
	fixClock(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	s := serve(t, "nginx", nil, testPod)
	addr := s.addr[80]

	for _, path := range []string{"/", "/index.html", "//index.html", "/./", "/?a=b"} {
		resp, body := rawGet(t, addr, "GET", path)
		if resp.StatusCode != 200 || body != nginxWelcome {
			t.Errorf("GET %s = %d %q", path, resp.StatusCode, body)
		}
		want := map[string]string{
			"Server":         "nginx/1.29.3",
			"Content-Type":   "text/html",
			"Content-Length": "615",
			"Last-Modified":  "Tue, 28 Oct 2025 12:05:10 GMT",
			"Etag":           `"6900b176-267"`,
			"Accept-Ranges":  "bytes",
			"Connection":     "keep-alive",
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("GET %s: %s = %q, want %q", path, k, got, v)
			}
		}
	}
	if len(nginxWelcome) != 615 || !strings.Contains(nginxWelcome, "<title>Welcome to nginx!</title>") {
		t.Errorf("welcome page is %d bytes", len(nginxWelcome))
	}

	resp, body := rawGet(t, addr, "HEAD", "/")
	if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Length") != "615" {
		t.Errorf("HEAD / = %d %q Content-Length %q", resp.StatusCode, body, resp.Header.Get("Content-Length"))
	}
	resp, _ = rawGet(t, addr, "GET", "/", `If-None-Match: "6900b176-267"`)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET / If-None-Match = %d, want 304", resp.StatusCode)
	}

	resp, body = rawGet(t, addr, "GET", "/nope.html")
	if resp.StatusCode != 404 || body != nginxNotFound1293 || resp.Header.Get("Server") != "nginx/1.29.3" || resp.Header.Get("Content-Type") != "text/html" {
		t.Errorf("GET /nope.html = %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = rawGet(t, addr, "GET", "/dir/")
	if resp.StatusCode != 404 || body != nginxNotFound1293 {
		t.Errorf("GET /dir/ = %d %q", resp.StatusCode, body)
	}
	resp, body = rawGet(t, addr, "DELETE", "/")
	if resp.StatusCode != 405 || !strings.Contains(body, "<title>405 Not Allowed</title>") {
		t.Errorf("DELETE / = %d %q", resp.StatusCode, body)
	}
	resp, _ = rawGet(t, addr, "POST", "/index.html")
	if resp.StatusCode != 405 {
		t.Errorf("POST /index.html = %d, want 405", resp.StatusCode)
	}
	resp, _ = rawGet(t, addr, "POST", "/missing")
	if resp.StatusCode != 404 {
		t.Errorf("POST /missing = %d, want 404", resp.StatusCode)
	}
	_, _ = rawGet(t, addr, "GET", "/", `Referer: http://x/"q"`, "X-Forwarded-For: 10.0.0.9")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	log := lines(s.log.String())
	wantStart := []string{
		"/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
		"/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
		"/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
		"10-listen-on-ipv6-by-default.sh: info: Getting the checksum of /etc/nginx/conf.d/default.conf",
		"10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf",
		"/docker-entrypoint.sh: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh",
		"/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
		"/docker-entrypoint.sh: Launching /docker-entrypoint.d/30-tune-worker-processes.sh",
		"/docker-entrypoint.sh: Configuration complete; ready for start up",
		`2024/01/01 00:00:00 [notice] 1#1: using the "epoll" event method`,
		"2024/01/01 00:00:00 [notice] 1#1: nginx/1.29.3",
	}
	if len(log) < len(wantStart) || !slices.Equal(log[:len(wantStart)], wantStart) {
		t.Errorf("start-up log = %q", log)
	}
	var access []string
	for _, l := range log {
		if strings.HasPrefix(l, "127.0.0.1 ") || strings.Contains(l, "[error]") {
			access = append(access, l)
		}
	}
	wantAccess := []string{
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 615 "-" "curl/8.5.0" "-"`,
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET /index.html HTTP/1.1" 200 615 "-" "curl/8.5.0" "-"`,
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET //index.html HTTP/1.1" 200 615 "-" "curl/8.5.0" "-"`,
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET /./ HTTP/1.1" 200 615 "-" "curl/8.5.0" "-"`,
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET /?a=b HTTP/1.1" 200 615 "-" "curl/8.5.0" "-"`,
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "HEAD / HTTP/1.1" 200 0 "-" "curl/8.5.0" "-"`,
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 304 0 "-" "curl/8.5.0" "-"`,
		`2024/01/01 00:00:00 [error] 29#29: *8 open() "/usr/share/nginx/html/nope.html" failed (2: No such file or directory), client: 127.0.0.1, server: localhost, request: "GET /nope.html HTTP/1.1", host: "` + addr + `"`,
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET /nope.html HTTP/1.1" 404 153 "-" "curl/8.5.0" "-"`,
		`2024/01/01 00:00:00 [error] 29#29: *9 "/usr/share/nginx/html/dir/index.html" is not found (2: No such file or directory), client: 127.0.0.1, server: localhost, request: "GET /dir/ HTTP/1.1", host: "` + addr + `"`,
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET /dir/ HTTP/1.1" 404 153 "-" "curl/8.5.0" "-"`,
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "DELETE / HTTP/1.1" 405 157 "-" "curl/8.5.0" "-"`,
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "POST /index.html HTTP/1.1" 405 157 "-" "curl/8.5.0" "-"`,
		`2024/01/01 00:00:00 [error] 29#29: *12 open() "/usr/share/nginx/html/missing" failed (2: No such file or directory), client: 127.0.0.1, server: localhost, request: "POST /missing HTTP/1.1", host: "` + addr + `"`,
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "POST /missing HTTP/1.1" 404 153 "-" "curl/8.5.0" "-"`,
		`127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 615 "http://x/\x22q\x22" "curl/8.5.0" "10.0.0.9"`,
	}
	if !slices.Equal(access, wantAccess) {
		t.Errorf("access and error log:\n%s\nwant:\n%s", strings.Join(access, "\n"), strings.Join(wantAccess, "\n"))
	}
}

func TestNginxOldRelease(t *testing.T) {
	s := serve(t, "nginx:1.14.2", nil, testPod)
	resp, body := rawGet(t, s.addr[80], "GET", "/")
	if resp.StatusCode != 200 || body != nginxWelcomeOld || len(body) != 612 || resp.Header.Get("Server") != "nginx/1.14.2" {
		t.Errorf("nginx:1.14.2 GET / = %d, %d bytes, Server %q", resp.StatusCode, len(body), resp.Header.Get("Server"))
	}
	_, body = rawGet(t, s.addr[80], "GET", "/x")
	if !strings.Contains(body, "<hr><center>nginx/1.14.2</center>") {
		t.Errorf("404 page = %q", body)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if l := lines(s.log.String()); len(l) != 3 || strings.Contains(s.log.String(), "docker-entrypoint") {
		t.Errorf("nginx 1.14 log = %q, want the error and two access lines only", l)
	}
}

func TestMyApp(t *testing.T) {
	fixClock(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, version := range []string{"v1", "v2"} {
		s := serve(t, "wangyanglinux/myapp:"+version, nil, testPod)
		addr := s.addr[80]
		resp, body := rawGet(t, addr, "GET", "/")
		want := "Hello MyApp | Version: " + version + " | <a href=\"hostname.html\">Pod Name</a>\n"
		if resp.StatusCode != 200 || body != want || resp.Header.Get("Server") != "nginx/1.12.2" || resp.Header.Get("Content-Type") != "text/html" {
			t.Errorf("myapp:%s GET / = %d %q %v", version, resp.StatusCode, body, resp.Header)
		}
		resp, body = rawGet(t, addr, "GET", "/hostname.html")
		if resp.StatusCode != 200 || body != "web-5d8f7c9b4-x2x7q\n" {
			t.Errorf("myapp:%s GET /hostname.html = %d %q", version, resp.StatusCode, body)
		}
		resp, body = rawGet(t, addr, "GET", "/hostname")
		wantNotFound := "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n" +
			"<hr><center>nginx/1.12.2</center>\r\n</body>\r\n</html>\r\n"
		if resp.StatusCode != 404 || body != wantNotFound {
			t.Errorf("myapp:%s GET /hostname = %d %q", version, resp.StatusCode, body)
		}
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
		log := s.log.String()
		if !strings.HasPrefix(log, `127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 65 "-" "curl/8.5.0" "-"`+"\n") {
			t.Errorf("myapp log = %q", log)
		}
	}
}
