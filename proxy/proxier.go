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
	"k8s.io/apimachinery/pkg/types"
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
	// Run runs `iptables <args>` (the canary checks).
	Run(args ...string) error
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
	metrics  *Metrics
	health   *HealthServer

	// SyncPeriod is how often the canary is checked (kube-proxy's
	// --iptables-sync-period, 30 s); FullSyncPeriod bounds the time between
	// full syncs (an hour, as kube-proxy's runner).
	SyncPeriod     time.Duration
	FullSyncPeriod time.Duration

	changed chan struct{}

	// Changes since the last successful sync, by Service: kube-proxy's
	// service and endpoints change trackers reduced to "which Services".
	trackMu   sync.Mutex
	pending   map[types.NamespacedName]time.Time // → when the change was first seen
	needFull  bool                               // start, failure, canary gone, or period over
	lastFull  atomic.Int64                       // unix nanoseconds of the last full sync
	syncMu    sync.Mutex
	active    []string // nat chains of the last successful sync
	syncs     atomic.Int64
	fullSyncs atomic.Int64
}

// NewProxier returns the proxier of one node. Its handlers are registered
// on the factory's Service and EndpointSlice informers (shared by all
// nodes' proxiers); start the factory afterwards. metrics and health may be
// nil.
func NewProxier(node NodeInfo, writer RuleWriter, factory informers.SharedInformerFactory, metrics *Metrics, health *HealthServer) *Proxier {
	svc := factory.Core().V1().Services()
	eps := factory.Discovery().V1().EndpointSlices()
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	p := &Proxier{
		node: node, writer: writer,
		services: svc.Lister(), slices: eps.Lister(),
		synced:         []cache.InformerSynced{svc.Informer().HasSynced, eps.Informer().HasSynced},
		logf:           log.Printf,
		metrics:        metrics,
		health:         health,
		SyncPeriod:     30 * time.Second,
		FullSyncPeriod: time.Hour,
		changed:        make(chan struct{}, 1),
		pending:        map[types.NamespacedName]time.Time{},
		needFull:       true,
	}
	onService := func(obj interface{}) {
		if svc, ok := deletedObject(obj).(*corev1.Service); ok {
			p.serviceChanged(types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}, time.Time{})
		}
	}
	onSlice := func(obj interface{}) {
		if s, ok := deletedObject(obj).(*discoveryv1.EndpointSlice); ok && s.Labels[discoveryv1.LabelServiceName] != "" {
			p.serviceChanged(types.NamespacedName{Namespace: s.Namespace, Name: s.Labels[discoveryv1.LabelServiceName]}, triggerTime(s))
		}
	}
	svc.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onService, UpdateFunc: func(_, cur interface{}) { onService(cur) }, DeleteFunc: onService,
	})
	eps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onSlice, UpdateFunc: func(_, cur interface{}) { onSlice(cur) }, DeleteFunc: onSlice,
	})
	return p
}

func deletedObject(obj interface{}) interface{} {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

// triggerTime is when the change behind an EndpointSlice update happened:
// the endpoints controller's last-change-trigger-time annotation, which
// network programming latency is measured from, as in kube-proxy.
func triggerTime(s *discoveryv1.EndpointSlice) time.Time {
	if v := s.Annotations[corev1.EndpointsLastChangeTriggerTime]; v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t
		}
	}
	return time.Time{}
}

// serviceChanged records that a Service (or its endpoints) changed and asks
// for a sync.
func (p *Proxier) serviceChanged(name types.NamespacedName, at time.Time) {
	if at.IsZero() {
		at = time.Now()
	}
	p.trackMu.Lock()
	if first, ok := p.pending[name]; !ok || at.Before(first) {
		p.pending[name] = at
	}
	p.trackMu.Unlock()
	p.requestSync()
}

// ForceFullSync makes the next sync a full one and asks for it.
func (p *Proxier) ForceFullSync() {
	p.trackMu.Lock()
	p.needFull = true
	p.trackMu.Unlock()
	p.requestSync()
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

// Run syncs on every change until ctx ends, checks the canary every
// SyncPeriod, and forces a full sync every FullSyncPeriod. Nothing is
// written until both informers have synced once, as in kube-proxy.
func (p *Proxier) Run(ctx context.Context) {
	for !allSynced(p.synced) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
	if p.health != nil {
		if err := p.health.Start(); err != nil {
			p.logf("proxier %s: %v", p.node.Name, err)
		}
		defer p.health.Close()
	}
	p.requestSync()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	canary := time.NewTicker(p.SyncPeriod)
	defer canary.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.changed:
		case <-retry.C:
		case <-canary.C:
			if !p.canaryAlive() {
				p.logf("proxier %s: the node's rules were flushed or deleted; writing them again in full", p.node.Name)
				p.ForceFullSync()
			}
			if time.Since(time.Unix(0, p.lastFull.Load())) >= p.FullSyncPeriod {
				p.ForceFullSync()
			}
			continue
		}
		if err := p.Sync(); err != nil {
			p.logf("proxier %s: sync failed, retrying in %v: %v", p.node.Name, p.SyncPeriod, err)
			retry.Reset(p.SyncPeriod)
		}
	}
}

