package images

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// agnhost is registry.k8s.io/e2e-test-images/agnhost, the Kubernetes e2e
// tests' Swiss army knife (kubernetes/kubernetes, test/images/agnhost). Its
// first argument picks a subcommand; minilab builds in the ones labs use:
// netexec, serve-hostname, liveness and pause.
func agnhost(_ string, args []string) *Image {
	if len(args) > 0 && strings.HasSuffix(args[0], "agnhost") {
		args = args[1:] // the binary itself, when given as the command
	}
	if len(args) == 0 {
		// Without a subcommand agnhost prints its help and exits 0.
		return failingImage(0, "Usage:\n  agnhost [command]\n\nminilab's built-in agnhost has the commands: "+strings.Join(agnhostCommandNames(), ", "))
	}
	cmd, ok := agnhostCommands[args[0]]
	if !ok {
		return failingImage(1, fmt.Sprintf("Error: unknown command %q for \"agnhost\"\nminilab's built-in agnhost has the commands: %s",
			args[0], strings.Join(agnhostCommandNames(), ", ")))
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	build := cmd(fs)
	if err := fs.Parse(args[1:]); err != nil {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			msg = "unknown flag: --" + name // cobra's words
		}
		return failingImage(1, "Error: "+msg+"\nRun 'agnhost "+args[0]+" --help' for usage.")
	}
	if fs.NArg() > 0 {
		return failingImage(1, fmt.Sprintf("Error: accepts at most 0 arg(s), received %d", fs.NArg()))
	}
	return build()
}

// agnhostCommands registers a subcommand's flags and returns how to build
// its image once they are parsed.
var agnhostCommands = map[string]func(fs *flag.FlagSet) func() *Image{
	"netexec":        netexecCommand,
	"serve-hostname": serveHostnameCommand,
	"liveness":       livenessCommand,
	"pause": func(*flag.FlagSet) func() *Image {
		return func() *Image { return &Image{Serve: serveNothing} }
	},
}

func agnhostCommandNames() []string {
	return []string{"liveness", "netexec", "pause", "serve-hostname"}
}

// failingImage is a container whose process prints msg and exits with code
// before serving anything.
func failingImage(code int, msg string) *Image {
	return &Image{Serve: func(_ context.Context, pod Pod, listeners map[int32]net.Listener) error {
		newLogger(pod.Log).line(msg)
		return exitWith(pod, listeners, code)
	}}
}

// netexecCommand is `agnhost netexec`: an HTTP server (--http-port, 8080)
// with endpoints that the e2e tests use to probe the network from a pod,
// and a UDP server (--udp-port, 8081) answering "hostname", "echo <msg>"
// and "clientip".
func netexecCommand(fs *flag.FlagSet) func() *Image {
	httpPort := fs.Int("http-port", 8080, "HTTP Listen Port")
	udpPort := fs.Int("udp-port", 8081, "UDP Listen Port")
	sctpPort := fs.Int("sctp-port", -1, "SCTP Listen Port")
	override := fs.String("http-override", "", "Override the HTTP handler to always respond as if it were a GET with this path & params")
	certFile := fs.String("tls-cert-file", "", "File containing an x509 certificate for HTTPS")
	fs.String("tls-private-key-file", "", "File containing an x509 private key matching --tls-cert-file")
	fs.String("udp-listen-addresses", "", "A comma separated list of ip addresses the udp servers listen from")
	return func() *Image {
		if *certFile != "" {
			return failingImage(1, "minilab: the built-in agnhost netexec cannot serve HTTPS (--tls-cert-file)")
		}
		ports := []Port{{Port: int32(*httpPort), Protocol: "TCP"}}
		if *udpPort != -1 {
			ports = append(ports, Port{Port: int32(*udpPort), Protocol: "UDP"})
		}
		n := &netexec{httpPort: int32(*httpPort), udpPort: int32(*udpPort), override: *override, sctp: *sctpPort != -1}
		return &Image{Ports: ports, Serve: n.serve}
	}
}

type netexec struct {
	httpPort, udpPort int32
	override          string
	sctp              bool // --sctp-port: not served by minilab, but it makes the server ready
}

// netexecState is one running netexec container.
type netexecState struct {
	pod   Pod
	r     *run
	ready atomic.Bool // /healthz: the UDP (or SCTP) server is up
}

