package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// HealthServer is a node's kube-proxy health checking, served inside the
// node so that load balancers reach it at nodeIP:port:
//   - for every Service with externalTrafficPolicy Local, an HTTP server on
//     its healthCheckNodePort answering how many of its endpoints run on
//     this node: 200 when some do, 503 when none does. A cloud load balancer
//     sends traffic only to nodes answering 200, which is how client source
//     IPs can be kept without dropping connections;
//   - the proxy's own health on port 10256 (/healthz, /livez), which load
//     balancers check for Services with externalTrafficPolicy Cluster.
type HealthServer struct {
	ns   Netns
	node string

	mu       sync.Mutex
	services map[int32]*serviceHealth // by health-check node port
	healthz  *http.Server
	lastSync time.Time
}

// ProxyHealthPort is kube-proxy's --healthz-bind-address port.
const ProxyHealthPort = 10256

type serviceHealth struct {
	name   types.NamespacedName
	local  int
	server *http.Server
}

// NewHealthServer returns a node's health server; call Start to serve the
// proxy's /healthz.
func NewHealthServer(ns Netns, node string) *HealthServer {
	return &HealthServer{ns: ns, node: node, services: map[int32]*serviceHealth{}}
}

// listen opens a TCP listener inside the node.
func (h *HealthServer) listen(port int32) (net.Listener, error) {
	var l net.Listener
	err := h.ns.Do(func() error {
		var err error
		l, err = net.Listen("tcp4", ":"+strconv.Itoa(int(port)))
		return err
	})
	return l, err
}

// Start serves /healthz and /livez on port 10256.
func (h *HealthServer) Start() error {
	l, err := h.listen(ProxyHealthPort)
	if err != nil {
		return fmt.Errorf("kube-proxy health port %d on %s: %w", ProxyHealthPort, h.node, err)
	}
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		last := h.lastSync
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		healthy := !last.IsZero()
		if !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(map[string]interface{}{
			"lastUpdated": last.UTC().Format(time.RFC3339Nano), "currentTime": time.Now().UTC().Format(time.RFC3339Nano), "nodeEligible": true,
		})
	}
	mux.HandleFunc("/healthz", answer)
	mux.HandleFunc("/livez", answer)
	h.healthz = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go h.healthz.Serve(l)
	return nil
}

// Sync opens and closes health-check servers for the given Services (by
// health-check node port) and records their local endpoint counts.
func (h *HealthServer) Sync(ports map[types.NamespacedName]int32, local map[types.NamespacedName]int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastSync = time.Now()
	wanted := map[int32]types.NamespacedName{}
	for name, port := range ports {
		wanted[port] = name
	}
	for port, s := range h.services {
		if name, ok := wanted[port]; !ok || name != s.name {
			s.server.Shutdown(context.Background())
			delete(h.services, port)
		}
	}
	var firstErr error
	for port, name := range wanted {
		s, ok := h.services[port]
		if !ok {
			l, err := h.listen(port)
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("health check node port %d for %s: %w", port, name, err)
				}
				continue
			}
			s = &serviceHealth{name: name}
			s.server = &http.Server{Handler: h.serviceHandler(port), ReadHeaderTimeout: 5 * time.Second}
			h.services[port] = s
			go s.server.Serve(l)
		}
		s.local = local[name]
	}
	return firstErr
}

// serviceHandler answers a health check as kube-proxy's service health
// server does: the same headers and JSON body.
func (h *HealthServer) serviceHandler(port int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		s := h.services[port]
		var name types.NamespacedName
		count := 0
		if s != nil {
			name, count = s.name, s.local
		}
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Load-Balancing-Endpoint-Weight", strconv.Itoa(count))
		if count > 0 {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintf(w, "{\n\t\"service\": {\n\t\t\"namespace\": %q,\n\t\t\"name\": %q\n\t},\n\t\"localEndpoints\": %d,\n\t\"serviceProxyHealthy\": true\n}", name.Namespace, name.Name, count)
	})
}

// Close stops every server.
func (h *HealthServer) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for port, s := range h.services {
		s.server.Close()
		delete(h.services, port)
	}
	if h.healthz != nil {
		h.healthz.Close()
	}
}