// canaryAlive checks that kube-proxy's rules are still in place: the
// KUBE-PROXY-CANARY chain in mangle (how kube-proxy notices firewalld
// reloads) and the jump into KUBE-SERVICES in nat PREROUTING (which
// `iptables -t nat -F` removes while leaving the chains).
func (p *Proxier) canaryAlive() bool {
	if err := p.writer.Run("-t", "mangle", "-S", "KUBE-PROXY-CANARY"); err != nil {
		return false
	}
	for _, j := range iptables.JumpRules() {
		if j.Table == "nat" && j.Chain == "PREROUTING" {
			if err := p.writer.Run(append([]string{"-t", "nat", "-C", "PREROUTING"}, j.Args...)...); err != nil {
				return false
			}
		}
	}
	return true
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

// FullSyncs counts successful full syncs.
func (p *Proxier) FullSyncs() int64 { return p.fullSyncs.Load() }

// Sync writes the node's rules: in full at start, after a failure, when
// the canary is gone and once per FullSyncPeriod; otherwise only the
// chains of the Services that changed (KEP-3453), with the top-level
// chains rewritten around them.
func (p *Proxier) Sync() (err error) {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	start := time.Now()

	p.trackMu.Lock()
	changes, full := p.pending, p.needFull || time.Since(time.Unix(0, p.lastFull.Load())) >= p.FullSyncPeriod
	p.pending = map[types.NamespacedName]time.Time{}
	p.needFull = false
	p.trackMu.Unlock()
	defer func() {
		if err != nil {
			// The changes were consumed: only a full sync is sure to
			// write them. Put them back for the latency metric.
			p.trackMu.Lock()
			p.needFull = true
			for n, t := range changes {
				if first, ok := p.pending[n]; !ok || t.Before(first) {
					p.pending[n] = t
				}
			}
			p.trackMu.Unlock()
			p.metrics.RestoreFailures.WithLabelValues(p.node.Name).Inc()
			if !full {
				p.metrics.PartialFailures.WithLabelValues(p.node.Name).Inc()
			}
		}
	}()

	st, err := p.state()
	if err != nil {
		return err
	}
	var changedPorts map[iptables.ServicePortName]bool
	if !full {
		changedPorts = map[iptables.ServicePortName]bool{}
		for name := range st.Services {
			if _, ok := changes[types.NamespacedName{Namespace: name.Namespace, Name: name.Name}]; ok {
				changedPorts[name] = true
			}
		}
	}
	rules := iptables.BuildPartial(st, nil, changedPorts)
	// Chains the previous sync wrote and this one does not are deleted in
	// the same restore. On a full sync the kernel is asked, with
	// iptables-save, what exists (after a restart or a flush it knows best).
	var stale []string
	if full {
		out, err := p.writer.Save("nat")
		if err != nil {
			return err
		}
		stale = iptables.StaleChains(out, rules.NATChains)
	} else {
		stale = missing(p.active, rules.NATChains)
	}
	if len(stale) > 0 {
		rules = iptables.BuildPartial(st, stale, changedPorts)
	}
	if err := p.writer.Restore(rules.Payload); err != nil {
		return err
	}
	if full {
		// The jumps from the built-in chains, and the canaries, are written
		// once the chains they point at exist.
		if err := p.writer.Restore(jumpPayload()); err != nil {
			return err
		}
		p.lastFull.Store(time.Now().UnixNano())
		p.fullSyncs.Add(1)
	}
	p.active = rules.NATChains
	p.syncs.Add(1)

	done := time.Now()
	m, node := p.metrics, p.node.Name
	m.SyncDuration.WithLabelValues(node).Observe(done.Sub(start).Seconds())
	if full {
		m.FullSyncDuration.WithLabelValues(node).Observe(done.Sub(start).Seconds())
	} else {
		m.PartialSyncDuration.WithLabelValues(node).Observe(done.Sub(start).Seconds())
	}
	for _, at := range changes {
		m.NetworkProgramming.WithLabelValues(node).Observe(done.Sub(at).Seconds())
	}
	m.LastSync.WithLabelValues(node).Set(float64(done.Unix()))
	m.RulesTotal.WithLabelValues(node, "filter").Set(float64(rules.FilterRules))
	m.RulesTotal.WithLabelValues(node, "nat").Set(float64(rules.NATRules))
	m.RulesLast.WithLabelValues(node, "filter").Set(float64(rules.FilterRules))
	m.RulesLast.WithLabelValues(node, "nat").Set(float64(rules.NATRulesWritten))
	p.syncHealth(st)
	return nil
}

// syncHealth updates the health-check servers: Services with
// externalTrafficPolicy Local and their local ready endpoints, counted by
// address across ports as kube-proxy does.
func (p *Proxier) syncHealth(st *iptables.State) {
	ports := map[types.NamespacedName]int32{}
	local := map[types.NamespacedName]int{}
	noLocalInternal, noLocalExternal := 0, 0
	for name, sp := range st.Services {
		nn := types.NamespacedName{Namespace: name.Namespace, Name: name.Name}
		ips := map[netip.Addr]bool{}
		all := 0
		for _, ep := range st.Endpoints[name] {
			if ep.Ready {
				all++
				if ep.NodeName == p.node.Name {
					ips[ep.IP] = true
				}
			}
		}
		if sp.HealthCheckNodePort != 0 {
			ports[nn] = sp.HealthCheckNodePort
			if len(ips) > local[nn] {
				local[nn] = len(ips)
			}
		}
		if all > 0 && len(ips) == 0 {
			if sp.InternalPolicyLocal {
				noLocalInternal++
			}
			if sp.ExternalPolicyLocal {
				noLocalExternal++
			}
		}
	}
	p.metrics.NoLocalEndpoints.WithLabelValues(p.node.Name, "internal").Set(float64(noLocalInternal))
	p.metrics.NoLocalEndpoints.WithLabelValues(p.node.Name, "external").Set(float64(noLocalExternal))
	if p.health != nil {
		if err := p.health.Sync(ports, local); err != nil {
			p.logf("proxier %s: %v", p.node.Name, err)
		}
	}
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
