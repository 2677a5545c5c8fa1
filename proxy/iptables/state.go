package iptables

import (
	"net/netip"
)

// ServicePort is what the proxier needs of one Service port (kube-proxy's
// servicePortInfo, reduced to the fields the iptables rules use).
type ServicePort struct {
	Name                     ServicePortName
	ClusterIP                netip.Addr // invalid for headless Services: then nothing is written
	Port                     int32
	NodePort                 int32 // 0: none
	ExternalIPs              []netip.Addr
	LoadBalancerIPs          []netip.Addr // status.loadBalancer.ingress IPs with ipMode VIP
	LoadBalancerSourceRanges []netip.Prefix
	ClientIPAffinitySeconds  int32 // 0: sessionAffinity None
	ExternalPolicyLocal      bool  // externalTrafficPolicy: Local
	InternalPolicyLocal      bool  // internalTrafficPolicy: Local
	HealthCheckNodePort      int32
}

// externallyAccessible mirrors kube-proxy: a port is "external" when it can be
// reached through a NodePort, an externalIP or a load-balancer IP.
func (sp *ServicePort) externallyAccessible() bool {
	return sp.NodePort != 0 || len(sp.ExternalIPs) > 0 || len(sp.LoadBalancerIPs) > 0
}

// externalPolicyLocal: externalTrafficPolicy only means something for ports
// that are externally accessible (the API server also only keeps it there).
func (sp *ServicePort) externalPolicyLocal() bool {
	return sp.ExternalPolicyLocal && sp.externallyAccessible()
}

// usesClusterEndpoints: Cluster endpoints are needed for ClusterIP traffic
// unless iTP is Local, and always for external traffic, because even with eTP
// Local, pod and node traffic to an external address is short-circuited to all
// endpoints.
func (sp *ServicePort) usesClusterEndpoints() bool {
	return !sp.InternalPolicyLocal || sp.externallyAccessible()
}

// usesLocalEndpoints: Local endpoints are needed when either policy is Local.
func (sp *ServicePort) usesLocalEndpoints() bool {
	return sp.InternalPolicyLocal || sp.externalPolicyLocal()
}

// Endpoint is one endpoint of a service port, with the EndpointSlice
// conditions kube-proxy looks at.
type Endpoint struct {
	IP                          netip.Addr
	Port                        int32
	NodeName                    string
	Ready, Serving, Terminating bool
}

// String is "ip:port" ("[ip]:port" for IPv6), the text used in DNAT
// --to-destination, in comments and in the KUBE-SEP hash.
func (e Endpoint) String() string {
	return netip.AddrPortFrom(e.IP, uint16(e.Port)).String()
}

// servingTerminating endpoints are used only when no endpoint is ready
// (KEP-1669, "ProxyTerminatingEndpoints"), so connections keep working while
// a rollout replaces every pod.
func (e Endpoint) servingTerminating() bool { return e.Serving && e.Terminating }

// State is everything one sync looks at.
type State struct {
	NodeName string
	// NodeIPs are the node's own addresses; NodeIPs[0] is the primary node IP
	// (kube-proxy's nodeIP), used to allow node→LB traffic through
	// loadBalancerSourceRanges. Its family selects IPv4 or IPv6 rules.
	NodeIPs []netip.Addr
	// ClusterCIDR is the pod network for the local-traffic detector
	// ("detect-local-mode: ClusterCIDR"): `-s <cidr>` is pod traffic,
	// `! -s <cidr>` is masqueraded. Invalid: no detector.
	ClusterCIDR netip.Prefix
	// MasqueradeBit is the fwmark bit KUBE-MARK-MASQ sets (kube-proxy's
	// --iptables-masquerade-bit, default 14 → 0x00004000).
	MasqueradeBit int
	// MasqueradeAll masquerades all traffic to ClusterIPs (--masquerade-all).
	MasqueradeAll bool
	// LocalhostNodePorts lets 127.0.0.1:<nodePort> reach NodePort services
	// (--iptables-localhost-nodeports, default true, IPv4 only). The caller
	// must set net.ipv4.conf.all.route_localnet=1; Build adds the KUBE-FIREWALL
	// rule that blocks the martian packets this would otherwise let in.
	LocalhostNodePorts bool
	// RandomFully appends --random-fully to the MASQUERADE rule, as kube-proxy
	// does when the iptables binary supports it (1.6.2 and later).
	RandomFully bool

	Services map[ServicePortName]*ServicePort
	// Endpoints per service port, in the order to write them (kube-proxy's
	// tests show ascending IP order).
	Endpoints map[ServicePortName][]Endpoint
}

// NewState returns a State with kube-proxy's defaults: masquerade bit 14,
// localhost NodePorts enabled, --random-fully on.
func NewState(nodeName string) *State {
	return &State{
		NodeName:           nodeName,
		MasqueradeBit:      14,
		LocalhostNodePorts: true,
		RandomFully:        true,
		Services:           map[ServicePortName]*ServicePort{},
		Endpoints:          map[ServicePortName][]Endpoint{},
	}
}

func (st *State) isIPv6() bool {
	return len(st.NodeIPs) > 0 && st.NodeIPs[0].Is6() && !st.NodeIPs[0].Is4In6()
}

// primaryNodeIP is the address kube-proxy calls nodeIP.
func (st *State) primaryNodeIP() netip.Addr {
	if len(st.NodeIPs) == 0 {
		return netip.Addr{}
	}
	return st.NodeIPs[0]
}