func (n *netexec) serve(ctx context.Context, pod Pod, listeners map[int32]net.Listener) error {
	r := newRun(ctx, pod, listeners)
	s := &netexecState{pod: pod, r: r}
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.root)
	mux.HandleFunc("/clientip", s.clientIP)
	mux.HandleFunc("/dial", s.dial)
	mux.HandleFunc("/echo", s.echo)
	mux.HandleFunc("/exit", s.exit)
	mux.HandleFunc("/healthz", s.healthz)
	mux.HandleFunc("/hostname", s.hostname("/hostname"))
	mux.HandleFunc("/hostName", s.hostname("/hostName"))
	mux.HandleFunc("/redirect", s.redirect)
	mux.HandleFunc("/shell", s.refuse("shell", "minilab's built-in agnhost does not run shell commands"))
	mux.HandleFunc("/upload", s.refuse("upload", "minilab's built-in agnhost does not write files"))
	mux.HandleFunc("/shutdown", s.shutdown)
	var h http.Handler = mux
	if n.override != "" {
		// Every request is answered as a GET of the override path.
		h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			o, err := http.NewRequestWithContext(req.Context(), http.MethodGet, n.override, nil)
			if err != nil {
				http.Error(w, fmt.Sprintf("override request failed: %v", err), http.StatusInternalServerError)
				return
			}
			mux.ServeHTTP(w, o)
		})
	}
	r.serveHTTP(n.httpPort, h)
	r.log.logf("Started HTTP server on port %d", n.httpPort)
	switch {
	case n.udpPort != -1 && pod.PacketConns[n.udpPort] != nil:
		r.serveUDP(n.udpPort, s.udp)
		r.log.logf("Started UDP server on port  %d", n.udpPort) // bound to "" (every address)
		s.ready.Store(true)
	case n.udpPort != -1, n.sctp:
		// UDP without a socket from the node agent, or SCTP, which minilab
		// does not serve: failing the pod's probes over them would mislead.
		s.ready.Store(true)
	}
	return r.wait()
}

// root answers every path without an endpoint of its own.
func (s *netexecState) root(w http.ResponseWriter, _ *http.Request) {
	s.r.log.logf("GET /")
	fmt.Fprintf(w, "NOW: %v", clock())
}

func (s *netexecState) clientIP(w http.ResponseWriter, req *http.Request) {
	s.r.log.logf("GET /clientip")
	fmt.Fprint(w, req.RemoteAddr)
}

func (s *netexecState) hostname(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		s.r.log.logf("GET %s", path)
		fmt.Fprint(w, s.pod.Name)
	}
}

// echo answers ?msg=, with the status ?code= if given.
func (s *netexecState) echo(w http.ResponseWriter, req *http.Request) {
	msg, codeString := req.FormValue("msg"), req.FormValue("code")
	s.r.log.logf("GET /echo?msg=%s&code=%s", msg, codeString)
	if codeString != "" {
		code, err := strconv.Atoi(codeString)
		if err != nil {
			fmt.Fprintf(w, "argument 'code' must be an integer or empty, got %q\n", codeString)
			return
		}
		w.WriteHeader(code)
	}
	fmt.Fprint(w, msg)
}

// healthz is 200 once the UDP server is up, 412 before (and always when
// there is none: --udp-port=-1).
func (s *netexecState) healthz(w http.ResponseWriter, _ *http.Request) {
	s.r.log.logf("GET /healthz")
	if s.ready.Load() {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusPreconditionFailed)
}

func (s *netexecState) redirect(w http.ResponseWriter, req *http.Request) {
	location, codeString := req.FormValue("location"), req.FormValue("code")
	s.r.log.logf("%s /redirect?msg=%s&code=%s", req.Method, location, codeString)
	code := http.StatusFound
	if codeString != "" {
		var err error
		if code, err = strconv.Atoi(codeString); err != nil {
			fmt.Fprintf(w, "argument 'code' must be an integer or empty, got %q\n", codeString)
			return
		}
	}
	http.Redirect(w, req, location, code)
}

// refuse answers the endpoints that would run programs or write files in
// the container, which minilab's images never do.
func (s *netexecState) refuse(what, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		s.r.log.logf("GET /%s", what)
		http.Error(w, msg, http.StatusForbidden)
	}
}

