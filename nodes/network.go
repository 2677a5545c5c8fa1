package nodes

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Network is a lab's wiring: the host bridge, the node namespaces, and the
// routes that make pods, nodes and ClusterIPs reachable from the host.
type Network struct {
	cfg   Config
	host  *Namespace
	nodes map[string]*Namespace
}

// Host returns the namespace that plays the host.
func (n *Network) Host() *Namespace { return n.host }

// Node returns a node's namespace.
func (n *Network) Node(name string) *Namespace { return n.nodes[name] }

// Config returns the lab's address plan.
func (n *Network) Config() Config { return n.cfg }

// hostNamespace opens the namespace that plays the host: the named one of
// the config, or the one minilab runs in.
func hostNamespace(cfg Config) (*Namespace, error) {
	if cfg.HostNetns != "" {
		return OpenNamespace(cfg.HostNetns)
	}
	h, err := netns.Get()
	if err != nil {
		return nil, err
	}
	return &Namespace{Name: "", handle: h}, nil
}

// CreateNetwork builds the lab's network, after removing anything a
// previous run of a lab of the same name left behind. It refuses ranges
// that overlap the host's routes or addresses. On error nothing is left.
func CreateNetwork(cfg Config) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := Cleanup(cfg); err != nil {
		return nil, fmt.Errorf("removing what an earlier run left: %w", err)
	}
	host, err := hostNamespace(cfg)
	if err != nil {
		return nil, err
	}
	if err := checkHostRanges(host, cfg); err != nil {
		host.Close()
		return nil, err
	}
	n := &Network{cfg: cfg, host: host, nodes: map[string]*Namespace{}}
	if err := n.build(); err != nil {
		n.Destroy()
		return nil, err
	}
	return n, nil
}

func (n *Network) build() error {
	cfg := n.cfg
	hl, err := n.host.Netlink()
	if err != nil {
		return err
	}
	defer hl.Close()

	// The LAN: a bridge on the host with the .1 address.
	bridge := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: cfg.BridgeName(), MTU: 1500}}
	if err := hl.LinkAdd(bridge); err != nil {
		return fmt.Errorf("creating bridge %s: %w", cfg.BridgeName(), err)
	}
	if err := hl.AddrAdd(bridge, addr(cfg.BridgeIP(), cfg.NodeCIDR.Bits())); err != nil {
		return fmt.Errorf("addressing bridge %s: %w", cfg.BridgeName(), err)
	}
	if err := hl.LinkSetUp(bridge); err != nil {
		return err
	}
	if cfg.HostNetns == "" {
		// Bridged traffic between nodes must not go through the host's own
		// firewall (br_netfilter): a per-bridge switch, not a host rule.
		os.WriteFile("/sys/class/net/"+cfg.BridgeName()+"/bridge/nf_call_iptables", []byte("0"), 0o644)
	}

	if err := n.createAppliance(hl, bridge); err != nil {
		return err
	}
	nodes := cfg.Nodes()
	for _, node := range nodes {
		ns, err := CreateNamespace(node.Netns())
		if err != nil {
			return err
		}
		n.nodes[node.Name] = ns
		if err := ns.Do(nodeSysctls); err != nil {
			return fmt.Errorf("node %s: %w", node.Name, err)
		}
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: node.HostVeth, MasterIndex: bridge.Index, MTU: 1500},
			PeerName:      "eth0",
			PeerNamespace: netlink.NsFd(ns.handle),
		}
		if err := hl.LinkAdd(veth); err != nil {
			return fmt.Errorf("node %s: creating its link %s: %w", node.Name, node.HostVeth, err)
		}
		if err := hl.LinkSetUp(veth); err != nil {
			return err
		}
		if err := n.configureNode(node, nodes); err != nil {
			return fmt.Errorf("node %s: %w", node.Name, err)
		}
		// The host reaches this node's pods through the node.
		if err := hl.RouteAdd(&netlink.Route{Dst: prefixNet(node.PodCIDR), Gw: net.IP(node.IP.AsSlice())}); err != nil {
			return fmt.Errorf("host route to %s via %s: %w", node.PodCIDR, node.IP, err)
		}
	}
	// ClusterIPs from the host go to the control-plane node, whose
	// kube-proxy rules translate them like any node's would.
	cp := cfg.ControlPlane()
	if err := hl.RouteAdd(&netlink.Route{Dst: prefixNet(cfg.ServiceCIDR), Gw: net.IP(cp.IP.AsSlice())}); err != nil {
		return fmt.Errorf("host route to %s via %s: %w", cfg.ServiceCIDR, cp.IP, err)
	}
	return nil
}

// nodeSysctls sets what a Kubernetes node needs (run inside the node's
// namespace): forwarding between its pods and the LAN, no reverse-path
// filter (replies to masqueraded traffic come back on another path),
// route_localnet for NodePorts on 127.0.0.1 as kube-proxy enables it, and
// no IPv6 (the lab is IPv4; it also spares the links duplicate address
// detection).
func nodeSysctls() error {
	for _, kv := range [][2]string{
		{"net/ipv6/conf/all/disable_ipv6", "1"},
		{"net/ipv6/conf/default/disable_ipv6", "1"},
		{"net/ipv4/ip_forward", "1"},
		{"net/ipv4/conf/all/rp_filter", "0"},
		{"net/ipv4/conf/default/rp_filter", "0"},
		{"net/ipv4/conf/all/route_localnet", "1"},
	} {
		if err := writeSysctl(kv[0], kv[1]); err != nil && !(os.IsNotExist(err) && strings.Contains(kv[0], "ipv6")) {
			return fmt.Errorf("sysctl %s: %w", kv[0], err)
		}
	}
	return nil
}

