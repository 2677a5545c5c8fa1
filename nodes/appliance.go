package nodes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/vishvananda/netlink"
)

// The load-balancer appliance is the lab's cloud load balancer: a network
// namespace "<lab>-lb" on the node LAN (the last address of the node CIDR)
// that owns the LoadBalancer Services' external IPs (they are addresses on
// its eth0, so it answers ARP for them) and forwards each service port to
// nodeIP:nodePort of healthy nodes, spreading connections, as a cloud L4
// load balancer with node targets does:
//   - externalTrafficPolicy Cluster: every Ready node that kube-proxy's
//     /healthz (port 10256) says is healthy, except nodes labelled
//     node.kubernetes.io/exclude-from-external-load-balancers (kubeadm puts
//     that on the control plane);
//   - externalTrafficPolicy Local: only nodes whose healthCheckNodePort
//     answers 200, i.e. that run an endpoint, so the client's address is
//     kept end to end and no node has to drop the traffic.
//
// The appliance does not masquerade, so nodes see the real client. Replies
// must come back through it to be translated back to the external IP: the
// nodes route the host's address via the appliance (see configureNode),
// as a data centre's nodes reach the outside through its edge.
// loadBalancerSourceRanges are enforced here: other sources are not
// forwarded and their packets are dropped.

// ApplianceName is the appliance's network namespace.
func (c Config) ApplianceName() string { return c.Name + "-lb" }

// ApplianceIP is the appliance's address on the node LAN: the last usable.
func (c Config) ApplianceIP() netip.Addr {
	size := uint32(1) << (32 - c.NodeCIDR.Bits())
	return nth(c.NodeCIDR.Addr(), size-2)
}

// applianceHostVeth is the appliance's link on the host bridge.
func (c Config) applianceHostVeth() string { return c.Name + "-lb" }

// createAppliance builds the appliance's namespace and wires it to the bridge.
func (n *Network) createAppliance(hl *netlink.Handle, bridge *netlink.Bridge) error {
	cfg := n.cfg
	ns, err := CreateNamespace(cfg.ApplianceName())
	if err != nil {
		return err
	}
	n.nodes[cfg.ApplianceName()] = ns
	if err := ns.Do(func() error {
		for _, kv := range [][2]string{{"net/ipv6/conf/all/disable_ipv6", "1"}, {"net/ipv6/conf/default/disable_ipv6", "1"},
			{"net/ipv4/ip_forward", "1"}, {"net/ipv4/conf/all/rp_filter", "0"}, {"net/ipv4/conf/default/rp_filter", "0"}} {
			if err := writeSysctl(kv[0], kv[1]); err != nil && !strings.Contains(kv[0], "ipv6") {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: cfg.applianceHostVeth(), MasterIndex: bridge.Index, MTU: 1500},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(ns.handle),
	}
	if err := hl.LinkAdd(veth); err != nil {
		return fmt.Errorf("load balancer: creating its link: %w", err)
	}
	if err := hl.LinkSetUp(veth); err != nil {
		return err
	}
	nl, err := ns.Netlink()
	if err != nil {
		return err
	}
	defer nl.Close()
	eth0, err := nl.LinkByName("eth0")
	if err != nil {
		return err
	}
	if err := nl.AddrAdd(eth0, addr(cfg.ApplianceIP(), cfg.NodeCIDR.Bits())); err != nil {
		return err
	}
	return nl.LinkSetUp(eth0)
}

// Appliance programs the load balancer from the Services and Nodes.
type Appliance struct {
	cfg      Config
	ns       *Namespace
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	changed  chan struct{}
	logf     func(string, ...interface{})

	// CheckInterval is how often node health is checked (2 s; clouds use
	// 5 to 10 s).
	CheckInterval time.Duration

	mu      sync.Mutex
	healthy map[string]bool // "nodeIP:port" → last answer was 200
	last    []byte          // last payload written
	syncs   int
}

// NewAppliance returns the appliance's controller; start the factory after.
func NewAppliance(n *Network, factory informers.SharedInformerFactory) *Appliance {
	svc := factory.Core().V1().Services()
	nodes := factory.Core().V1().Nodes()
	a := &Appliance{
		cfg: n.cfg, ns: n.nodes[n.cfg.ApplianceName()],
		services: svc.Lister(), nodes: nodes.Lister(),
		synced:        []cache.InformerSynced{svc.Informer().HasSynced, nodes.Informer().HasSynced},
		changed:       make(chan struct{}, 1),
		logf:          log.Printf,
		CheckInterval: 2 * time.Second,
		healthy:       map[string]bool{},
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc: func(interface{}) { a.poke() }, UpdateFunc: func(_, _ interface{}) { a.poke() }, DeleteFunc: func(interface{}) { a.poke() },
	}
	svc.Informer().AddEventHandler(h)
	nodes.Informer().AddEventHandler(h)
	return a
}

func (a *Appliance) poke() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// Syncs counts successful rule writes.
func (a *Appliance) Syncs() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.syncs
}

// Run keeps the appliance in step until ctx ends.
func (a *Appliance) Run(ctx context.Context) {
	for !cache.WaitForCacheSync(ctx.Done(), a.synced...) {
		if ctx.Err() != nil {
			return
		}
	}
	check := time.NewTicker(a.CheckInterval)
	defer check.Stop()
	a.checkHealth(ctx)
	a.poke()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.changed:
			// A new Service's nodes get checked at once, not at the next tick.
			a.checkHealth(ctx)
		case <-check.C:
			if !a.checkHealth(ctx) {
				continue // nothing changed
			}
		}
		if err := a.sync(); err != nil {
			a.logf("load balancer: %v", err)
		}
	}
}

