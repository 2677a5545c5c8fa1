package apiserver

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// Services get their cluster IP and node ports from the API server itself,
// when they are written, as in kube-apiserver's Service REST storage: a
// requested value is checked (inside the range, not taken), a missing one
// is picked at random. What is taken is kept in an index of the stored
// Services' values, rebuilt from the store at start and updated after each
// Service write, so the allocation state is simply the Services themselves.

// held is what one Service holds.
type held struct {
	ips   []netip.Addr
	ports []int32
}

func heldBy(svc *corev1.Service) held {
	var h held
	for _, ip := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
		if a, err := netip.ParseAddr(ip); err == nil {
			h.ips = append(h.ips, a)
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			h.ports = append(h.ports, p.NodePort)
		}
	}
	if svc.Spec.HealthCheckNodePort != 0 {
		h.ports = append(h.ports, svc.Spec.HealthCheckNodePort)
	}
	return h
}

// allocationIndex counts how many stored Services hold each IP and port.
type allocationIndex struct {
	mu    sync.Mutex
	byKey map[string]held
	ips   map[netip.Addr]int
	ports map[int32]int
}

func newAllocationIndex() *allocationIndex {
	return &allocationIndex{byKey: map[string]held{}, ips: map[netip.Addr]int{}, ports: map[int32]int{}}
}

// set records what the Service at key holds now (nil: it is gone).
func (x *allocationIndex) set(key string, svc *corev1.Service) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, ip := range x.byKey[key].ips {
		if x.ips[ip]--; x.ips[ip] <= 0 {
			delete(x.ips, ip)
		}
	}
	for _, p := range x.byKey[key].ports {
		if x.ports[p]--; x.ports[p] <= 0 {
			delete(x.ports, p)
		}
	}
	delete(x.byKey, key)
	if svc == nil {
		return
	}
	h := heldBy(svc)
	x.byKey[key] = h
	for _, ip := range h.ips {
		x.ips[ip]++
	}
	for _, p := range h.ports {
		x.ports[p]++
	}
}

// loadServiceIndex builds the index from the stored Services.
func (s *Server) loadServiceIndex() error {
	res, _ := s.reg.Lookup(schema.GroupVersionResource{Version: "v1", Resource: "services"})
	kvs, _, err := s.store.List(resourcePrefix(res))
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		obj, err := decodeKV(res, kv)
		if err != nil {
			return err
		}
		s.serviceIndex.set(kv.Key, obj.(*corev1.Service))
	}
	return nil
}

// recordService keeps the index in step after a write of any object: obj is
// the stored object, or nil when the object at key was deleted.
func (s *Server) recordService(key string, obj runtime.Object) {
	if svc, ok := obj.(*corev1.Service); ok {
		s.serviceIndex.set(key, svc)
	} else if obj == nil && strings.HasPrefix(key, "/registry/services/") {
		s.serviceIndex.set(key, nil)
	}
}

// serviceAllocations is the view one allocation works with: what every
// other Service holds, plus what this allocation has taken so far.
type serviceAllocations struct {
	index    *allocationIndex
	own      held
	newIPs   map[netip.Addr]bool
	newPorts map[int32]bool
}

// serviceAllocationsExcept is the view for the Service at key (which may
// keep what it holds).
func (s *Server) serviceAllocationsExcept(key string) (*serviceAllocations, error) {
	s.serviceIndex.mu.Lock()
	own := s.serviceIndex.byKey[key]
	s.serviceIndex.mu.Unlock()
	return &serviceAllocations{index: s.serviceIndex, own: own, newIPs: map[netip.Addr]bool{}, newPorts: map[int32]bool{}}, nil
}

func (a *serviceAllocations) ipInUse(ip netip.Addr) bool {
	if a.newIPs[ip] {
		return true
	}
	a.index.mu.Lock()
	n := a.index.ips[ip]
	a.index.mu.Unlock()
	for _, mine := range a.own.ips {
		if mine == ip {
			n--
		}
	}
	return n > 0
}

func (a *serviceAllocations) portInUse(port int32) bool {
	if a.newPorts[port] {
		return true
	}
	a.index.mu.Lock()
	n := a.index.ports[port]
	a.index.mu.Unlock()
	for _, mine := range a.own.ports {
		if mine == port {
			n--
		}
	}
	return n > 0
}

