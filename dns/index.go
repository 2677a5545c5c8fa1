package dns

import (
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// serviceKey names a Service (and the EndpointSlices labelled with it).
// Kubernetes names are lowercase DNS labels, so lowercased query labels
// can be used as keys directly.
type serviceKey struct{ namespace, name string }

type serviceKind int

const (
	kindClusterIP    serviceKind = iota // ClusterIP, NodePort, LoadBalancer
	kindHeadless                        // spec.clusterIP: None
	kindExternalName                    // spec.type: ExternalName
)

// portInfo is a Service port or an EndpointSlice port.
type portInfo struct {
	name     string
	protocol string // as the API spells it: TCP, UDP, SCTP
	port     int32  // noPort when the EndpointSlice lists no ports
}

// noPort marks an EndpointSlice without ports: its addresses still answer
// A/AAAA but give no SRV records (CoreDNS uses the same -1 sentinel).
const noPort = -1

// endpointAddr is one published (ready) address of an EndpointSlice.
type endpointAddr struct {
	ip netip.Addr
	// label is the DNS label CoreDNS picks for the endpoint: the slice's
	// hostname field, else the IP with its separators turned into dashes.
	label string
	owner string // "<label>.<service>.<namespace>.svc", its name without the zone
}

// sliceInfo is the part of an EndpointSlice DNS needs.
type sliceInfo struct {
	name      string
	service   serviceKey
	addresses []endpointAddr
	ports     []portInfo
}

// serviceInfo is an immutable view of a Service plus its EndpointSlices.
// It is rebuilt whenever either changes, so readers need no lock once
// they hold a pointer.
type serviceInfo struct {
	key          serviceKey
	owner        string // "<service>.<namespace>.svc", its name without the zone
	kind         serviceKind
	clusterIPs   []netip.Addr
	ports        []portInfo
	externalName string
	slices       []*sliceInfo // sorted by slice name
}

// ptrEntry is one reverse name for an endpoint IP.
type ptrEntry struct {
	slice string // namespace/name of the EndpointSlice that published it
	owner string // "<label>.<service>.<namespace>.svc"
}

// index is the informer-fed view of the cluster that queries read.
type index struct {
	mu            sync.RWMutex
	namespaces    map[string]struct{}
	services      map[serviceKey]*serviceInfo
	rawServices   map[serviceKey]*corev1.Service
	slices        map[serviceKey]map[string]*sliceInfo // by owning Service, then slice name
	sliceOwner    map[string]serviceKey                // namespace/name → owning Service
	clusterIPs    map[netip.Addr][]serviceKey          // reverse lookups of ClusterIPs
	endpointIPs   map[netip.Addr][]ptrEntry            // reverse lookups of ready endpoint IPs
	modified      atomic.Int64                         // unix time of the last Service/EndpointSlice change (SOA serial)
	registrations []cache.ResourceEventHandlerRegistration
}

func newIndex() *index {
	ix := &index{
		namespaces:  map[string]struct{}{},
		services:    map[serviceKey]*serviceInfo{},
		rawServices: map[serviceKey]*corev1.Service{},
		slices:      map[serviceKey]map[string]*sliceInfo{},
		sliceOwner:  map[string]serviceKey{},
		clusterIPs:  map[netip.Addr][]serviceKey{},
		endpointIPs: map[netip.Addr][]ptrEntry{},
	}
	ix.touch()
	return ix
}

func (ix *index) touch() { ix.modified.Store(time.Now().Unix()) }

// serial is the SOA serial: like CoreDNS, the time of the last change, not a counter.
func (ix *index) serial() uint32 { return uint32(ix.modified.Load()) }

func (ix *index) hasSynced() bool {
	if len(ix.registrations) == 0 {
		return false
	}
	for _, r := range ix.registrations {
		if !r.HasSynced() {
			return false
		}
	}
	return true
}

// --- reads -------------------------------------------------------------

func (ix *index) namespaceExists(ns string) bool {
	ix.mu.RLock()
	_, ok := ix.namespaces[ns]
	ix.mu.RUnlock()
	return ok
}

func (ix *index) service(ns, name string) *serviceInfo {
	ix.mu.RLock()
	s := ix.services[serviceKey{ns, name}]
	ix.mu.RUnlock()
	return s
}

// reverse returns the names (without zone) that own ip: the first Service
// whose ClusterIP it is, else every ready endpoint carrying it.
func (ix *index) reverse(ip netip.Addr) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if keys := ix.clusterIPs[ip]; len(keys) > 0 {
		return []string{ix.services[keys[0]].owner}
	}
	var names []string
	for _, e := range ix.endpointIPs[ip] {
		names = append(names, e.owner)
	}
	return names
}

