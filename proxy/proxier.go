// Package proxy is minilab's kube-proxy: one proxier per node, watching
// Services and EndpointSlices and writing the node's packet-filter rules
// the way kube-proxy does. The rules themselves are made by a backend
// (proxy/iptables); this package tracks what changed, builds the backend's
// view of the services for a node, and runs the syncs.
package proxy

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/minilab/minilab/proxy/iptables"
)

// RuleWriter applies rules inside one node: the seam between the proxier's
// logic and the kernel. The real one runs iptables-restore in the node's
// network namespace; tests use a fake that records the payloads.
type RuleWriter interface {
	// Restore feeds payload to `iptables-restore --noflush`.
	Restore(payload []byte) error
	// Save returns `iptables-save -t <table>`.
	Save(table string) ([]byte, error)
}

// NodeInfo is what a proxier knows about its node.
type NodeInfo struct {
	Name        string
	IPs         []netip.Addr
	ClusterCIDR netip.Prefix // the pod network: traffic from outside it to a ClusterIP is masqueraded
}

// Proxier keeps one node's rules in step with the Services and
// EndpointSlices, like kube-proxy's iptables proxier.
type Proxier struct {
	node     NodeInfo
	writer   RuleWriter
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	logf     func(string, ...interface{})

	changed  chan struct{}
	mu       sync.Mutex
	active   []string // nat chains of the last successful sync
	needFull bool     // jump rules and canaries must be (re)written
	syncs    atomic.Int64
	lastErr  atomic.Value
}

// NewProxier returns the proxier of one node. Its handlers are registered
// on the factory's Service and EndpointSlice informers (shared by all
// nodes' proxiers); start the factory afterwards.
func NewProxier(node NodeInfo, writer RuleWriter, factory informers.SharedInformerFactory) *Proxier {
	svc := factory.Core().V1().Services()
	eps := factory.Discovery().V1().EndpointSlices()
	p := &Proxier{
		node: node, writer: writer,
		services: svc.Lister(), slices: eps.Lister(),
		synced:   []cache.InformerSynced{svc.Informer().HasSynced, eps.Informer().HasSynced},
		logf:     log.Printf,
		changed:  make(chan struct{}, 1),
		needFull: true,
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(interface{}) { p.requestSync() },
		UpdateFunc: func(old, cur interface{}) { p.requestSync() },
		DeleteFunc: func(interface{}) { p.requestSync() },
	}
	svc.Informer().AddEventHandler(handler)
	eps.Informer().AddEventHandler(handler)
	return p
}

// requestSync asks for a sync. Requests made while one runs fold into a
// single next sync, so a burst of changes costs one or two restores: the
// event-driven equivalent of kube-proxy's BoundedFrequencyRunner, without
// its one-second minimum interval.
func (p *Proxier) requestSync() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// Run syncs on every change until ctx ends. Nothing is written until both
// informers have synced once, as in kube-proxy.
func (p *Proxier) Run(ctx context.Context) {
	for !allSynced(p.synced) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
	p.requestSync()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.changed:
		case <-retry.C:
		}
		if err := p.Sync(); err != nil {
			p.lastErr.Store(err)
			p.logf("proxier %s: sync failed, retrying: %v", p.node.Name, err)
			retry.Reset(time.Second)
		}
	}
}

func allSynced(fns []cache.InformerSynced) bool {
	for _, f := range fns {
		if !f() {
			return false
		}
	}
	return true
}

// Syncs counts successful syncs (the first one means the node is ready).
func (p *Proxier) Syncs() int64 { return p.syncs.Load() }

// Sync writes the node's rules for the current Services and endpoints.
func (p *Proxier) Sync() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.state()
	if err != nil {
		return err
	}
	rules := iptables.Build(st, nil)
	// Chains the previous sync wrote and this one does not are deleted in
	// the same restore. At the first sync (or after a failure) the kernel
	// is asked, with iptables-save, what exists.
	var stale []string
	if p.needFull {
		out, err := p.writer.Save("nat")
		if err != nil {
			return err
		}
		stale = iptables.StaleChains(out, rules.NATChains)
	} else {
		stale = missing(p.active, rules.NATChains)
	}
	if len(stale) > 0 {
		rules = iptables.Build(st, stale)
	}
	if err := p.writer.Restore(rules.Payload); err != nil {
		p.needFull = true
		return err
	}
	if p.needFull {
		// The jumps from the built-in chains, and the canaries, are written
		// once the chains they point at exist.
		if err := p.writer.Restore(jumpPayload()); err != nil {
			return err
		}
		p.needFull = false
	}
	p.active = rules.NATChains
	p.syncs.Add(1)
	return nil
}

// missing returns the kube-proxy chains of before that are not in now.
func missing(before, now []string) []string {
	keep := map[string]bool{}
	for _, c := range now {
		keep[c] = true
	}
	var out []string
	for _, c := range before {
		if !keep[c] && iptables.OwnedChain(c) {
			out = append(out, c)
		}
	}
	return out
}

