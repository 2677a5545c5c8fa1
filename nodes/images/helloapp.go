package images

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// helloApp is Google's hello-app (GoogleCloudPlatform/kubernetes-engine-samples,
// quickstarts/hello-app), the image of the GKE quickstart: on every path it
// answers
//
//	Hello, world!
//	Version: 1.0.0
//	Hostname: <pod name>
//
// and logs "Serving request: <path>". It listens on $PORT, 8080 by default.
// Tag 2.0 says "Version: 2.0.0"; that is the whole difference, and what
// rolling updates in tutorials show.
func helloApp(tag string, _ []string) *Image {
	version := tag + ".0" // tags are "1.0" and "2.0"
	img := &Image{
		Ports:   []Port{{Port: 8080, Protocol: "TCP"}},
		portEnv: "PORT",
	}
	img.Serve = func(ctx context.Context, pod Pod, listeners map[int32]net.Listener) error {
		r := newRun(ctx, pod, listeners)
		port := "8080"
		if p := pod.Env["PORT"]; p != "" {
			port = p
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			// http.ListenAndServe(":"+port) fails and log.Fatal exits 1.
			r.log.logf("Server listening on port %s", port)
			r.log.logf("listen tcp: lookup tcp/%s: unknown port", port)
			return exitWith(pod, listeners, 1)
		}
		r.serveHTTP(int32(n), http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r.log.logf("Serving request: %s", req.URL.Path)
			fmt.Fprintf(w, "Hello, world!\nVersion: %s\nHostname: %s\n", version, pod.Name)
		}))
		r.log.logf("Server listening on port %s", port)
		return r.wait()
	}
	return img
}