// lbPort is one forwarded service port.
type lbPort struct {
	name         string // ns/svc:port
	ip           netip.Addr
	port         int32
	protocol     string
	nodePort     int32
	ranges       []netip.Prefix
	local        bool
	healthPort   int32 // the port whose answer says a node may get traffic
	backendNodes []netip.Addr
}

// wanted lists every forwarded port with the nodes it may go to.
func (a *Appliance) wanted() ([]lbPort, []netip.Addr) {
	services, _ := a.services.List(labels.Everything())
	nodes, _ := a.nodes.List(labels.Everything())
	var candidates []netip.Addr
	for _, n := range nodes {
		if _, excluded := n.Labels["node.kubernetes.io/exclude-from-external-load-balancers"]; excluded || !nodeReady(n) {
			continue
		}
		for _, ad := range n.Status.Addresses {
			if ad.Type == corev1.NodeInternalIP {
				if ip, err := netip.ParseAddr(ad.Address); err == nil {
					candidates = append(candidates, ip)
				}
			}
		}
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].Less(candidates[j]) })
	var ports []lbPort
	var vips []netip.Addr
	for _, svc := range services {
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			ip, err := netip.ParseAddr(ing.IP)
			if err != nil || !a.cfg.NodeCIDR.Contains(ip) {
				continue
			}
			vips = append(vips, ip)
			for _, p := range svc.Spec.Ports {
				if p.NodePort == 0 {
					continue // allocateLoadBalancerNodePorts: false — nothing to forward to
				}
				lp := lbPort{name: svc.Namespace + "/" + svc.Name + portSuffix(p.Name), ip: ip, port: p.Port,
					protocol: strings.ToLower(string(p.Protocol)), nodePort: p.NodePort,
					local: svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal}
				if lp.protocol == "" {
					lp.protocol = "tcp"
				}
				for _, r := range svc.Spec.LoadBalancerSourceRanges {
					if pfx, err := netip.ParsePrefix(strings.TrimSpace(r)); err == nil {
						lp.ranges = append(lp.ranges, pfx.Masked())
					}
				}
				lp.healthPort = 10256
				if lp.local {
					lp.healthPort = svc.Spec.HealthCheckNodePort
				}
				lp.backendNodes = candidates
				ports = append(ports, lp)
			}
		}
	}
	sort.Slice(ports, func(i, j int) bool {
		return ports[i].name < ports[j].name || ports[i].name == ports[j].name && ports[i].ip.Less(ports[j].ip)
	})
	return ports, vips
}

func portSuffix(name string) string {
	if name == "" {
		return ""
	}
	return ":" + name
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// checkHealth asks every (node, health port) the current ports need, from
// inside the appliance, and reports whether any answer changed.
func (a *Appliance) checkHealth(ctx context.Context) bool {
	ports, _ := a.wanted()
	targets := map[string]bool{}
	for _, p := range ports {
		for _, n := range p.backendNodes {
			targets[netip.AddrPortFrom(n, uint16(p.healthPort)).String()] = true
		}
	}
	results := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for t := range targets {
		wg.Add(1)
		go func(t string) {
			defer wg.Done()
			ok := a.probe(ctx, t)
			mu.Lock()
			results[t] = ok
			mu.Unlock()
		}(t)
	}
	wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	changed := len(results) != len(a.healthy)
	for t, ok := range results {
		if a.healthy[t] != ok {
			changed = true
		}
	}
	a.healthy = results
	return changed
}

// probe is one HTTP health check from the appliance.
func (a *Appliance) probe(ctx context.Context, target string) bool {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			derr := a.ns.Do(func() error {
				d := net.Dialer{Timeout: 500 * time.Millisecond}
				conn, err = d.DialContext(ctx, network, addr)
				return nil
			})
			if derr != nil {
				return nil, derr
			}
			return conn, err
		},
	}}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+target+"/healthz", nil)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// sync writes the appliance's addresses and rules.