// jumpPayload installs the jumps from the built-in chains into
// kube-proxy's chains (kube-proxy prepends them with `iptables -I`, so they
// come first) and the KUBE-PROXY-CANARY chains.
func jumpPayload() []byte {
	byTable := map[string][]iptables.JumpRule{}
	var tables []string
	for _, j := range iptables.JumpRules() {
		if _, ok := byTable[j.Table]; !ok {
			tables = append(tables, j.Table)
		}
		byTable[j.Table] = append(byTable[j.Table], j)
	}
	if _, ok := byTable["mangle"]; !ok {
		tables = append(tables, "mangle")
	}
	var b []byte
	for _, t := range tables {
		b = append(b, "*"+t+"\n"...)
		b = append(b, ":KUBE-PROXY-CANARY - [0:0]\n"...)
		for _, j := range byTable[t] {
			b = append(b, "-I "+j.Chain+" 1 "+quoteArgs(j.Args)+"\n"...)
		}
		b = append(b, "COMMIT\n"...)
	}
	return b
}

func quoteArgs(args []string) string {
	out := ""
	for i, a := range args {
		if i > 0 {
			out += " "
		}
		if needsQuote(a) {
			out += fmt.Sprintf("%q", a)
		} else {
			out += a
		}
	}
	return out
}

func needsQuote(s string) bool {
	for _, r := range s {
		if r == ' ' || r == '"' || r == '\'' {
			return true
		}
	}
	return s == ""
}

// state builds the backend's view of the services for this node.
func (p *Proxier) state() (*iptables.State, error) {
	services, err := p.services.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	slices, err := p.slices.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return BuildState(p.node, services, slices), nil
}

// BuildState turns Services and EndpointSlices into the per-port view the
// rules are written from (kube-proxy's ServicePortMap and EndpointsMap).
func BuildState(node NodeInfo, services []*corev1.Service, slices []*discoveryv1.EndpointSlice) *iptables.State {
	st := iptables.NewState(node.Name)
	st.NodeIPs, st.ClusterCIDR = node.IPs, node.ClusterCIDR
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range slices {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" || s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		bySvc[s.Namespace+"/"+name] = append(bySvc[s.Namespace+"/"+name], s)
	}
	for _, svc := range services {
		clusterIP, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue // headless and ExternalName Services get no rules
		}
		for _, port := range svc.Spec.Ports {
			name := iptables.ServicePortName{Namespace: svc.Namespace, Name: svc.Name, Port: port.Name, Protocol: port.Protocol}
			sp := &iptables.ServicePort{
				Name: name, ClusterIP: clusterIP, Port: port.Port, NodePort: port.NodePort,
				ExternalPolicyLocal: svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
				InternalPolicyLocal: svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal,
				HealthCheckNodePort: svc.Spec.HealthCheckNodePort,
			}
			for _, ip := range svc.Spec.ExternalIPs {
				if a, err := netip.ParseAddr(ip); err == nil {
					sp.ExternalIPs = append(sp.ExternalIPs, a)
				}
			}
			if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
				for _, ing := range svc.Status.LoadBalancer.Ingress {
					if ing.IPMode != nil && *ing.IPMode == corev1.LoadBalancerIPModeProxy {
						continue
					}
					if a, err := netip.ParseAddr(ing.IP); err == nil {
						sp.LoadBalancerIPs = append(sp.LoadBalancerIPs, a)
					}
				}
				for _, r := range svc.Spec.LoadBalancerSourceRanges {
					if pfx, err := netip.ParsePrefix(r); err == nil {
						sp.LoadBalancerSourceRanges = append(sp.LoadBalancerSourceRanges, pfx.Masked())
					}
				}
			}
			if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
				sp.ClientIPAffinitySeconds = corev1.DefaultClientIPServiceAffinitySeconds
				if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
					sp.ClientIPAffinitySeconds = *c.ClientIP.TimeoutSeconds
				}
			}
			st.Services[name] = sp
			st.Endpoints[name] = endpointsFor(port, bySvc[svc.Namespace+"/"+svc.Name])
		}
	}
	return st
}

// endpointsFor collects a service port's endpoints from its slices: slice
// ports match service ports by name and protocol. Missing conditions mean
// ready (and serving) and not terminating, per the EndpointSlice API.
func endpointsFor(port corev1.ServicePort, slices []*discoveryv1.EndpointSlice) []iptables.Endpoint {
	seen := map[string]bool{}
	var out []iptables.Endpoint
	for _, s := range slices {
		for _, sp := range s.Ports {
			name, proto := "", corev1.ProtocolTCP
			if sp.Name != nil {
				name = *sp.Name
			}
			if sp.Protocol != nil {
				proto = *sp.Protocol
			}
			if name != port.Name || proto != port.Protocol || sp.Port == nil {
				continue
			}
			for _, ep := range s.Endpoints {
				ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
				serving := ready
				if ep.Conditions.Serving != nil {
					serving = *ep.Conditions.Serving
				}
				terminating := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
				node := ""
				if ep.NodeName != nil {
					node = *ep.NodeName
				}
				for _, a := range ep.Addresses {
					ip, err := netip.ParseAddr(a)
					if err != nil {
						continue
					}
					key := fmt.Sprintf("%s:%d", ip, *sp.Port)
					if seen[key] {
						continue
					}
					seen[key] = true
					out = append(out, iptables.Endpoint{IP: ip, Port: *sp.Port, NodeName: node, Ready: ready, Serving: serving, Terminating: terminating})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].IP.Compare(out[j].IP); c != 0 {
			return c < 0
		}
		return out[i].Port < out[j].Port
	})
	return out
}