// allocateServiceOnCreate locks Service allocation and allocates for a new
// Service. The returned unlock must be called once the Service is stored.
func (s *Server) allocateServiceOnCreate(svc *corev1.Service, dryRun bool) (func(), field.ErrorList) {
	s.serviceMu.Lock()
	used, err := s.serviceAllocationsExcept("")
	if err != nil {
		return s.serviceMu.Unlock, field.ErrorList{field.InternalError(field.NewPath("spec"), err)}
	}
	return s.serviceMu.Unlock, s.allocateService(svc, nil, used)
}

// allocateServiceOnUpdate allocates for an updated Service (serviceMu is held).
func (s *Server) allocateServiceOnUpdate(svc, old *corev1.Service, used *serviceAllocations) field.ErrorList {
	dropTypeDependentFields(svc, old)
	keepAllocatedValues(svc, old)
	return s.allocateService(svc, old, used)
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName
}

func needsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

func needsHealthCheckNodePort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// dropTypeDependentFields clears, when a Service changes type, the values
// that only made sense for the old type and that the client left as they
// were (`kubectl patch svc x -p '{"spec":{"type":"ClusterIP"}}'` on a
// NodePort Service drops its node ports), as kube-apiserver does.
func dropTypeDependentFields(svc, old *corev1.Service) {
	if svc.Spec.Type == old.Spec.Type {
		return
	}
	if !needsClusterIP(svc) && slices.Equal(svc.Spec.ClusterIPs, old.Spec.ClusterIPs) && svc.Spec.ClusterIP == old.Spec.ClusterIP {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		if slices.Equal(svc.Spec.IPFamilies, old.Spec.IPFamilies) {
			svc.Spec.IPFamilies = nil
		}
		if ptr.Equal(svc.Spec.IPFamilyPolicy, old.Spec.IPFamilyPolicy) {
			svc.Spec.IPFamilyPolicy = nil
		}
	}
	if !needsNodePorts(svc) && sameNodePorts(svc, old) {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if !needsHealthCheckNodePort(svc) && svc.Spec.HealthCheckNodePort == old.Spec.HealthCheckNodePort {
		svc.Spec.HealthCheckNodePort = 0
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		if ptr.Equal(svc.Spec.AllocateLoadBalancerNodePorts, old.Spec.AllocateLoadBalancerNodePorts) {
			svc.Spec.AllocateLoadBalancerNodePorts = nil
		}
		if ptr.Equal(svc.Spec.LoadBalancerClass, old.Spec.LoadBalancerClass) {
			svc.Spec.LoadBalancerClass = nil
		}
	}
	if svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == old.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName && ptr.Equal(svc.Spec.InternalTrafficPolicy, old.Spec.InternalTrafficPolicy) {
		svc.Spec.InternalTrafficPolicy = nil
	}
}

// keepAllocatedValues carries over what an update left out but was
// allocated before: a PUT of a manifest without clusterIP or nodePort keeps
// the Service's address and ports rather than asking for new ones.
func keepAllocatedValues(svc, old *corev1.Service) {
	if needsClusterIP(old) && needsClusterIP(svc) {
		if svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = old.Spec.ClusterIP
		}
		if len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIPs = old.Spec.ClusterIPs
		}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = old.Spec.IPFamilies
		}
		if svc.Spec.IPFamilyPolicy == nil {
			svc.Spec.IPFamilyPolicy = old.Spec.IPFamilyPolicy
		}
	}
	if needsNodePorts(old) && needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, q := range old.Spec.Ports {
				if q.Port == p.Port && q.Protocol == p.Protocol && q.NodePort != 0 {
					p.NodePort = q.NodePort
					break
				}
			}
		}
	}
	if needsHealthCheckNodePort(old) && needsHealthCheckNodePort(svc) && svc.Spec.HealthCheckNodePort == 0 {
		svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}
}