// exit makes the container exit with ?code= after ?wait=, letting
// connections finish for ?timeout= (0: at once, dropping this request).
func (s *netexecState) exit(w http.ResponseWriter, req *http.Request) {
	waitString, timeoutString, codeString := req.FormValue("wait"), req.FormValue("timeout"), req.FormValue("code")
	s.r.log.logf("GET /exit?code=%s&timeout=%s&wait=%s", codeString, timeoutString, waitString)
	timeout, err := time.ParseDuration(timeoutString)
	if err != nil && timeoutString != "" {
		fmt.Fprintf(w, "argument 'timeout' must be a valid golang duration or empty, got %q\n", timeoutString)
		return
	}
	wait, err := time.ParseDuration(waitString)
	if err != nil && waitString != "" {
		fmt.Fprintf(w, "argument 'wait' must be a valid golang duration or empty, got %q\n", waitString)
		return
	}
	code, err := strconv.Atoi(codeString)
	if err != nil && codeString != "" {
		fmt.Fprintf(w, "argument 'code' must be an integer [0-127] or empty, got %q\n", codeString)
		return
	}
	s.r.log.logf("Will begin shutdown in %s, allowing %s for connections to close, then will exit with %d", wait, timeout, code)
	sleepCtx(req.Context(), wait)
	if timeout == 0 {
		dropConnection(w)
	}
	s.r.exit(code, timeout)
}

// shutdown exits 0 at once.
func (s *netexecState) shutdown(w http.ResponseWriter, _ *http.Request) {
	s.r.log.logf("GET /shutdown")
	dropConnection(w)
	s.r.exit(0, 0)
}

// dial makes ?tries= requests (?request=, e.g. "hostname") from this pod to
// ?host=:?port= over ?protocol= (http or udp) and answers what came back, as
// {"responses": [...], "errors": [...]}: the e2e tests' way of checking
// pod-to-pod and pod-to-service connectivity.
func (s *netexecState) dial(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	host, port, request, protocol, tryParam := q.Get("host"), q.Get("port"), q.Get("request"), q.Get("protocol"), q.Get("tries")
	s.r.log.logf("GET /dial?host=%s&protocol=%s&port=%s&request=%s&tries=%s", host, protocol, port, request, tryParam)
	tries := 1
	if tryParam != "" {
		var err error
		if tries, err = strconv.Atoi(tryParam); err != nil {
			http.Error(w, fmt.Sprintf("tries parameter is invalid. %v", err), http.StatusBadRequest)
			return
		}
	}
	if request == "" {
		http.Error(w, "request parameter not specified. <nil>", http.StatusBadRequest)
		return
	}
	dialers := map[string]func(context.Context, string, string) (string, error){"": s.dialHTTP, "http": s.dialHTTP, "udp": s.dialUDP}
	dialer, ok := dialers[strings.ToLower(protocol)]
	if !ok {
		http.Error(w, fmt.Sprintf("unsupported protocol. %s", protocol), http.StatusBadRequest)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || host == "" {
		http.Error(w, fmt.Sprintf("host and/or port param are invalid. %v", fmt.Errorf("address %s: invalid", net.JoinHostPort(host, port))), http.StatusBadRequest)
		return
	}
	var responses, errs []string
	var response string
	for range tries {
		var err error
		response, err = dialer(req.Context(), net.JoinHostPort(host, port), request)
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			responses = append(responses, response)
		}
	}
	output := map[string][]string{}
	if len(response) > 0 { // as upstream: only when the last try answered
		output["responses"] = responses
	}
	if len(errs) > 0 {
		output["errors"] = errs
	}
	b, _ := json.Marshal(output)
	fmt.Fprint(w, string(b))
}

var errNoDialer = errors.New("minilab: this pod cannot open connections")

