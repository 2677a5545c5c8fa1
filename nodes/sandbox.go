package nodes

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// Sandbox is a pod's network: its own namespace with eth0, wired to the
// node point-to-point. What a CNI plugin (kindnet's ptp) sets up:
//
//	pod:  eth0 10.244.1.5/32, route 10.244.1.1 dev eth0, default via 10.244.1.1
//	node: vethXXXXXXXX with 10.244.1.1/32, route 10.244.1.5 dev vethXXXXXXXX scope host
type Sandbox struct {
	Namespace *Namespace
	IP        netip.Addr
	HostVeth  string // the veth end in the node
}

// hostVethName is the pod's veth end in the node: "veth" and 8 hex digits.
func hostVethName(namespace, pod string) string { return "veth" + shortHash(namespace+"/"+pod) }

// CreateSandbox creates a pod's namespace and wires it to its node.
func CreateSandbox(cfg Config, node Node, nodeNs *Namespace, namespace, pod string, ip netip.Addr) (*Sandbox, error) {
	ns, err := CreateNamespace(cfg.PodNetns(namespace, pod))
	if err != nil {
		return nil, err
	}
	sb := &Sandbox{Namespace: ns, IP: ip, HostVeth: hostVethName(namespace, pod)}
	if err := sb.wire(node, nodeNs); err != nil {
		sb.Delete()
		return nil, fmt.Errorf("pod %s/%s: %w", namespace, pod, err)
	}
	return sb, nil
}

func (sb *Sandbox) wire(node Node, nodeNs *Namespace) error {
	if err := sb.Namespace.Do(func() error {
		writeSysctl("net/ipv6/conf/all/disable_ipv6", "1")
		return writeSysctl("net/ipv6/conf/default/disable_ipv6", "1")
	}); err != nil {
		return err
	}
	nl, err := nodeNs.Netlink()
	if err != nil {
		return err
	}
	defer nl.Close()
	// A veth left by a pod of the same name that was not cleaned up would
	// block the new one.
	if old, err := nl.LinkByName(sb.HostVeth); err == nil {
		nl.LinkDel(old)
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: sb.HostVeth, MTU: 1500},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(sb.Namespace.handle),
	}
	if err := nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("creating %s: %w", sb.HostVeth, err)
	}
	host, err := nl.LinkByName(sb.HostVeth)
	if err != nil {
		return err
	}
	gw := node.Gateway()
	if err := nl.AddrAdd(host, addr(gw, 32)); err != nil {
		return fmt.Errorf("addressing %s: %w", sb.HostVeth, err)
	}
	if err := nl.LinkSetUp(host); err != nil {
		return err
	}
	if err := nl.RouteAdd(&netlink.Route{Dst: prefixNet(netip.PrefixFrom(sb.IP, 32)), LinkIndex: host.Attrs().Index, Scope: netlink.SCOPE_HOST}); err != nil {
		return fmt.Errorf("route to %s: %w", sb.IP, err)
	}

	pl, err := sb.Namespace.Netlink()
	if err != nil {
		return err
	}
	defer pl.Close()
	eth0, err := pl.LinkByName("eth0")
	if err != nil {
		return err
	}
	if err := pl.AddrAdd(eth0, addr(sb.IP, 32)); err != nil {
		return err
	}
	if err := pl.LinkSetUp(eth0); err != nil {
		return err
	}
	gwIP := net.IP(gw.AsSlice())
	if err := pl.RouteAdd(&netlink.Route{Dst: prefixNet(netip.PrefixFrom(gw, 32)), LinkIndex: eth0.Attrs().Index, Scope: netlink.SCOPE_LINK}); err != nil {
		return err
	}
	return pl.RouteAdd(&netlink.Route{Gw: gwIP, LinkIndex: eth0.Attrs().Index})
}

// Delete removes the pod's namespace; its veth pair and the node's route
// to it go with it.
func (sb *Sandbox) Delete() error {
	sb.Namespace.Close()
	return DeleteNamespace(sb.Namespace.Name)
}
