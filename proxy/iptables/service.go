package iptables

import (
	"strconv"
	"strings"
)

// servicePortRules is one service port's names and decisions, computed once
// and then used by the small writers below (the per-service part of
// kube-proxy's syncProxyRules).
type servicePortRules struct {
	name     string // ServicePortName.String()
	protocol string // lowercase
	sp       *ServicePort
	eps      endpointSets

	clusterIP, port string // the ClusterIP and service port, as text

	clusterPolicyChain, localPolicyChain string // KUBE-SVC-, KUBE-SVL-
	externalChain, firewallChain         string // KUBE-EXT-, KUBE-FW-

	// internalChain receives ClusterIP traffic: SVC, or SVL with iTP Local.
	internalChain string
	// externalPolicyChain is where KUBE-EXT sends traffic from outside the
	// node: SVC, or SVL with eTP Local.
	externalPolicyChain string

	hasInternalEndpoints bool // ClusterIP traffic has somewhere to go
	hasExternalEndpoints bool // external clients have somewhere to go
	usesExternalChain    bool // KUBE-EXT exists (needs *any* endpoint)
	usesFirewallChain    bool // KUBE-FW exists
}

func (b *builder) newServicePortRules(n ServicePortName, sp *ServicePort, eps []Endpoint) *servicePortRules {
	name, protocol := n.String(), n.protocol()
	hash := hash16(name + protocol)
	r := &servicePortRules{
		name:               name,
		protocol:           protocol,
		sp:                 sp,
		eps:                categorizeEndpoints(newEndpointInfos(eps), sp, b.st.NodeName),
		clusterIP:          sp.ClusterIP.String(),
		port:               strconv.Itoa(int(sp.Port)),
		clusterPolicyChain: clusterPolicyChainPrefix + hash,
		localPolicyChain:   localPolicyChainPrefix + hash,
		externalChain:      externalChainPrefix + hash,
		firewallChain:      firewallChainPrefix + hash,
	}
	for _, e := range r.eps.reachable {
		e.chain = endpointChainPrefix + hash16(name+protocol+e.str)
	}

	hasLocal := len(r.eps.local) > 0
	r.internalChain, r.hasInternalEndpoints = r.clusterPolicyChain, r.eps.hasAny
	if sp.InternalPolicyLocal {
		r.internalChain, r.hasInternalEndpoints = r.localPolicyChain, r.eps.hasAny && hasLocal
	}
	r.externalPolicyChain, r.hasExternalEndpoints = r.clusterPolicyChain, r.eps.hasAny
	if sp.externalPolicyLocal() {
		r.externalPolicyChain, r.hasExternalEndpoints = r.localPolicyChain, r.eps.hasAny && hasLocal
	}
	// The EXT chain is written even when no endpoint is usable for external
	// clients, so that pods and the node itself still get short-circuited.
	r.usesExternalChain = r.eps.hasAny && sp.externallyAccessible()
	r.usesFirewallChain = r.eps.hasAny && len(sp.LoadBalancerIPs) > 0 && len(sp.LoadBalancerSourceRanges) > 0
	return r
}

// noEndpointVerdict is what the filter table does with traffic that has no
// endpoint to go to: REJECT (ICMP port unreachable, so clients fail fast)
// when the service has no usable endpoint at all, DROP when a Local traffic
// policy finds none on this node.
func (r *servicePortRules) noEndpointVerdict() (target, text string) {
	if !r.eps.hasAny {
		return "REJECT", r.name + " has no endpoints"
	}
	return "DROP", r.name + " has no local endpoints"
}

