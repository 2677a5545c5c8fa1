// Package apiserver is minilab's Kubernetes API server: the HTTPS endpoint
// that real kubectl and client-go talk to, unmodified.
//
// A request goes through the same stages as in kube-apiserver, each in its
// own file: authentication (auth.go), reading the path (requestinfo.go),
// discovery (discovery.go) and OpenAPI (openapi_spec.go) for clients that
// look around first, decoding the body (codec.go), and the REST operations
// (rest.go: create, get, list, update, patch, delete; watch.go; apply.go),
// which default, validate and allocate before they write to the store.
// Responses are converted to server-side Tables for kubectl get (tables.go).
// The pods/log and pods/exec subresources (logs.go, exec.go) hand the
// request to the node agent that runs the pod (podruntime.go), exec over the
// streaming protocols of package remotecommand.
package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"

	"github.com/minilab/minilab/apiserver/allocator"
	"github.com/minilab/minilab/apiserver/registry"
	"github.com/minilab/minilab/store"
)

// Config configures one lab's API server.
type Config struct {
	// DataDir holds state.db, the PKI and the admin token.
	DataDir string
	// BindAddress and Port are where HTTPS is served; Port 0 picks a free port.
	BindAddress string
	Port        int
	// ServiceCIDR is where ClusterIPs come from; its first address is the
	// `kubernetes` Service's.
	ServiceCIDR string
	// NodePortRange is where node ports come from, "30000-32767".
	NodePortRange string
	// AdvertiseAddress is the API server's address as pods see it: the
	// endpoint of the `kubernetes` Service (the control-plane node's IP).
	AdvertiseAddress net.IP
	// ExtraSANs are further IPs put into the serving certificate.
	ExtraSANs []net.IP
	// Logf logs; nil logs to the standard logger.
	Logf func(format string, args ...interface{})
	// StoreOptions tune the store (history size; NoSync for benchmarks).
	StoreOptions store.Options
	// PodRuntime serves pods/log and pods/exec (the node agents); nil
	// refuses them.
	PodRuntime PodRuntime
	// Metrics, if set, is served at /metrics (Prometheus text), like
	// kube-apiserver's; the lab puts its proxies' metrics there.
	Metrics http.Handler
}

// Server is one lab's API server.
type Server struct {
	cfg   Config
	store *store.Store
	reg   *registry.Registry
	token string
	pki   *PKI

	openapi    *openAPIDocs
	serviceIPs *allocator.IPRange
	nodePorts  allocator.PortRange
	// serviceMu serialises Service writes, so that an allocated ClusterIP
	// or node port is stored before anyone else looks for a free one.
	serviceMu    sync.Mutex
	serviceIndex *allocationIndex

	apply     *applyManagers
	discovery discoveryDocs

	handler http.Handler
	// stopping ends every request context (open watches above all) when
	// the server shuts down, so that clients reconnect at once.
	stopping context.Context
	stop     context.CancelFunc
	local    *pipeListener
	listener net.Listener
	extra    []net.Listener
	servers  []*http.Server
	started  time.Time
	logf     func(format string, args ...interface{})
}

// New opens the store, loads or creates the PKI and token, and creates the
// objects every cluster starts with. It does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.BindAddress == "" {
		cfg.BindAddress = "127.0.0.1"
	}
	if cfg.ServiceCIDR == "" {
		cfg.ServiceCIDR = "10.96.0.0/12"
	}
	if cfg.NodePortRange == "" {
		cfg.NodePortRange = "30000-32767"
	}
	s := &Server{cfg: cfg, reg: registry.New(), logf: cfg.Logf, started: time.Now()}
	s.stopping, s.stop = context.WithCancel(context.Background())
	if s.logf == nil {
		s.logf = log.Printf
	}
	var err error
	if s.serviceIPs, err = allocator.NewIPRange(cfg.ServiceCIDR); err != nil {
		return nil, err
	}
	if s.nodePorts, err = allocator.ParsePortRange(cfg.NodePortRange); err != nil {
		return nil, err
	}
	bind := net.ParseIP(cfg.BindAddress)
	if bind == nil {
		return nil, fmt.Errorf("--api-address %q is not an IP address", cfg.BindAddress)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	first, _ := s.serviceIPs.Nth(1)
	sans := append([]net.IP{net.ParseIP("127.0.0.1"), bind, net.IP(first.AsSlice())}, cfg.ExtraSANs...)
	if cfg.AdvertiseAddress != nil {
		sans = append(sans, cfg.AdvertiseAddress)
	}
	if s.pki, err = EnsurePKI(filepath.Join(cfg.DataDir, "pki"), sans, nil); err != nil {
		return nil, err
	}
	if s.token, err = LoadOrCreateToken(filepath.Join(cfg.DataDir, "token")); err != nil {
		return nil, err
	}
	if s.store, err = store.Open(filepath.Join(cfg.DataDir, "state.db"), cfg.StoreOptions); err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	s.serviceIndex = newAllocationIndex()
	if err := s.loadServiceIndex(); err != nil {
		s.store.Close()
		return nil, fmt.Errorf("reading the stored Services: %w", err)
	}
	s.openapi = &openAPIDocs{reg: s.reg}
	s.apply = newApplyManagers(s.openapi)
	s.handler = s.buildHandler()
	if err := s.bootstrap(); err != nil {
		s.store.Close()
		return nil, fmt.Errorf("creating the default objects: %w", err)
	}
	return s, nil
}

