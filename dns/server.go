package dns

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Config configures the cluster DNS server.
type Config struct {
	Zone            string                // cluster domain, "cluster.local" when empty
	TTL             uint32                // answer TTL; 0 means 30 (kubeadm's "ttl 30")
	Upstreams       []string              // "host:port" resolvers for names outside the zones; empty → SERVFAIL for them
	UpstreamTimeout time.Duration         // per upstream attempt, 2s when zero (CoreDNS forward's read timeout)
	Metrics         prometheus.Registerer // optional extra registry for the coredns_dns_* metrics
}

const (
	defaultZone    = "cluster.local"
	defaultTTL     = 30
	defaultTimeout = 2 * time.Second
)

// Server answers DNS queries from a view of Services, EndpointSlices and
// Namespaces kept by informers. Pods are not watched: "pods insecure"
// answers pod names from the name alone.
type Server struct {
	zone      string   // the cluster zone, lowercase FQDN
	zones     []string // zone, then the reverse zones
	ttl       uint32
	upstreams []string
	timeout   time.Duration
	ix        *index
	metrics   *metrics
	localIPs  atomic.Pointer[[]netip.Addr] // addresses Serve listens on (NS fallback glue)
}

// New builds the server and registers its informer handlers on factory.
// The caller starts the factory; until the informers have synced, names
// that would get NXDOMAIN get SERVFAIL instead, as in CoreDNS.
func New(cfg Config, factory informers.SharedInformerFactory) *Server {
	zone := cfg.Zone
	if zone == "" {
		zone = defaultZone
	}
	zone = dns.Fqdn(strings.ToLower(zone))
	s := &Server{
		zone:      zone,
		zones:     []string{zone, "in-addr.arpa.", "ip6.arpa."},
		ttl:       cfg.TTL,
		upstreams: append([]string(nil), cfg.Upstreams...),
		timeout:   cfg.UpstreamTimeout,
		ix:        newIndex(),
		metrics:   newMetrics(cfg.Metrics),
	}
	if s.ttl == 0 {
		s.ttl = defaultTTL
	}
	if s.timeout <= 0 {
		s.timeout = defaultTimeout
	}
	handlers := []struct {
		informer cache.SharedIndexInformer
		handler  cache.ResourceEventHandler
	}{
		{factory.Core().V1().Namespaces().Informer(), s.ix.namespaceHandler()},
		{factory.Core().V1().Services().Informer(), s.ix.serviceHandler()},
		{factory.Discovery().V1().EndpointSlices().Informer(), s.ix.sliceHandler()},
	}
	for _, h := range handlers {
		if reg, err := h.informer.AddEventHandler(h.handler); err == nil {
			s.ix.registrations = append(s.ix.registrations, reg)
		}
	}
	return s
}

// HasSynced reports whether the initial list of every informer has been
// delivered to the index.
func (s *Server) HasSynced() bool { return s.ix.hasSynced() }

// client is what the reply depends on about who asked and how.
type client struct {
	tcp    bool
	family int    // 1 for IPv4, 2 for IPv6 (CoreDNS's metric label values)
	size   int    // the reply size limit: 512, the EDNS buffer size, or 65535 on TCP
	do     bool   // DNSSEC OK bit of the request
	proto  string // "udp" or "tcp"
}

// clientOf describes the asker from how it asked and its request.
func clientOf(tcp, ipv6 bool, r *dns.Msg) client {
	c := client{tcp: tcp, family: 1, size: dns.MinMsgSize, proto: "udp"}
	if ipv6 {
		c.family = 2
	}
	if o := ednsOf(r); o != nil {
		c.do = o.Do()
		if int(o.UDPSize()) > c.size {
			c.size = int(o.UDPSize())
		}
	}
	if tcp {
		c.proto, c.size = "tcp", dns.MaxMsgSize
	}
	return c
}

// transportOf reads the transport and address family off a peer address.
func transportOf(remote net.Addr) (tcp, ipv6 bool) {
	var ip net.IP
	switch a := remote.(type) {
	case *net.TCPAddr:
		tcp, ip = true, a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	return tcp, ip != nil && ip.To4() == nil
}

// ednsOf is r.IsEdns0 that tolerates a nil request or nil records.
func ednsOf(r *dns.Msg) *dns.OPT {
	if r == nil {
		return nil
	}
	for i := len(r.Extra) - 1; i >= 0; i-- {
		if o, ok := r.Extra[i].(*dns.OPT); ok {
			return o
		}
	}
	return nil
}

// ServeDNS implements dns.Handler: every request gets exactly one reply.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	start := time.Now()
	tcp, ipv6 := transportOf(w.RemoteAddr())
	c := clientOf(tcp, ipv6, r)
	m, plugin := s.reply(context.Background(), c, r)
	_ = w.WriteMsg(m)
	s.metrics.observe(c, r, m, plugin, start)
}

// reply builds the finished reply. A panic anywhere on the way becomes a
// bare SERVFAIL, as CoreDNS's server recovers from plugin panics.
func (s *Server) reply(ctx context.Context, c client, r *dns.Msg) (m *dns.Msg, plugin string) {
	defer func() {
		if recover() != nil {
			m, plugin = replyRcode(r, dns.RcodeServerFailure), ""
		}
	}()
	m, plugin = s.handle(ctx, c, r)
	s.finish(r, m, c)
	return m, plugin
}