// writeServicePort writes everything for one service port, in kube-proxy's
// order: the entry rules in KUBE-SERVICES/KUBE-NODEPORTS and the filter
// table, then the EXT, FW, SVC, SVL and SEP chains.
//
// On a partial sync, the per-service chains of an unchanged service port go
// to the discard buffers: the kernel still holds them from an earlier sync,
// and the rules written above keep jumping into them.
func (b *builder) writeServicePort(n ServicePortName, sp *ServicePort, eps []Endpoint) {
	r := b.newServicePortRules(n, sp, eps)
	b.svcChains, b.svcRules = &b.natChains, &b.natRules
	if b.changed != nil && !b.changed[n] {
		b.svcChains, b.svcRules = &b.discardChains, &b.discardRules
	}
	b.writeClusterIP(r)
	b.writeExternalIPs(r)
	b.writeLoadBalancerIPs(r)
	b.writeNodePort(r)
	b.writeHealthCheckNodePort(r)
	b.writeInternalMasquerade(r)
	b.writeExternalChain(r)
	b.writeFirewallChain(r)
	if len(r.eps.cluster) > 0 && sp.usesClusterEndpoints() {
		b.writeDispatchChain(r, r.clusterPolicyChain, r.eps.cluster)
	}
	if len(r.eps.local) > 0 && sp.usesLocalEndpoints() {
		b.writeDispatchChain(r, r.localPolicyChain, r.eps.local)
	}
	for _, e := range r.eps.reachable {
		b.writeEndpointChain(r, e)
	}
}

// writeClusterIP captures the ClusterIP in nat KUBE-SERVICES, or rejects /
// drops it in filter KUBE-SERVICES when there is nowhere to send it.
func (b *builder) writeClusterIP(r *servicePortRules) {
	if r.hasInternalEndpoints {
		b.natRules.rule(kubeServicesChain, r.name+" cluster IP",
			"-m", r.protocol, "-p", r.protocol, "-d", r.clusterIP, "--dport", r.port, "-j", r.internalChain)
		return
	}
	target, text := r.noEndpointVerdict()
	b.filterRules.rule(kubeServicesChain, text,
		"-m", r.protocol, "-p", r.protocol, "-d", r.clusterIP, "--dport", r.port, "-j", target)
}

// writeExternalIPs sends externalIP traffic to KUBE-EXT; the filter table
// rejects/drops what KUBE-EXT could not DNAT.
func (b *builder) writeExternalIPs(r *servicePortRules) {
	for _, addr := range r.sp.ExternalIPs {
		ip := addr.String()
		if r.eps.hasAny {
			b.natRules.rule(kubeServicesChain, r.name+" external IP",
				"-m", r.protocol, "-p", r.protocol, "-d", ip, "--dport", r.port, "-j", r.externalChain)
		}
		if !r.hasExternalEndpoints {
			target, text := r.noEndpointVerdict()
			b.filterRules.rule(kubeExternalServicesChain, text,
				"-m", r.protocol, "-p", r.protocol, "-d", ip, "--dport", r.port, "-j", target)
		}
	}
}

// writeLoadBalancerIPs sends LB traffic to KUBE-FW (with source ranges) or
// KUBE-EXT. Packets KUBE-FW does not accept keep the LB IP as destination,
// so KUBE-PROXY-FIREWALL in the filter table can drop exactly those.
func (b *builder) writeLoadBalancerIPs(r *servicePortRules) {
	lbChain := r.externalChain
	if r.usesFirewallChain {
		lbChain = r.firewallChain
	}
	for _, addr := range r.sp.LoadBalancerIPs {
		ip := addr.String()
		if r.eps.hasAny {
			b.natRules.rule(kubeServicesChain, r.name+" loadbalancer IP",
				"-m", r.protocol, "-p", r.protocol, "-d", ip, "--dport", r.port, "-j", lbChain)
		}
		if r.usesFirewallChain {
			b.filterRules.rule(kubeProxyFirewallChain, r.name+" traffic not accepted by "+r.firewallChain,
				"-m", r.protocol, "-p", r.protocol, "-d", ip, "--dport", r.port, "-j", "DROP")
		}
	}
	if !r.hasExternalEndpoints {
		target, text := r.noEndpointVerdict()
		for _, addr := range r.sp.LoadBalancerIPs {
			b.filterRules.rule(kubeExternalServicesChain, text,
				"-m", r.protocol, "-p", r.protocol, "-d", addr.String(), "--dport", r.port, "-j", target)
		}
	}
}