func (s *Server) buildHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/version", s.serveVersion)
	if s.cfg.Metrics != nil {
		mux.Handle("/metrics", s.cfg.Metrics)
	}
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		mux.HandleFunc(p, s.serveHealth)
		mux.HandleFunc(p+"/", s.serveHealth)
	}
	s.openapi.register(mux)
	mux.HandleFunc("/api", s.serveAPI)
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/apis", s.serveAPI)
	mux.HandleFunc("/apis/", s.serveAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, notFoundPath())
	})
	return mux
}

// Listen opens the HTTPS listener (so that the port is known and taken
// before the caller reports the lab as up).
func (s *Server) Listen() error {
	addr := net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(s.cfg.Port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		var se *os.SyscallError
		if errors.As(err, &se) && errors.Is(se.Err, syscall.EADDRINUSE) {
			return fmt.Errorf("cannot serve the API on %s: the port is in use (another lab? pick another with --api-port)", addr)
		}
		return fmt.Errorf("cannot serve the API on %s: %w", addr, err)
	}
	s.listener = l
	s.local = newPipeListener()
	return nil
}

// Serve serves HTTPS and the in-process listener until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	if s.listener == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	tlsConfig := &tls.Config{
		Certificates: []tls.Certificate{s.pki.Serving},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	external := &http.Server{
		Handler:           s.authenticate(false, s.handler),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(discardTLSNoise{s.logf}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return s.stopping },
	}
	internal := &http.Server{Handler: s.authenticate(true, s.handler), ReadHeaderTimeout: 30 * time.Second,
		BaseContext: func(net.Listener) context.Context { return s.stopping }}
	s.servers = []*http.Server{external, internal}
	errc := make(chan error, 2)
	go func() { errc <- external.Serve(tls.NewListener(s.listener, tlsConfig)) }()
	for _, l := range s.extra {
		l := l
		go func() { errc <- external.Serve(tls.NewListener(l, tlsConfig)) }()
	}
	go func() { errc <- internal.Serve(s.local) }()
	go s.runMaintenance(ctx)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// Shutdown stops serving (ending open watches) and closes the store.
func (s *Server) Shutdown() {
	s.stop()
	for _, srv := range s.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(ctx)
		cancel()
		srv.Close()
	}
	if s.local != nil {
		s.local.Close()
	}
	if s.listener != nil {
		s.listener.Close()
	}
	s.store.Close()
}

// AddListener serves HTTPS on one more listener from Serve on: the API as
// pods reach it, at the control-plane node's address behind the
// `kubernetes` Service (opened inside that node's network namespace).
func (s *Server) AddListener(l net.Listener) { s.extra = append(s.extra, l) }

// Addr returns the HTTPS address, e.g. 127.0.0.1:6443.
func (s *Server) Addr() string {
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// URL returns the HTTPS URL of the API.
func (s *Server) URL() string { return "https://" + s.Addr() }

// Token returns the admin bearer token.
func (s *Server) Token() string { return s.token }

// CAPEM returns the lab CA certificate in PEM form.
func (s *Server) CAPEM() []byte { return s.pki.CAPEM }

// Store exposes the store (for tests and tools).
func (s *Server) Store() *store.Store { return s.store }

// LoopbackConfig returns a client-go configuration for the lab's own
// controllers: it reaches the API in-process, with full rights.
func (s *Server) LoopbackConfig() *rest.Config {
	return &rest.Config{
		Host:  "http://minilab.local",
		Dial:  s.local.DialContext,
		QPS:   -1, // no client-side rate limit: the server is in the same process
		Burst: -1,
	}
}

// discardTLSNoise drops the "TLS handshake error" lines that every port
// scanner or curl without -k would otherwise print into the lab's log.
type discardTLSNoise struct{ logf func(string, ...interface{}) }

func (d discardTLSNoise) Write(p []byte) (int, error) {
	if len(p) > 0 && !strings.Contains(string(p), "TLS handshake error") {
		d.logf("%s", p)
	}
	return len(p), nil
}