// --- informer event handlers -------------------------------------------

func unwrap(obj interface{}) interface{} {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func (ix *index) namespaceHandler() cache.ResourceEventHandler {
	set := func(obj interface{}, present bool) {
		ns, ok := unwrap(obj).(*corev1.Namespace)
		if !ok {
			return
		}
		ix.mu.Lock()
		if present {
			ix.namespaces[ns.Name] = struct{}{}
		} else {
			delete(ix.namespaces, ns.Name)
		}
		ix.mu.Unlock()
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { set(obj, true) },
		UpdateFunc: func(_, obj interface{}) { set(obj, true) },
		DeleteFunc: func(obj interface{}) { set(obj, false) },
	}
}

func (ix *index) serviceHandler() cache.ResourceEventHandler {
	set := func(obj interface{}, present bool) {
		svc, ok := unwrap(obj).(*corev1.Service)
		if !ok {
			return
		}
		key := serviceKey{svc.Namespace, svc.Name}
		ix.mu.Lock()
		if old := ix.rawServices[key]; old != nil {
			ix.dropClusterIPs(key, ix.services[key])
		}
		if present {
			ix.rawServices[key] = svc
		} else {
			delete(ix.rawServices, key)
		}
		ix.rebuild(key)
		if info := ix.services[key]; info != nil {
			for _, ip := range info.clusterIPs {
				ix.clusterIPs[ip] = append(ix.clusterIPs[ip], key)
			}
		}
		ix.mu.Unlock()
		ix.touch()
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { set(obj, true) },
		UpdateFunc: func(_, obj interface{}) { set(obj, true) },
		DeleteFunc: func(obj interface{}) { set(obj, false) },
	}
}

func (ix *index) dropClusterIPs(key serviceKey, info *serviceInfo) {
	if info == nil {
		return
	}
	for _, ip := range info.clusterIPs {
		keys := ix.clusterIPs[ip]
		kept := keys[:0:0]
		for _, k := range keys {
			if k != key {
				kept = append(kept, k)
			}
		}
		if len(kept) == 0 {
			delete(ix.clusterIPs, ip)
		} else {
			ix.clusterIPs[ip] = kept
		}
	}
}

func (ix *index) sliceHandler() cache.ResourceEventHandler {
	set := func(obj interface{}, present bool) {
		es, ok := unwrap(obj).(*discoveryv1.EndpointSlice)
		if !ok {
			return
		}
		id := es.Namespace + "/" + es.Name
		ix.mu.Lock()
		// Forget what the previous version of this slice published.
		if owner, ok := ix.sliceOwner[id]; ok {
			if old := ix.slices[owner][es.Name]; old != nil {
				ix.dropEndpointIPs(id, old)
			}
			delete(ix.slices[owner], es.Name)
			if len(ix.slices[owner]) == 0 {
				delete(ix.slices, owner)
			}
			delete(ix.sliceOwner, id)
			ix.rebuild(owner)
		}
		if present {
			if info := newSliceInfo(es); info != nil {
				if ix.slices[info.service] == nil {
					ix.slices[info.service] = map[string]*sliceInfo{}
				}
				ix.slices[info.service][es.Name] = info
				ix.sliceOwner[id] = info.service
				for _, a := range info.addresses {
					ix.endpointIPs[a.ip] = append(ix.endpointIPs[a.ip], ptrEntry{slice: id, owner: a.owner})
				}
				ix.rebuild(info.service)
			}
		}
		ix.mu.Unlock()
		ix.touch()
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { set(obj, true) },
		UpdateFunc: func(_, obj interface{}) { set(obj, true) },
		DeleteFunc: func(obj interface{}) { set(obj, false) },
	}
}

func (ix *index) dropEndpointIPs(id string, info *sliceInfo) {
	for _, a := range info.addresses {
		entries := ix.endpointIPs[a.ip]
		kept := entries[:0:0]
		for _, e := range entries {
			if e.slice != id {
				kept = append(kept, e)
			}
		}
		if len(kept) == 0 {
			delete(ix.endpointIPs, a.ip)
		} else {
			ix.endpointIPs[a.ip] = kept
		}
	}
}

// rebuild recomputes the immutable serviceInfo for key. Callers hold mu.
func (ix *index) rebuild(key serviceKey) {
	svc := ix.rawServices[key]
	if svc == nil {
		delete(ix.services, key)
		return
	}
	info := &serviceInfo{key: key, owner: serviceOwner(key)}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		info.kind = kindExternalName
		info.externalName = svc.Spec.ExternalName
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		info.kind = kindHeadless
	default:
		info.kind = kindClusterIP
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		for _, s := range ips {
			if ip, err := netip.ParseAddr(s); err == nil {
				info.clusterIPs = append(info.clusterIPs, ip.Unmap())
			}
		}
	}
	for _, p := range svc.Spec.Ports {
		info.ports = append(info.ports, portInfo{name: p.Name, protocol: string(p.Protocol), port: p.Port})
	}
	names := make([]string, 0, len(ix.slices[key]))
	for name := range ix.slices[key] {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		info.slices = append(info.slices, ix.slices[key][name])
	}
	ix.services[key] = info
}