// allocateService fills in IP families, the cluster IP and the node ports
// of svc (old is nil on create). Errors are field errors with
// kube-apiserver's texts.
func (s *Server) allocateService(svc, old *corev1.Service, used *serviceAllocations) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if !needsClusterIP(svc) {
		return s.allocateNodePorts(svc, old, used)
	}

	// This lab is single-stack IPv4, like a default kubeadm cluster.
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone || (len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone)
	if svc.Spec.IPFamilyPolicy == nil {
		policy := corev1.IPFamilyPolicySingleStack
		if headless && len(svc.Spec.Selector) == 0 {
			// Headless Services without selectors default to
			// RequireDualStack: they may point at endpoints of any family.
			policy = corev1.IPFamilyPolicyRequireDualStack
		}
		svc.Spec.IPFamilyPolicy = &policy
	}
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	for i, fam := range svc.Spec.IPFamilies {
		if fam != corev1.IPv4Protocol {
			errs = append(errs, field.Invalid(spec.Child("ipFamilies").Index(i), fam, "not configured on this cluster"))
		}
	}
	if *svc.Spec.IPFamilyPolicy == corev1.IPFamilyPolicyRequireDualStack && !headless {
		errs = append(errs, field.Invalid(spec.Child("ipFamilyPolicy"), *svc.Spec.IPFamilyPolicy, "this cluster is not configured for dual-stack services"))
	}
	if len(errs) > 0 {
		return errs
	}

	// clusterIP and clusterIPs[0] are the same address.
	switch {
	case svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) > 0:
		svc.Spec.ClusterIP = svc.Spec.ClusterIPs[0]
	case svc.Spec.ClusterIP != "" && len(svc.Spec.ClusterIPs) == 0:
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
	}
	oldIP := ""
	if old != nil {
		oldIP = old.Spec.ClusterIP
	}
	switch {
	case headless:
	case svc.Spec.ClusterIP == "":
		ip, err := s.serviceIPs.Allocate(used.ipInUse, nil)
		if err != nil {
			return field.ErrorList{field.InternalError(spec.Child("clusterIPs"), err)}
		}
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip.String(), []string{ip.String()}
		used.newIPs[ip] = true
	case svc.Spec.ClusterIP != oldIP:
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil {
			break // not an IP: validation reports it
		}
		if err := s.serviceIPs.Check(ip, used.ipInUse); err != nil {
			return field.ErrorList{field.Invalid(spec.Child("clusterIPs"), svc.Spec.ClusterIPs, fmt.Sprintf("failed to allocate IP %s: %v", ip, err))}
		}
		used.newIPs[ip] = true
	}
	return s.allocateNodePorts(svc, old, used)
}

func (s *Server) allocateNodePorts(svc, old *corev1.Service, used *serviceAllocations) field.ErrorList {
	var errs field.ErrorList
	ports := field.NewPath("spec", "ports")
	held := map[int32]bool{} // node ports the Service had before
	if old != nil {
		for _, p := range old.Spec.Ports {
			held[p.NodePort] = true
		}
		held[old.Spec.HealthCheckNodePort] = true
	}
	mine := map[int32]bool{}
	if needsNodePorts(svc) || svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort == 0 {
				continue
			}
			if !held[p.NodePort] && !mine[p.NodePort] {
				if err := s.nodePorts.Check(p.NodePort, used.portInUse); err != nil {
					errs = append(errs, field.Invalid(ports.Index(i).Child("nodePort"), p.NodePort, err.Error()))
					continue
				}
			}
			mine[p.NodePort] = true
		}
	}
	if len(errs) > 0 {
		return errs
	}
	for k := range mine {
		used.newPorts[k] = true
	}
	if needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			// The same port number over TCP and UDP shares one node port.
			for _, q := range svc.Spec.Ports {
				if q.Port == p.Port && q.NodePort != 0 && q.Protocol != p.Protocol {
					p.NodePort = q.NodePort
					break
				}
			}
			if p.NodePort != 0 {
				continue
			}
			np, err := s.nodePorts.Allocate(used.portInUse, nil)
			if err != nil {
				return field.ErrorList{field.Invalid(ports.Index(i).Child("nodePort"), p.NodePort, err.Error())}
			}
			p.NodePort = np
			used.newPorts[np] = true
		}
	}
	if needsHealthCheckNodePort(svc) {
		hc := svc.Spec.HealthCheckNodePort
		switch {
		case hc == 0:
			np, err := s.nodePorts.Allocate(used.portInUse, nil)
			if err != nil {
				return field.ErrorList{field.Invalid(field.NewPath("spec", "healthCheckNodePort"), hc, err.Error())}
			}
			svc.Spec.HealthCheckNodePort = np
			used.newPorts[np] = true
		case !held[hc]:
			if err := s.nodePorts.Check(hc, used.portInUse); err != nil {
				return field.ErrorList{field.Invalid(field.NewPath("spec", "healthCheckNodePort"), hc, err.Error())}
			}
			used.newPorts[hc] = true
		}
	}
	return nil
}

func sameNodePorts(a, b *corev1.Service) bool {
	if len(a.Spec.Ports) != len(b.Spec.Ports) {
		return false
	}
	for i := range a.Spec.Ports {
		if a.Spec.Ports[i].NodePort != b.Spec.Ports[i].NodePort {
			return false
		}
	}
	return true
}