// writeNodePort sends <any local address>:<nodePort> to KUBE-EXT. NodePorts
// are not subject to loadBalancerSourceRanges.
func (b *builder) writeNodePort(r *servicePortRules) {
	if r.sp.NodePort == 0 {
		return
	}
	nodePort := strconv.Itoa(int(r.sp.NodePort))
	if r.eps.hasAny {
		b.natRules.rule(kubeNodePortsChain, r.name,
			"-m", r.protocol, "-p", r.protocol, "--dport", nodePort, "-j", r.externalChain)
	}
	if !r.hasExternalEndpoints {
		target, text := r.noEndpointVerdict()
		b.filterRules.rule(kubeExternalServicesChain, text,
			"-m", "addrtype", "--dst-type", "LOCAL", "-m", r.protocol, "-p", r.protocol, "--dport", nodePort, "-j", target)
	}
}

// writeHealthCheckNodePort opens the port on which the node answers the
// load balancer's health check (eTP Local); written whether or not this node
// has endpoints, since the answer is what tells the LB.
func (b *builder) writeHealthCheckNodePort(r *servicePortRules) {
	if r.sp.HealthCheckNodePort == 0 {
		return
	}
	b.filterRules.rule(kubeNodePortsChain, r.name+" health check node port",
		"-m", "tcp", "-p", "tcp", "--dport", strconv.Itoa(int(r.sp.HealthCheckNodePort)), "-j", "ACCEPT")
}

// writeInternalMasquerade is the first rule of the internal chain: traffic to
// the ClusterIP that does not come from a pod (the node itself, or a client
// routing the service CIDR to this node) is masqueraded so replies come back
// through this node.
func (b *builder) writeInternalMasquerade(r *servicePortRules) {
	if !r.hasInternalEndpoints {
		return
	}
	switch {
	case b.st.MasqueradeAll:
		b.svcRules.rule(r.internalChain, r.name+" cluster IP",
			"-m", r.protocol, "-p", r.protocol, "-d", r.clusterIP, "--dport", r.port, "-j", kubeMarkMasqChain)
	case b.ifNotLocal != nil:
		b.svcRules.rule(r.internalChain, r.name+" cluster IP",
			"-m", r.protocol, "-p", r.protocol, "-d", r.clusterIP, "--dport", r.port,
			b.ifNotLocal[0], b.ifNotLocal[1], b.ifNotLocal[2], "-j", kubeMarkMasqChain)
	}
}

// writeExternalChain writes KUBE-EXT. With eTP Cluster everything is
// masqueraded (the endpoint may be on another node). With eTP Local external
// clients keep their source IP and reach only local endpoints, while pods and
// the node itself are short-circuited to all endpoints, as if their packet had
// left the cluster and come back in through a load balancer.
func (b *builder) writeExternalChain(r *servicePortRules) {
	if !r.usesExternalChain {
		return
	}
	b.declareServiceChain(r.externalChain)

	if !r.sp.externalPolicyLocal() {
		b.svcRules.rule(r.externalChain, "masquerade traffic for "+r.name+" external destinations", "-j", kubeMarkMasqChain)
	} else {
		if b.ifLocal != nil {
			b.svcRules.rule(r.externalChain, "pod traffic for "+r.name+" external destinations",
				b.ifLocal[0], b.ifLocal[1], "-j", r.clusterPolicyChain)
		}
		// The node's own traffic has a node (or VIP) address as source, which
		// the endpoint could not answer directly: masquerade it.
		b.svcRules.rule(r.externalChain, "masquerade LOCAL traffic for "+r.name+" external destinations",
			"-m", "addrtype", "--src-type", "LOCAL", "-j", kubeMarkMasqChain)
		b.svcRules.rule(r.externalChain, "route LOCAL traffic for "+r.name+" external destinations",
			"-m", "addrtype", "--src-type", "LOCAL", "-j", r.clusterPolicyChain)
	}
	if r.hasExternalEndpoints {
		b.svcRules.rule(r.externalChain, "", "-j", r.externalPolicyChain)
	}
}