// configureNode addresses the node's eth0 and adds its routes: the other
// nodes' pod CIDRs via their node IPs, the service CIDR on the LAN so that
// a process on the node can send to a ClusterIP (its kube-proxy rules
// rewrite the destination before the packet leaves; unmatched ClusterIPs
// stay on the LAN, unanswered), and the host via the load balancer.
func (n *Network) configureNode(node Node, all []Node) error {
	nl, err := n.nodes[node.Name].Netlink()
	if err != nil {
		return err
	}
	defer nl.Close()
	eth0, err := nl.LinkByName("eth0")
	if err != nil {
		return err
	}
	if err := nl.AddrAdd(eth0, addr(node.IP, n.cfg.NodeCIDR.Bits())); err != nil {
		return err
	}
	if err := nl.LinkSetUp(eth0); err != nil {
		return err
	}
	for _, other := range all {
		if other.Name == node.Name {
			continue
		}
		if err := nl.RouteAdd(&netlink.Route{Dst: prefixNet(other.PodCIDR), Gw: net.IP(other.IP.AsSlice()), LinkIndex: eth0.Attrs().Index}); err != nil {
			return fmt.Errorf("route to %s: %w", other.PodCIDR, err)
		}
	}
	if err := nl.RouteAdd(&netlink.Route{Dst: prefixNet(n.cfg.ServiceCIDR), LinkIndex: eth0.Attrs().Index, Scope: netlink.SCOPE_LINK}); err != nil {
		return err
	}
	// The host is "outside": its traffic comes back through the load
	// balancer appliance, which must see the replies of the connections it
	// forwarded (see appliance.go). Other replies just pass through it.
	return nl.RouteAdd(&netlink.Route{Dst: prefixNet(netip.PrefixFrom(n.cfg.BridgeIP(), 32)), Gw: net.IP(n.cfg.ApplianceIP().AsSlice()), LinkIndex: eth0.Attrs().Index})
}

// Destroy removes the network: node namespaces (their veths go with them),
// the bridge, and with it the host routes through it.
func (n *Network) Destroy() error {
	var errs []error
	for name, ns := range n.nodes {
		ns.Close()
		if err := DeleteNamespace(name); err != nil {
			errs = append(errs, err)
		}
	}
	// Pods whose kubelet could not remove them (it crashed, say).
	names, _ := ListNamespaces()
	for _, name := range names {
		if n.cfg.OwnsNamespace(name) {
			if err := DeleteNamespace(name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := deleteHostLinks(n.host, n.cfg); err != nil {
		errs = append(errs, err)
	}
	n.host.Close()
	n.nodes = map[string]*Namespace{}
	return errors.Join(errs...)
}

// Cleanup removes everything a lab of this name may have left behind (after
// a crash, say): its node and pod namespaces and its host links.
func Cleanup(cfg Config) error {
	var errs []error
	names, err := ListNamespaces()
	if err != nil {
		return err
	}
	for _, name := range names {
		if cfg.OwnsNamespace(name) {
			if err := DeleteNamespace(name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	host, err := hostNamespace(cfg)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer host.Close()
	if err := deleteHostLinks(host, cfg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// OwnsNamespace says whether a network namespace name belongs to this lab.
func (c Config) OwnsNamespace(name string) bool {
	if strings.HasPrefix(name, c.Name+"-pod-") || name == c.Name+"-control-plane" || name == c.Name+"-worker" || name == c.Name+"-lb" {
		return true
	}
	rest, ok := strings.CutPrefix(name, c.Name+"-worker")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// deleteHostLinks removes the lab's bridge and host-side veths.
func deleteHostLinks(host *Namespace, cfg Config) error {
	hl, err := host.Netlink()
	if err != nil {
		return err
	}
	defer hl.Close()
	links, err := hl.LinkList()
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		name := l.Attrs().Name
		if name == cfg.BridgeName() || name == cfg.applianceHostVeth() || isHostVeth(cfg, name) {
			if err := hl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("deleting link %s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func isHostVeth(cfg Config, name string) bool {
	rest, ok := strings.CutPrefix(name, cfg.Name+"-")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// checkHostRanges refuses address ranges the host already uses: a lab
// whose pod network overlaps the office VPN's routes would cut the host
// off from it.
func checkHostRanges(host *Namespace, cfg Config) error {
	hl, err := host.Netlink()
	if err != nil {
		return err
	}
	defer hl.Close()
	ranges := []struct {
		flag string
		p    netip.Prefix
	}{{"--node-cidr", cfg.NodeCIDR}, {"--pod-cidr", cfg.PodCIDR}, {"--service-cidr", cfg.ServiceCIDR}}
	routes, err := hl.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue // the default route overlaps everything and means nothing here
		}
		dst, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		rp := netip.PrefixFrom(dst.Unmap(), ones)
		if ones == 0 {
			continue
		}
		for _, want := range ranges {
			if want.p.Overlaps(rp) {
				dev := ""
				if l, err := hl.LinkByIndex(r.LinkIndex); err == nil {
					dev = " dev " + l.Attrs().Name
				}
				return fmt.Errorf("%s %s overlaps the host route %s%s: pick another range with %s", want.flag, want.p, rp, dev, want.flag)
			}
		}
	}
	return nil
}

func addr(ip netip.Addr, bits int) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(ip.AsSlice()), Mask: net.CIDRMask(bits, 32)}}
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