func (a *Appliance) sync() error {
	ports, vips := a.wanted()
	if err := a.syncAddresses(vips); err != nil {
		return err
	}
	a.mu.Lock()
	healthy := a.healthy
	a.mu.Unlock()
	payload := a.rules(ports, vips, healthy)
	a.mu.Lock()
	same := bytes.Equal(payload, a.last)
	a.mu.Unlock()
	if same {
		return nil
	}
	var stderr bytes.Buffer
	err := a.ns.Do(func() error {
		cmd := exec.Command("iptables-restore", "-w", "5")
		cmd.Stdin = bytes.NewReader(payload)
		cmd.Stderr = &stderr
		return cmd.Run()
	})
	if err != nil {
		return fmt.Errorf("iptables-restore: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	a.mu.Lock()
	a.last = payload
	a.syncs++
	a.mu.Unlock()
	return nil
}

// syncAddresses makes the external IPs the addresses of eth0, and no others.
func (a *Appliance) syncAddresses(vips []netip.Addr) error {
	nl, err := a.ns.Netlink()
	if err != nil {
		return err
	}
	defer nl.Close()
	eth0, err := nl.LinkByName("eth0")
	if err != nil {
		return err
	}
	want := map[netip.Addr]bool{}
	for _, v := range vips {
		want[v] = true
	}
	addrs, err := nl.AddrList(eth0, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	have := map[netip.Addr]bool{}
	for _, ad := range addrs {
		ip, _ := netip.AddrFromSlice(ad.IP)
		ip = ip.Unmap()
		ones, _ := ad.Mask.Size()
		if ones != 32 {
			continue // the appliance's own address
		}
		if !want[ip] {
			if err := nl.AddrDel(eth0, &ad); err != nil {
				return err
			}
			continue
		}
		have[ip] = true
	}
	for v := range want {
		if !have[v] {
			// A new address: tell the LAN at once (gratuitous ARP is what
			// a failover would send; here the kernel's own ARP replies do).
			if err := nl.AddrAdd(eth0, addr(v, 32)); err != nil {
				return err
			}
		}
	}
	return nil
}

// applianceChain names a forwarded port's chain, hashed like kube-proxy's.
func applianceChain(p lbPort) string {
	sum := sha256.Sum256([]byte(p.name + p.protocol + p.ip.String()))
	return "MINILAB-LB-" + base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// rules is the appliance's iptables-restore input (whole tables: the
// namespace is the appliance's alone).
func (a *Appliance) rules(ports []lbPort, vips []netip.Addr, healthy map[string]bool) []byte {
	var chains, nat, filter strings.Builder
	nat.WriteString("-A PREROUTING -m comment --comment \"load balancer external IPs\" -j MINILAB-LB-SERVICES\n")
	for _, p := range ports {
		chain := applianceChain(p)
		fmt.Fprintf(&chains, ":%s - [0:0]\n", chain)
		match := fmt.Sprintf("-d %s/32 -p %s -m %s --dport %d", p.ip, p.protocol, p.protocol, p.port)
		if len(p.ranges) == 0 {
			fmt.Fprintf(&nat, "-A MINILAB-LB-SERVICES %s -m comment --comment \"%s loadbalancer\" -j %s\n", match, p.name, chain)
		}
		for _, r := range p.ranges {
			fmt.Fprintf(&nat, "-A MINILAB-LB-SERVICES -s %s %s -m comment --comment \"%s loadbalancer, allowed source\" -j %s\n", r, match, p.name, chain)
		}
		var backends []netip.Addr
		for _, n := range p.backendNodes {
			if healthy[netip.AddrPortFrom(n, uint16(p.healthPort)).String()] {
				backends = append(backends, n)
			}
		}
		for i, n := range backends {
			stat := ""
			if i < len(backends)-1 {
				stat = fmt.Sprintf(" -m statistic --mode random --probability %0.10f", 1/float64(len(backends)-i))
			}
			fmt.Fprintf(&nat, "-A %s -p %s -m comment --comment \"%s to node %s\"%s -j DNAT --to-destination %s:%d\n", chain, p.protocol, p.name, n, stat, n, p.nodePort)
		}
	}
	// Whatever still goes to an external IP was not forwarded: no healthy
	// node, a port the Service does not have, or a source outside
	// loadBalancerSourceRanges. Drop it, as a cloud firewall would.
	for _, v := range vips {
		fmt.Fprintf(&filter, "-A INPUT -d %s/32 -m comment --comment \"not forwarded: no healthy node, unknown port or source not allowed\" -j DROP\n", v)
	}
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	b.WriteString(filter.String())
	b.WriteString("COMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:MINILAB-LB-SERVICES - [0:0]\n")
	b.WriteString(chains.String())
	b.WriteString(nat.String())
	b.WriteString("COMMIT\n")
	return []byte(b.String())
}

// HealthyNodes reports, for tests and `minilab status`, which health
// checks last answered 200.
func (a *Appliance) HealthyNodes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for t, ok := range a.healthy {
		if ok {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}
