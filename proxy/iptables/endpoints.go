package iptables

import "slices"

// endpointSets is how one service port's endpoints are used on this node,
// as kube-proxy's proxy.CategorizeEndpoints computes it (without topology
// hints, which minilab does not implement).
type endpointSets struct {
	cluster []*endpointInfo // for "Cluster" traffic policy: usable endpoints anywhere
	local   []*endpointInfo // for "Local" traffic policy: usable endpoints on this node
	// reachable is every endpoint some rule on this node can DNAT to; each gets
	// one KUBE-SEP chain. In the order of the input list.
	reachable []*endpointInfo
	// hasAny is true when the service has a usable endpoint anywhere in the
	// cluster, even if none is reachable from this node. It decides between
	// REJECT ("no endpoints") and DROP ("no local endpoints").
	hasAny bool
}

// categorizeEndpoints splits eps into the cluster and local sets. "Usable"
// means ready; if no endpoint is ready, serving-and-terminating endpoints are
// used instead, decided separately for the cluster and the local set.
func categorizeEndpoints(eps []*endpointInfo, sp *ServicePort, nodeName string) endpointSets {
	var s endpointSets
	if len(eps) == 0 {
		return s
	}
	usesCluster, usesLocal := sp.usesClusterEndpoints(), sp.usesLocalEndpoints()

	if usesCluster {
		s.cluster = filterEndpoints(eps, func(e *endpointInfo) bool { return e.Ready })
		if len(s.cluster) == 0 {
			s.cluster = filterEndpoints(eps, func(e *endpointInfo) bool { return e.servingTerminating() })
		}
		s.hasAny = len(s.cluster) > 0
	}
	if !usesLocal {
		s.reachable = s.cluster
		return s
	}

	isLocal := func(e *endpointInfo) bool { return e.NodeName == nodeName }
	var localReady, localServingTerminating bool
	for _, e := range eps {
		switch {
		case e.Ready:
			s.hasAny = true
			localReady = localReady || isLocal(e)
		case e.servingTerminating():
			s.hasAny = true
			localServingTerminating = localServingTerminating || isLocal(e)
		}
	}
	switch {
	case localReady:
		s.local = filterEndpoints(eps, func(e *endpointInfo) bool { return isLocal(e) && e.Ready })
	case localServingTerminating:
		s.local = filterEndpoints(eps, func(e *endpointInfo) bool { return isLocal(e) && e.servingTerminating() })
	}

	switch {
	case !usesCluster:
		s.reachable = s.local
	case !localServingTerminating || localReady:
		// The local set holds only ready endpoints, all of which are in the
		// cluster set too.
		s.reachable = s.cluster
	default:
		// Terminating local endpoints are not in the cluster set when ready
		// ones exist elsewhere: merge, keeping the input order.
		in := make(map[*endpointInfo]bool, len(s.cluster)+len(s.local))
		for _, e := range s.cluster {
			in[e] = true
		}
		for _, e := range s.local {
			in[e] = true
		}
		s.reachable = filterEndpoints(eps, func(e *endpointInfo) bool { return in[e] })
	}
	return s
}

func filterEndpoints(eps []*endpointInfo, keep func(*endpointInfo) bool) []*endpointInfo {
	out := make([]*endpointInfo, 0, len(eps))
	for _, e := range eps {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// endpointInfo is an endpoint with its texts, computed once per sync.
type endpointInfo struct {
	Endpoint
	str   string // "ip:port", for DNAT, comments and the chain hash
	chain string // KUBE-SEP-..., set for reachable endpoints
}

// newEndpointInfos wraps eps, dropping repeated ip:port pairs (an endpoint
// listed by two EndpointSlices); kube-proxy keeps one entry per ip:port too.
func newEndpointInfos(eps []Endpoint) []*endpointInfo {
	infos := make([]endpointInfo, 0, len(eps))
	out := make([]*endpointInfo, 0, len(eps))
	var seen map[string]bool // only for long lists; a scan is cheaper for short ones
	if len(eps) > 16 {
		seen = make(map[string]bool, len(eps))
	}
	for _, e := range eps {
		str := e.String()
		if seen != nil {
			if seen[str] {
				continue
			}
			seen[str] = true
		} else if slices.ContainsFunc(out, func(o *endpointInfo) bool { return o.str == str }) {
			continue
		}
		infos = append(infos, endpointInfo{Endpoint: e, str: str})
		out = append(out, &infos[len(infos)-1])
	}
	return out
}