// writeFirewallChain writes KUBE-FW: accepted source ranges continue to
// KUBE-EXT; everything else falls off the end un-DNATed and is dropped by
// filter KUBE-PROXY-FIREWALL.
func (b *builder) writeFirewallChain(r *servicePortRules) {
	if !r.usesFirewallChain {
		return
	}
	b.declareServiceChain(r.firewallChain)

	nodeIP := b.st.primaryNodeIP()
	allowFromNode := false
	for _, cidr := range r.sp.LoadBalancerSourceRanges {
		b.svcRules.rule(r.firewallChain, r.name+" loadbalancer IP", "-s", cidr.Masked().String(), "-j", r.externalChain)
		if nodeIP.IsValid() && cidr.Contains(nodeIP) {
			allowFromNode = true
		}
	}
	// When the LB IP is also a local address, the node's own request loops
	// back with the VIP as source; allow it if the node itself is allowed.
	if allowFromNode {
		for _, ip := range r.sp.LoadBalancerIPs {
			b.svcRules.rule(r.firewallChain, r.name+" loadbalancer IP", "-s", ip.String(), "-j", r.externalChain)
		}
	}
	// A target-less rule: it only documents (and counts) the fall-through.
	b.svcRules.rule(r.firewallChain, "other traffic to "+r.name+" will be dropped by KUBE-PROXY-FIREWALL")
}

// writeDispatchChain fills a KUBE-SVC or KUBE-SVL chain: first the
// session-affinity checks, then one rule per endpoint where rule i matches
// with probability 1/(n-i), so each endpoint is picked with probability 1/n.
func (b *builder) writeDispatchChain(r *servicePortRules, chain string, eps []*endpointInfo) {
	b.declareServiceChain(chain)

	if r.sp.ClientIPAffinitySeconds > 0 {
		seconds := strconv.Itoa(int(r.sp.ClientIPAffinitySeconds))
		for _, e := range eps {
			b.svcRules.rule(chain, b.endpointComment(r.name, " -> ", e.str),
				"-m", "recent", "--name", e.chain, "--rcheck", "--seconds", seconds, "--reap", "-j", e.chain)
		}
	}
	for i, e := range eps {
		if i < len(eps)-1 {
			b.svcRules.rule(chain, b.endpointComment(r.name, " -> ", e.str),
				"-m", "statistic", "--mode", "random", "--probability", Probability(len(eps)-i), "-j", e.chain)
		} else {
			b.svcRules.rule(chain, b.endpointComment(r.name, " -> ", e.str), "-j", e.chain)
		}
	}
}

// writeEndpointChain writes one KUBE-SEP chain: masquerade hairpin traffic
// (a pod reaching itself through the service would otherwise get a reply
// from its own address and drop it), then DNAT.
func (b *builder) writeEndpointChain(r *servicePortRules, e *endpointInfo) {
	b.declareServiceChain(e.chain)

	text := b.endpointComment(r.name)
	b.svcRules.rule(e.chain, text, "-s", e.IP.String(), "-j", kubeMarkMasqChain)
	if r.sp.ClientIPAffinitySeconds > 0 {
		// Remember the client so the --rcheck rule in KUBE-SVC finds it.
		b.svcRules.rule(e.chain, text, "-m", "recent", "--name", e.chain, "--set",
			"-m", r.protocol, "-p", r.protocol, "-j", "DNAT", "--to-destination", e.str)
	} else {
		b.svcRules.rule(e.chain, text, "-m", r.protocol, "-p", r.protocol, "-j", "DNAT", "--to-destination", e.str)
	}
}

// declareServiceChain declares a per-service chain and records it as in use,
// whether or not this sync writes it.
func (b *builder) declareServiceChain(name string) {
	b.svcChains.writeChain(name)
	b.activeNAT = append(b.activeNAT, name)
}

// endpointComment joins the parts of a per-endpoint comment, or returns ""
// in large-cluster mode, which drops those comments (without paying for
// building them).
func (b *builder) endpointComment(parts ...string) string {
	if b.largeCluster {
		return ""
	}
	return strings.Join(parts, "")
}
