package endpoint

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minilab/minilab/controllers/endpoint/endpointutil"
)

// desiredSubsets builds the Endpoints subsets of a Service from the pods
// its selector matches, in the canonical form kube-apiserver and the real
// controller agree on (see repack).
func desiredSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	publishNotReady := svc.Spec.PublishNotReadyAddresses
	var entries []subsetEntry
	for _, pod := range pods {
		if !endpointutil.ShouldPodBeInEndpoints(pod, publishNotReady) {
			continue
		}
		addr, ok := podAddress(svc, pod)
		if !ok {
			continue
		}
		ready := publishNotReady || endpointutil.IsPodReady(pod)
		if len(svc.Spec.Ports) == 0 {
			// Only a headless Service may have no ports; its pods are
			// still listed, for DNS.
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				entries = append(entries, subsetEntry{addr: addr, ready: ready, port: noPorts})
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			num, err := endpointutil.FindPort(pod, sp)
			if err != nil {
				continue // this pod does not serve this port
			}
			port := corev1.EndpointPort{Name: sp.Name, Port: num, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}
			entries = append(entries, subsetEntry{addr: addr, ready: ready, port: port})
		}
	}
	return repack(entries)
}

// podAddress is the EndpointAddress of a pod: its IPv4 address, node and a
// reference back to it, plus its hostname when it lives under this
// Service's DNS subdomain.
func podAddress(svc *corev1.Service, pod *corev1.Pod) (corev1.EndpointAddress, bool) {
	ip := endpointutil.PodIPv4(pod)
	if ip == "" {
		return corev1.EndpointAddress{}, false
	}
	addr := corev1.EndpointAddress{
		IP:        ip,
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		node := pod.Spec.NodeName
		addr.NodeName = &node
	}
	if endpointutil.ShouldSetHostname(pod, svc) {
		addr.Hostname = pod.Spec.Hostname
	}
	return addr, true
}

// subsetEntry says that one address serves one port (ready or not).
type subsetEntry struct {
	addr  corev1.EndpointAddress
	ready bool
	port  corev1.EndpointPort
}

// noPorts stands for "no port at all" (a headless Service without ports).
var noPorts = corev1.EndpointPort{Port: -1}

type addressKey struct {
	ip  string
	uid types.UID
}

// repack turns (address, port) pairs into the canonical subsets that
// upstream's RepackSubsets produces: ports offered by exactly the same
// addresses (with the same readiness) share one subset, so a Service whose
// pods all serve the same ports has a single subset. An address that is
// not ready on a port is not-ready there even if another entry says ready.
// Addresses are sorted by IP (as strings) then pod UID. Upstream orders
// ports and subsets by a hash; minilab sorts them by name and number, so
// the output is just as stable and easier to read.
func repack(entries []subsetEntry) []corev1.EndpointSubset {
	addrs := map[addressKey]corev1.EndpointAddress{}
	readyByPort := map[corev1.EndpointPort]map[addressKey]bool{}
	for _, e := range entries {
		key := addressKey{ip: e.addr.IP}
		if e.addr.TargetRef != nil {
			key.uid = e.addr.TargetRef.UID
		}
		if _, ok := addrs[key]; !ok {
			addrs[key] = e.addr
		}
		set := readyByPort[e.port]
		if set == nil {
			set = map[addressKey]bool{}
			readyByPort[e.port] = set
		}
		if wasReady, seen := set[key]; !seen || wasReady {
			set[key] = e.ready
		}
	}

	// Group the ports by the exact set of addresses behind them.
	type group struct {
		set   map[addressKey]bool
		ports []corev1.EndpointPort
	}
	groups := map[string]*group{}
	for port, set := range readyByPort {
		id := addressSetID(set)
		g := groups[id]
		if g == nil {
			g = &group{set: set}
			groups[id] = g
		}
		if port != noPorts {
			g.ports = append(g.ports, port)
		}
	}

	subsets := make([]corev1.EndpointSubset, 0, len(groups))
	for _, g := range groups {
		var ss corev1.EndpointSubset
		for key, ready := range g.set {
			if ready {
				ss.Addresses = append(ss.Addresses, addrs[key])
			} else {
				ss.NotReadyAddresses = append(ss.NotReadyAddresses, addrs[key])
			}
		}
		sortAddresses(ss.Addresses)
		sortAddresses(ss.NotReadyAddresses)
		sort.Slice(g.ports, func(i, j int) bool { return portID(g.ports[i]) < portID(g.ports[j]) })
		ss.Ports = g.ports
		subsets = append(subsets, ss)
	}
	sort.Slice(subsets, func(i, j int) bool { return subsetID(subsets[i]) < subsetID(subsets[j]) })
	return subsets
}

func addressSetID(set map[addressKey]bool) string {
	ids := make([]string, 0, len(set))
	for key, ready := range set {
		ids = append(ids, fmt.Sprintf("%s/%s/%t", key.ip, key.uid, ready))
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

func sortAddresses(list []corev1.EndpointAddress) {
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.IP != b.IP {
			return a.IP < b.IP
		}
		return uidOf(a) < uidOf(b)
	})
}

func uidOf(a corev1.EndpointAddress) types.UID {
	if a.TargetRef == nil {
		return ""
	}
	return a.TargetRef.UID
}

func portID(p corev1.EndpointPort) string {
	return fmt.Sprintf("%s/%05d/%s", p.Name, p.Port, p.Protocol)
}

// subsetID orders subsets by their ports, then by their first address.
func subsetID(ss corev1.EndpointSubset) string {
	var parts []string
	for _, p := range ss.Ports {
		parts = append(parts, portID(p))
	}
	id := strings.Join(parts, ",") + "|"
	switch {
	case len(ss.Addresses) > 0:
		id += ss.Addresses[0].IP
	case len(ss.NotReadyAddresses) > 0:
		id += ss.NotReadyAddresses[0].IP
	}
	return id
}