// handle produces the reply for r and names the CoreDNS plugin that would
// have written it (the responses_total "plugin" label).
func (s *Server) handle(ctx context.Context, c client, r *dns.Msg) (*dns.Msg, string) {
	if r == nil || len(r.Question) == 0 {
		return replyRcode(r, dns.RcodeServerFailure), ""
	}
	if o := r.IsEdns0(); o != nil && o.Version() != 0 {
		// RFC 6891: only EDNS version 0 exists.
		return replyRcode(r, dns.RcodeBadVers), ""
	}
	if r.Opcode != dns.OpcodeQuery {
		return replyRcode(r, dns.RcodeNotImplemented), ""
	}
	q := r.Question[0]
	zm, ok := matchZone(q.Name, lowerASCII(q.Name), s.zones)
	if !ok {
		return s.forward(ctx, c, r), "forward"
	}
	a, err, refused := s.answerZone(ctx, c, zm, q)
	switch {
	case refused:
		// Zone transfers need CoreDNS's transfer plugin, which kubeadm does not configure.
		return replyRcode(r, dns.RcodeRefused), "kubernetes"
	case err != nil:
		// "fallthrough in-addr.arpa ip6.arpa": reverse names the cluster
		// does not know go on to forward.
		if zm.reverse && len(s.upstreams) > 0 {
			return s.forward(ctx, c, r), "forward"
		}
		if !s.HasSynced() {
			return s.negative(r, dns.RcodeServerFailure, zm.spelled), "kubernetes"
		}
		return s.negative(r, dns.RcodeNameError, zm.spelled), "kubernetes"
	case len(a.records) == 0:
		return s.negative(r, dns.RcodeSuccess, zm.spelled), "kubernetes" // NODATA
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Truncated = a.truncated
	m.Answer = a.records
	m.Extra = a.extra
	return m, "kubernetes"
}

// answerZone dispatches on the query type like the kubernetes plugin's
// ServeDNS. Types without a handler of their own only decide between
// NODATA and NXDOMAIN, by looking the name up as if for A.
func (s *Server) answerZone(ctx context.Context, c client, zm zoneMatch, q dns.Question) (a answer, err error, refused bool) {
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		return a, nil, true
	case dns.TypeA, dns.TypeAAAA:
		a, err = s.addresses(ctx, c, zm, q.Name, q.Qtype, 0)
	case dns.TypeTXT:
		a, err = s.txt(zm, q.Name)
	case dns.TypeCNAME:
		a, err = s.cname(zm, q.Name)
	case dns.TypePTR:
		a, err = s.ptr(zm, q.Name)
	case dns.TypeSRV:
		a, err = s.srv(zm, q.Name)
	case dns.TypeSOA:
		// Only the apex has a SOA; below it CoreDNS answers NODATA even for
		// names that do not exist.
		if zm.base == "" {
			a.records = []dns.RR{s.soa(zm.spelled)}
		}
	case dns.TypeNS:
		if zm.base == "" {
			a = s.ns(zm, q.Name)
			break
		}
		_, err = s.services(zm, dns.TypeA)
	default:
		_, err = s.services(zm, dns.TypeA)
	}
	return a, err, false
}

// Serve answers on already-opened sockets (either may be nil) until ctx
// ends, then closes them. UDP is served by udpServer, TCP by miekg's
// server (one goroutine per connection, like CoreDNS).
func (s *Server) Serve(ctx context.Context, udp net.PacketConn, tcp net.Listener) error {
	if udp == nil && tcp == nil {
		return errors.New("dns: Serve needs a UDP or a TCP socket")
	}
	var ips []netip.Addr
	if udp != nil {
		ips = appendListenIP(ips, udp.LocalAddr())
	}
	if tcp != nil {
		ips = appendListenIP(ips, tcp.Addr())
	}
	s.localIPs.Store(&ips)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	running := 0
	if udp != nil {
		running++
		go func() { errc <- s.serveUDP(ctx, udp) }()
	}
	if tcp != nil {
		running++
		go func() { errc <- s.serveTCP(ctx, tcp) }()
	}
	var first error
	for ; running > 0; running-- {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel() // one socket failed: stop the other too
		}
	}
	return first
}

func (s *Server) serveTCP(ctx context.Context, ln net.Listener) error {
	srv := &dns.Server{Listener: ln, Handler: s}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	errc := make(chan error, 1)
	go func() { errc <- srv.ActivateAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Shutdown only works on a started server.
	select {
	case <-started:
		_ = srv.Shutdown()
		return <-errc
	case err := <-errc:
		return err
	}
}

func appendListenIP(ips []netip.Addr, a net.Addr) []netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok || addr.IsUnspecified() {
		return ips
	}
	addr = addr.Unmap()
	if containsAddr(ips, addr) {
		return ips
	}
	return append(ips, addr)
}

// MetricsHandler serves what CoreDNS serves on its side ports: Prometheus
// text on /metrics (the prometheus plugin, :9153), "OK" on /health (the
// health plugin, :8080) and /ready, which answers 200 once the informers
// have synced and 503 before (the ready plugin, :8181).
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metrics.handler())
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("OK"))
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !s.HasSynced() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("kubernetes"))
			return
		}
		_, _ = w.Write([]byte("OK"))
	})
	return mux
}
