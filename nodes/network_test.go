package nodes

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// requireRoot skips tests that build real namespaces when not run as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces, links and routes (run `sudo make test`)")
	}
}

// testConfig returns a lab plan of its own for one test: a unique name and
// subnets, with its host side in a throwaway namespace.
func testConfig(t *testing.T, name string, third int) Config {
	t.Helper()
	host := fmt.Sprintf("mlt-host-%s-%d", name, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", host).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v %s", host, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", host).Run() })
	return Config{
		Name:        name,
		NodeCIDR:    netip.MustParsePrefix(fmt.Sprintf("172.31.%d.0/24", third)),
		PodCIDR:     netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", 100+third)),
		ServiceCIDR: netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", 200+third)),
		Workers:     2,
		HostNetns:   host,
	}
}

func inNetns(t *testing.T, ns string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out), err
}

// leftovers lists what of a lab remains: its namespaces.
func leftovers(cfg Config) []string {
	var out []string
	names, _ := ListNamespaces()
	for _, n := range names {
		if cfg.OwnsNamespace(n) {
			out = append(out, n)
		}
	}
	return out
}

func TestNetworkConnectsNodesAndHost(t *testing.T) {
	requireRoot(t)
	cfg := testConfig(t, "tnet", 41)
	n, err := CreateNetwork(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Destroy()
	nodes := cfg.Nodes()
	if nodes[0].Name != "tnet-control-plane" || nodes[2].Name != "tnet-worker2" || nodes[1].IP.String() != "172.31.41.3" || nodes[2].PodCIDR.String() != "10.141.2.0/24" {
		t.Fatalf("plan: %+v", nodes)
	}
	// ip netns exec works with the node names.
	out, err := inNetns(t, "tnet-worker", "ip", "-4", "addr", "show", "eth0")
	if err != nil || !strings.Contains(out, "172.31.41.3/24") {
		t.Fatalf("worker eth0: %v %s", err, out)
	}
	// host → node and node → node over the bridge.
	if err := tcpReach(cfg.HostNetns, "tnet-worker2", "172.31.41.4"); err != nil {
		t.Fatalf("host cannot reach worker2: %v", err)
	}
	if err := tcpReach("tnet-worker", "tnet-control-plane", "172.31.41.2"); err != nil {
		t.Fatalf("worker cannot reach the control plane: %v", err)
	}
	routes, _ := inNetns(t, "tnet-worker", "ip", "route")
	for _, want := range []string{"10.141.0.0/24 via 172.31.41.2", "10.141.2.0/24 via 172.31.41.4", "10.241.0.0/16 dev eth0 scope link"} {
		if !strings.Contains(routes, want) {
			t.Errorf("worker routes lack %q:\n%s", want, routes)
		}
	}
	if strings.Contains(routes, "default") {
		t.Errorf("nodes must have no default route (no traffic may leave the lab):\n%s", routes)
	}
	hostRoutes, _ := inNetns(t, cfg.HostNetns, "ip", "route")
	for _, want := range []string{"10.141.1.0/24 via 172.31.41.3 dev tnet0", "10.241.0.0/16 via 172.31.41.2 dev tnet0"} {
		if !strings.Contains(hostRoutes, want) {
			t.Errorf("host routes lack %q:\n%s", want, hostRoutes)
		}
	}
	if err := n.Destroy(); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(cfg); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	if links, _ := inNetns(t, cfg.HostNetns, "ip", "-o", "link"); strings.Contains(links, "tnet") {
		t.Fatalf("host links left behind:\n%s", links)
	}
}

func TestNetworkRefusesOverlappingRanges(t *testing.T) {
	requireRoot(t)
	cfg := testConfig(t, "tovl", 42)
	if out, err := inNetns(t, cfg.HostNetns, "ip", "link", "add", "dummyish", "type", "bridge"); err != nil {
		t.Fatal(out)
	}
	inNetns(t, cfg.HostNetns, "ip", "link", "set", "dummyish", "up")
	if out, err := inNetns(t, cfg.HostNetns, "ip", "addr", "add", "10.142.5.1/24", "dev", "dummyish"); err != nil {
		t.Fatal(out)
	}
	_, err := CreateNetwork(cfg)
	if err == nil || !strings.Contains(err.Error(), "--pod-cidr 10.142.0.0/16 overlaps the host route 10.142.5.0/24 dev dummyish: pick another range with --pod-cidr") {
		t.Fatalf("overlap: %v", err)
	}
	if left := leftovers(cfg); len(left) > 0 {
		t.Fatalf("a refused network left %v", left)
	}
}

// tcpReach listens on ip:port inside namespace "to" and connects from
// namespace "from": a reachability check needing no ping binary.
func tcpReach(from, to, ip string) error {
	toNs, err := OpenNamespace(to)
	if err != nil {
		return err
	}
	defer toNs.Close()
	var l net.Listener
	if err := toNs.Do(func() error {
		var err error
		l, err = net.Listen("tcp", net.JoinHostPort(ip, "0"))
		return err
	}); err != nil {
		return err
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	fromNs, err := OpenNamespace(from)
	if err != nil {
		return err
	}
	defer fromNs.Close()
	return fromNs.Do(func() error {
		c, err := net.DialTimeout("tcp", l.Addr().String(), 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 2)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = io.ReadFull(c, buf)
		return err
	})
}