func (s *netexecState) dialHTTP(ctx context.Context, addr, request string) (string, error) {
	if s.pod.Dial == nil {
		return "", errNoDialer
	}
	transport := &http.Transport{DialContext: s.pod.Dial, DisableKeepAlives: true}
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/%s", addr, request), nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func (s *netexecState) dialUDP(ctx context.Context, addr, request string) (string, error) {
	if s.pod.Dial == nil {
		return "", errNoDialer
	}
	c, err := s.pod.Dial(ctx, "udp", addr)
	if err != nil {
		return "", fmt.Errorf("udp dial failed. err:%v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(request)); err != nil {
		return "", fmt.Errorf("udp connection write failed. err:%v", err)
	}
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil || n == 0 {
		return "", fmt.Errorf("reading from udp connection failed. err:'%v'", err)
	}
	return string(buf[:n]), nil
}

// udp answers netexec's UDP commands.
func (s *netexecState) udp(c net.PacketConn, msg []byte, from net.Addr) {
	text := strings.ToLower(strings.TrimSpace(string(msg)))
	var reply string
	switch {
	case text == "hostname":
		s.r.log.logf("Sending udp hostName response")
		reply = s.pod.Name
	case strings.HasPrefix(text, "echo "):
		reply = strings.SplitN(text, " ", 2)[1]
		s.r.log.logf("Echoing %v to UDP client %s", reply, from)
	case text == "clientip":
		s.r.log.logf("Sending clientip back to UDP client %s", from)
		reply = from.String()
	default:
		if text != "" {
			s.r.log.logf("Unknown UDP command received from %s: %v", from, text)
		}
		return
	}
	_, _ = c.WriteTo([]byte(reply), from)
}

// serveHostnameCommand is `agnhost serve-hostname`: the pod name, over HTTP
// by default (port 9376), or raw over TCP (--tcp) and/or UDP (--udp) with
// --http=false.
func serveHostnameCommand(fs *flag.FlagSet) func() *Image {
	doTCP := fs.Bool("tcp", false, "Serve raw over TCP.")
	doUDP := fs.Bool("udp", false, "Serve raw over UDP.")
	doHTTP := fs.Bool("http", true, "Serve HTTP.")
	doClose := fs.Bool("close", false, "Close connection per each HTTP request.")
	port := fs.Int("port", 9376, "Port number.")
	return func() *Image {
		if *doHTTP && (*doTCP || *doUDP) {
			return failingImage(1, clock().UTC().Format("2006/01/02 15:04:05 ")+"Can't server TCP/UDP mode and HTTP mode at the same time")
		}
		p := int32(*port)
		var ports []Port
		if *doHTTP || *doTCP {
			ports = append(ports, Port{Port: p, Protocol: "TCP"})
		}
		if *doUDP {
			ports = append(ports, Port{Port: p, Protocol: "UDP"})
		}
		serve := func(ctx context.Context, pod Pod, listeners map[int32]net.Listener) error {
			r := newRun(ctx, pod, listeners)
			if *doTCP {
				r.serveTCP(p, func(c net.Conn) {
					r.log.logf("TCP request from %s", c.RemoteAddr())
					_, _ = c.Write([]byte(pod.Name))
					c.Close()
				})
			}
			if *doUDP {
				r.serveUDP(p, func(c net.PacketConn, _ []byte, from net.Addr) {
					r.log.logf("UDP request from %s", from)
					_, _ = c.WriteTo([]byte(pod.Name), from)
				})
			}
			if *doHTTP {
				r.serveHTTP(p, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					r.log.logf("HTTP request from %s", req.RemoteAddr)
					if *doClose {
						w.Header().Add("Connection", "close")
					}
					fmt.Fprint(w, pod.Name)
				}))
			}
			r.log.logf("Serving on port %d.", p)
			return r.wait()
		}
		return &Image{Ports: ports, Serve: serve}
	}
}

// livenessCommand is `agnhost liveness`, the server of the Kubernetes
// docs' liveness probe example: /healthz answers 200 "ok" for the first 10
// seconds, then 500 "error: <seconds>", so that the kubelet restarts it.
func livenessCommand(*flag.FlagSet) func() *Image {
	return func() *Image {
		serve := func(ctx context.Context, pod Pod, listeners map[int32]net.Listener) error {
			r := newRun(ctx, pod, listeners)
			started := clock()
			mux := http.NewServeMux()
			mux.HandleFunc("/started", func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprint(w, clock().Sub(started).String())
			})
			mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
				d := clock().Sub(started)
				if d.Seconds() > 10 {
					w.WriteHeader(http.StatusInternalServerError)
					fmt.Fprintf(w, "error: %v", d.Seconds())
					return
				}
				fmt.Fprint(w, "ok")
			})
			mux.HandleFunc("/redirect", func(w http.ResponseWriter, req *http.Request) {
				http.Redirect(w, req, req.URL.Query().Get("loc"), http.StatusFound)
			})
			r.serveHTTP(8080, mux)
			return r.wait()
		}
		return &Image{Ports: []Port{{Port: 8080, Protocol: "TCP"}}, Serve: serve}
	}
}
