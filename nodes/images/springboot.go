package images

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// springBootWhoami is quay.io/qxu/spring-boot-whoami, a Spring Boot
// application on port 8080 that tells which pod answered. Its source is not
// public, so minilab serves a plausible equivalent: on / the container's
// hostname, its IPs and the client's address (without port, as a servlet's
// getRemoteAddr gives it), plain text; elsewhere Spring Boot's default JSON
// error; Spring Boot's start-up lines in the log and no access log.
func springBootWhoami(string, []string) *Image {
	return &Image{
		Ports: []Port{{Port: 8080, Protocol: "TCP"}},
		Serve: func(ctx context.Context, pod Pod, listeners map[int32]net.Listener) error {
			r := newRun(ctx, pod, listeners)
			r.serveHTTP(8080, springBootHandler(pod))
			springBootStartup(r.log)
			return r.wait()
		},
	}
}

func springBootHandler(pod Pod) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/" {
			springBootError(w, req, http.StatusNotFound)
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Hostname: %s\n", pod.Name)
		for _, ip := range pod.IPs {
			fmt.Fprintf(&b, "IP: %s\n", ip)
		}
		fmt.Fprintf(&b, "RemoteAddr: %s\n", remoteIP(req))
		w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		fmt.Fprint(w, b.String())
	})
}

// springBootError is the body of Spring Boot's BasicErrorController for
// clients that do not ask for HTML.
func springBootError(w http.ResponseWriter, req *http.Request, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Timestamp string `json:"timestamp"`
		Status    int    `json:"status"`
		Error     string `json:"error"`
		Path      string `json:"path"`
	}{clock().UTC().Format("2006-01-02T15:04:05.000-07:00"), status, http.StatusText(status), req.URL.Path})
}

// springBootStartup logs what an embedded-Tomcat Spring Boot 2 application
// prints when it comes up.
func springBootStartup(log *logger) {
	stamp := clock().UTC().Format("2006-01-02 15:04:05.000")
	for _, l := range []struct{ logger, msg string }{
		{"com.example.whoami.WhoamiApplication    ", "Starting WhoamiApplication using Java 11.0.16 with PID 1 (/app.jar started by root in /)"},
		{"o.s.b.w.embedded.tomcat.TomcatWebServer ", "Tomcat initialized with port(s): 8080 (http)"},
		{"o.s.b.w.embedded.tomcat.TomcatWebServer ", "Tomcat started on port(s): 8080 (http) with context path ''"},
		{"com.example.whoami.WhoamiApplication    ", "Started WhoamiApplication in 2.468 seconds (JVM running for 2.931)"},
	} {
		log.printf("%s  INFO 1 --- [           main] %s : %s", stamp, l.logger, l.msg)
	}
}