// newSliceInfo keeps the published endpoints of an EndpointSlice. Like
// CoreDNS, an endpoint is published when its ready condition is true or
// unset (the API documents unset as ready); the EndpointSlice controller
// already folds publishNotReadyAddresses and terminating into "ready".
func newSliceInfo(es *discoveryv1.EndpointSlice) *sliceInfo {
	svcName := es.Labels[discoveryv1.LabelServiceName]
	if svcName == "" || es.AddressType == discoveryv1.AddressTypeFQDN {
		return nil
	}
	info := &sliceInfo{name: es.Name, service: serviceKey{es.Namespace, svcName}}
	for _, ep := range es.Endpoints {
		if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
			continue
		}
		hostname := ""
		if ep.Hostname != nil {
			hostname = strings.ToLower(*ep.Hostname)
		}
		for _, a := range ep.Addresses {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				continue
			}
			ip = ip.Unmap()
			label := hostname
			if label == "" {
				label = dashedIP(ip)
			}
			info.addresses = append(info.addresses, endpointAddr{ip: ip, label: label, owner: label + "." + serviceOwner(info.service)})
		}
	}
	for _, p := range es.Ports {
		pi := portInfo{protocol: string(corev1.ProtocolTCP), port: noPort}
		if p.Name != nil {
			pi.name = *p.Name
		}
		if p.Protocol != nil {
			pi.protocol = string(*p.Protocol)
		}
		if p.Port != nil {
			pi.port = *p.Port
		}
		info.ports = append(info.ports, pi)
	}
	if len(info.ports) == 0 {
		info.ports = []portInfo{{port: noPort}}
	}
	return info
}

func serviceOwner(k serviceKey) string { return k.name + "." + k.namespace + "." + labelSvc }

// dashedIP is CoreDNS's fallback endpoint label: 10.244.1.31 → 10-244-1-31,
// fd00:10:244:1::3d → fd00-10-244-1--3d. A trailing dash would not be a valid
// label end, so it gets a 0 (fd00:: → fd00--0).
func dashedIP(ip netip.Addr) string {
	s := ip.String()
	if ip.Is4() {
		return strings.ReplaceAll(s, ".", "-")
	}
	s = strings.ReplaceAll(s, ":", "-")
	if strings.HasSuffix(s, "-") {
		s += "0"
	}
	return s
}
