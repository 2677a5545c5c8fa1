package images

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// whoamiFlags is traefik/whoami's command line. Flags fall back to the
// WHOAMI_* environment variables, which only Serve sees.
type whoamiFlags struct {
	port, name  string
	portSet     bool // --port given: WHOAMI_PORT_NUMBER is ignored
	verbose     bool
	cert, key   string
	parseErr    error
	parseOutput string
}

// parseWhoamiFlags reads args (the container command and args; a leading
// "/whoami" is the binary itself) the way whoami's flag package does.
func parseWhoamiFlags(args []string) whoamiFlags {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && strings.HasSuffix(args[0], "whoami") {
		args = args[1:]
	}
	var f whoamiFlags
	var out strings.Builder
	fs := flag.NewFlagSet("whoami", flag.ContinueOnError)
	fs.SetOutput(&out)
	fs.StringVar(&f.port, "port", "80", "give me a port number")
	fs.StringVar(&f.name, "name", "", "give me a name")
	fs.BoolVar(&f.verbose, "verbose", false, "Enable verbose logging")
	fs.StringVar(&f.cert, "cert", "", "give me a certificate")
	fs.StringVar(&f.key, "key", "", "give me a key")
	fs.String("cacert", "", "give me a CA chain, enforces mutual TLS")
	f.parseErr = fs.Parse(args)
	f.parseOutput = out.String()
	fs.Visit(func(fl *flag.Flag) { f.portSet = f.portSet || fl.Name == "port" })
	return f
}

// whoami is traefik/whoami (github.com/traefik/whoami): / prints the
// container's hostname and IPs, the client's address and the request as it
// arrived; /api the same as JSON; /health a settable status; /bench and
// /data canned bodies. Port 80, or --port, or $WHOAMI_PORT_NUMBER.
func whoami(_ string, args []string) *Image {
	f := parseWhoamiFlags(args)
	img := &Image{Ports: []Port{{Port: 80, Protocol: "TCP"}}}
	if p, err := strconv.ParseUint(f.port, 10, 16); err == nil && p > 0 {
		img.Ports[0].Port = int32(p)
	}
	if !f.portSet {
		img.portEnv = "WHOAMI_PORT_NUMBER"
	}
	img.Serve = func(ctx context.Context, pod Pod, listeners map[int32]net.Listener) error {
		r := newRun(ctx, pod, listeners)
		if f.parseErr != nil {
			r.log.line(f.parseOutput) // the flag package's error and usage; exit status 2
			return exitWith(pod, listeners, 2)
		}
		if f.cert != "" || f.key != "" {
			r.log.logf("minilab: the built-in traefik/whoami cannot serve TLS (--cert/--key)")
			return exitWith(pod, listeners, 1)
		}
		port := f.port
		if !f.portSet && pod.Env["WHOAMI_PORT_NUMBER"] != "" {
			port = pod.Env["WHOAMI_PORT_NUMBER"]
		}
		name := f.name
		if name == "" {
			name = pod.Env["WHOAMI_NAME"]
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			r.log.logf("Starting up on port %s", port)
			r.log.logf("listen tcp: lookup tcp/%s: unknown port", port)
			return exitWith(pod, listeners, 1)
		}
		w := &whoamiServer{pod: pod, name: name, log: r.log, verbose: f.verbose, health: http.StatusOK}
		r.serveHTTP(int32(n), w.mux())
		r.log.logf("Starting up on port %s", port)
		return r.wait()
	}
	return img
}

type whoamiServer struct {
	pod     Pod
	name    string
	log     *logger
	verbose bool

	mu     sync.Mutex
	health int // the status /health answers, set by POST /health
}

func (s *whoamiServer) mux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/data", s.data)
	mux.HandleFunc("/echo", s.echo)
	mux.HandleFunc("/bench", s.bench)
	mux.HandleFunc("/", s.whoami)
	mux.HandleFunc("/api", s.api)
	mux.HandleFunc("/health", s.healthz)
	if !s.verbose {
		return mux
	}
	// --verbose: one line per request after the response.
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mux.ServeHTTP(w, req)
		s.log.logf(`%s - - [%s] "%s %s %s" - -`, req.RemoteAddr, clock().UTC().Format("02/Jan/2006:15:04:05 -0700"), req.Method, req.URL.Path, req.Proto)
	})
}

