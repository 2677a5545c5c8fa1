package images

import (
	"testing"
	"time"
)

func TestSpringBootWhoami(t *testing.T) {
	fixClock(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	pod := testPod
	pod.IPs = []string{"10.244.1.5", "fd00:10:244::5"}
	s := serve(t, "quay.io/qxu/spring-boot-whoami", nil, pod)
	addr := s.addr[8080]
	resp, body := rawGet(t, addr, "GET", "/")
	want := "Hostname: web-5d8f7c9b4-x2x7q\nIP: 10.244.1.5\nIP: fd00:10:244::5\nRemoteAddr: 127.0.0.1\n"
	if resp.StatusCode != 200 || body != want || resp.Header.Get("Content-Type") != "text/plain;charset=UTF-8" {
		t.Errorf("GET / = %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = rawGet(t, addr, "GET", "/nope")
	wantErr := `{"timestamp":"2024-01-01T00:00:00.000+00:00","status":404,"error":"Not Found","path":"/nope"}` + "\n"
	if resp.StatusCode != 404 || body != wantErr || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /nope = %d %q", resp.StatusCode, body)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	log := lines(s.log.String())
	if len(log) != 4 || log[2] != "2024-01-01 00:00:00.000  INFO 1 --- [           main] o.s.b.w.embedded.tomcat.TomcatWebServer  : Tomcat started on port(s): 8080 (http) with context path ''" {
		t.Errorf("log = %q", log)
	}
}
