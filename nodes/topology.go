// Package nodes builds the lab's machines out of Linux network namespaces
// and runs a kubelet-like agent for each: the "data-centre LAN" bridge on
// the host, one namespace per node wired to it with a veth pair, one
// namespace per pod wired to its node, the routes between them, and the
// built-in images served inside pods.
//
// The layout follows kind with kindnet: every node owns a /24 of the pod
// network; a pod gets a /32 on its eth0 and a default route to its node,
// the node a /32 route per pod (point-to-point, no bridge per node), and
// each node routes the other nodes' /24s via their node IPs.
package nodes

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Config is a lab's address plan and size.
type Config struct {
	// Name prefixes every namespace, link and node name ("minilab").
	Name string
	// NodeCIDR is the LAN the nodes share: the bridge takes .1, the control
	// plane .2, workers .3, .4, ...
	NodeCIDR netip.Prefix
	// PodCIDR is split into one /24 per node, in node order.
	PodCIDR netip.Prefix
	// ServiceCIDR is where ClusterIPs live; the host routes it to the
	// control-plane node, whose proxy rules answer for it.
	ServiceCIDR netip.Prefix
	// Workers is the number of worker nodes.
	Workers int
	// HostNetns, if set, is a named network namespace that plays the host:
	// the bridge and the host routes go there instead of into the real
	// host (tests use a throwaway one).
	HostNetns string
}

// Node is one node of the lab.
type Node struct {
	Name         string       // "minilab-control-plane", "minilab-worker", "minilab-worker2"
	IP           netip.Addr   // on the node LAN
	PodCIDR      netip.Prefix // this node's share of the pod network
	ControlPlane bool
	HostVeth     string // the veth end on the host bridge
}

// Netns is the node's network namespace name (its node name).
func (n Node) Netns() string { return n.Name }

// Gateway is the node's address towards its pods: the first of its pod CIDR.
func (n Node) Gateway() netip.Addr { return n.PodCIDR.Addr().Next() }

// DefaultConfig is the address plan of DESIGN.md.
func DefaultConfig(name string) Config {
	return Config{
		Name:        name,
		NodeCIDR:    netip.MustParsePrefix("172.30.0.0/24"),
		PodCIDR:     netip.MustParsePrefix("10.244.0.0/16"),
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"),
		Workers:     2,
	}
}

// BridgeName is the host bridge, "<name>0" like docker0 or cni0.
func (c Config) BridgeName() string { return c.Name + "0" }

// BridgeIP is the host's address on the node LAN.
func (c Config) BridgeIP() netip.Addr { return c.NodeCIDR.Addr().Next() }

// Nodes lists the lab's nodes: the control plane, then the workers.
func (c Config) Nodes() []Node {
	var out []Node
	for i := 0; i <= c.Workers; i++ {
		n := Node{
			Name:         c.nodeName(i),
			IP:           nth(c.NodeCIDR.Addr(), uint32(i+2)),
			PodCIDR:      netip.PrefixFrom(nth(c.PodCIDR.Addr(), uint32(i)<<8), 24),
			ControlPlane: i == 0,
			HostVeth:     c.Name + "-" + strconv.Itoa(i),
		}
		out = append(out, n)
	}
	return out
}

// ControlPlane returns the control-plane node.
func (c Config) ControlPlane() Node { return c.Nodes()[0] }

func (c Config) nodeName(i int) string {
	switch i {
	case 0:
		return c.Name + "-control-plane"
	case 1:
		return c.Name + "-worker"
	}
	return c.Name + "-worker" + strconv.Itoa(i)
}

// Validate checks that the plan fits together: names fit into Linux's 15
// characters for interfaces, every node has an address and a /24.
func (c Config) Validate() error {
	if c.Workers < 0 || c.Workers > 20 {
		return fmt.Errorf("--workers %d: use 0 to 20", c.Workers)
	}
	if !c.NodeCIDR.Addr().Is4() || !c.PodCIDR.Addr().Is4() || !c.ServiceCIDR.Addr().Is4() {
		return fmt.Errorf("the lab is IPv4 only: give IPv4 CIDRs")
	}
	if c.NodeCIDR.Bits() > 28 || (1<<(32-c.NodeCIDR.Bits()))-3 < c.Workers+2 {
		return fmt.Errorf("--node-cidr %s is too small for %d nodes", c.NodeCIDR, c.Workers+1)
	}
	if c.PodCIDR.Bits() > 24 || 1<<(24-c.PodCIDR.Bits()) < c.Workers+1 {
		return fmt.Errorf("--pod-cidr %s is too small: each of the %d nodes needs a /24", c.PodCIDR, c.Workers+1)
	}
	for _, p := range [][2]netip.Prefix{{c.NodeCIDR, c.PodCIDR}, {c.NodeCIDR, c.ServiceCIDR}, {c.PodCIDR, c.ServiceCIDR}} {
		if p[0].Overlaps(p[1]) {
			return fmt.Errorf("the address ranges %s and %s overlap: give the node, pod and service networks distinct ranges", p[0], p[1])
		}
	}
	if len(c.Name)+3 > 15 {
		return fmt.Errorf("lab name %q is too long for Linux interface names", c.Name)
	}
	return nil
}

// PodNetns names a pod's network namespace: "<lab>-pod-<namespace>-<pod>",
// so that `ip netns list` shows which pod is which.
func (c Config) PodNetns(namespace, pod string) string {
	name := c.Name + "-pod-" + namespace + "-" + pod
	if len(name) > 200 {
		name = name[:180] + "-" + shortHash(namespace+"/"+pod)
	}
	return name
}

func nth(base netip.Addr, n uint32) netip.Addr {
	a := base.As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