// ips are the container's interface addresses in the order
// net.Interfaces lists them: lo (127.0.0.1, ::1), then eth0, IPv4 first.
func (s *whoamiServer) ips() []string {
	ips := []string{"127.0.0.1", "::1"}
	var v4, v6 []string
	for _, ip := range s.pod.IPs {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is6() && !a.Is4In6() {
			v6 = append(v6, ip)
		} else {
			v4 = append(v4, ip)
		}
	}
	return slices.Concat(ips, v4, v6)
}

func (s *whoamiServer) whoami(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	if d, err := time.ParseDuration(q.Get("wait")); err == nil {
		sleepCtx(req.Context(), d)
	}
	if s.name != "" {
		fmt.Fprintln(w, "Name:", s.name)
	}
	fmt.Fprintln(w, "Hostname:", s.pod.Name)
	for _, ip := range s.ips() {
		fmt.Fprintln(w, "IP:", ip)
	}
	fmt.Fprintln(w, "RemoteAddr:", req.RemoteAddr)
	// The request line and headers as Go writes a request: Host, User-Agent,
	// then the other headers sorted, CRLF line ends.
	if err := req.Write(w); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if ok, _ := strconv.ParseBool(q.Get("env")); ok {
		for _, kv := range s.environ() {
			fmt.Fprintln(w, kv)
		}
	}
}

// environ is the container's environment as KEY=value lines.
func (s *whoamiServer) environ() []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=" + s.pod.Name}
	keys := make([]string, 0, len(s.pod.Env))
	for k := range s.pod.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+s.pod.Env[k])
	}
	return env
}

// whoamiData is the JSON of /api.
type whoamiData struct {
	Hostname    string            `json:"hostname,omitempty"`
	IP          []string          `json:"ip,omitempty"`
	Headers     http.Header       `json:"headers,omitempty"`
	URL         string            `json:"url,omitempty"`
	Host        string            `json:"host,omitempty"`
	Method      string            `json:"method,omitempty"`
	Name        string            `json:"name,omitempty"`
	RemoteAddr  string            `json:"remoteAddr,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
}

func (s *whoamiServer) api(w http.ResponseWriter, req *http.Request) {
	data := whoamiData{
		Hostname:   s.pod.Name,
		IP:         s.ips(),
		Headers:    req.Header,
		URL:        req.URL.RequestURI(),
		Host:       req.Host,
		Method:     req.Method,
		Name:       s.name,
		RemoteAddr: req.RemoteAddr,
	}
	if ok, _ := strconv.ParseBool(req.URL.Query().Get("env")); ok {
		data.Environment = map[string]string{}
		for _, kv := range s.environ() {
			k, v, _ := strings.Cut(kv, "=")
			data.Environment[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// healthz answers GET (and anything but POST) with the current status;
// POST sets it from the body, e.g. `curl -X POST -d '500' .../health`.
func (s *whoamiServer) healthz(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodPost {
		var code int
		if err := json.NewDecoder(req.Body).Decode(&code); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.log.printf("Update health check status code [%d]", code)
		s.mu.Lock()
		s.health = code
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	code := s.health
	s.mu.Unlock()
	w.WriteHeader(code)
}

func (s *whoamiServer) bench(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Connection", "keep-alive")
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(w, "1")
}

// whoamiUnits are /data's units of measure.
var whoamiUnits = map[string]int64{"": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}

// data sends ?size=n bytes (?unit=KB|MB|GB|TB) of a fixed pattern.
func (s *whoamiServer) data(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	size, err := strconv.ParseInt(q.Get("size"), 10, 64)
	if err != nil {
		size = 1
	}
	size = max(size, 0) * whoamiUnits[strings.ToLower(q.Get("unit"))]
	if ok, _ := strconv.ParseBool(q.Get("attachment")); ok {
		w.Header().Add("Content-Disposition", "Attachment")
	}
	_, _ = io.Copy(w, &whoamiContent{size: size})
}

// whoamiContent reads size bytes of "|-ABCDEFGHIJKLMNOPQRSTUVWXYZ-ABC...|".
type whoamiContent struct{ size, off int64 }

func (c *whoamiContent) Read(p []byte) (int, error) {
	const charset = "-ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	if c.off >= c.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), c.size-c.off)
	for i := range n {
		pos := c.off + i
		if pos == 0 || pos == c.size-1 {
			p[i] = '|'
		} else {
			p[i] = charset[pos%int64(len(charset))]
		}
	}
	c.off += n
	return int(n), nil
}

// echo is whoami's WebSocket echo, which minilab does not implement: it
// answers every request as the WebSocket library answers a plain HTTP one.
func (s *whoamiServer) echo(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Sec-Websocket-Version", "13")
	http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
	s.log.logf("websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header")
}
