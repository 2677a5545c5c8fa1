package iptables

import (
	"net/netip"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Fixture conventions, the same as kube-proxy's unit tests:
//
//	Pod IPs:             10.0.0.0/8 (the local-traffic detector's CIDR)
//	Service ClusterIPs:  172.30.0.0/16
//	Local node IP:       192.168.0.2 (alternate 192.168.1.2)
//	Service ExternalIPs: 192.168.99.0/24 (192.168.99.11 is also a node address)
//	LoadBalancer IPs:    1.2.3.4, 5.6.7.8, 9.10.11.12
//	Non-cluster clients: 203.0.113.0/24; LB source range 203.0.113.0/25
const (
	testNodeName              = "test-node"
	testNodeIP                = "192.168.0.2"
	testNodeIPAlt             = "192.168.1.2"
	testExternalIP            = "192.168.99.11"
	testExternalClient        = "203.0.113.2"
	testExternalClientBlocked = "203.0.113.130"
)

// testLocalIPs are the addresses the tracer treats as the node's own.
var testLocalIPs = []string{"127.0.0.1", testNodeIP, testNodeIPAlt, testExternalIP}

func addr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = addr(s)
	}
	return out
}

// newTestState is the fake proxier's configuration: detector on 10.0.0.0/8,
// mark bit 14, localhost NodePorts on. --random-fully is off, as in
// kube-proxy's fake iptables, so rule texts match upstream's tests.
func newTestState() *State {
	st := NewState(testNodeName)
	st.NodeIPs = addrs(testNodeIP, testNodeIPAlt)
	st.ClusterCIDR = prefix("10.0.0.0/8")
	st.RandomFully = false
	return st
}

// portName is a TCP ServicePortName.
func portName(ns, name, port string) ServicePortName {
	return ServicePortName{Namespace: ns, Name: name, Port: port, Protocol: corev1.ProtocolTCP}
}

// addService adds a port to st; opts adjust it.
func addService(st *State, n ServicePortName, clusterIP string, port int32, opts ...func(*ServicePort)) *ServicePort {
	sp := &ServicePort{Name: n, ClusterIP: addr(clusterIP), Port: port}
	for _, o := range opts {
		o(sp)
	}
	st.Services[n] = sp
	return sp
}

// ep is a ready endpoint on node (empty: some other node).
func ep(ipPort string, node string) Endpoint {
	ap := netip.MustParseAddrPort(ipPort)
	return Endpoint{IP: ap.Addr(), Port: int32(ap.Port()), NodeName: node, Ready: true, Serving: true}
}

// terminating is a serving (or not) endpoint that is shutting down.
func terminating(ipPort, node string, serving bool) Endpoint {
	e := ep(ipPort, node)
	e.Ready, e.Serving, e.Terminating = false, serving, true
	return e
}

// build builds st, checks the payload's consistency and returns it with a
// tracer loaded with it.
func build(t *testing.T, st *State) (Rules, *emulatedNode) {
	t.Helper()
	r := Build(st, nil)
	checkRuleJumps(t, r.Payload)
	return r, newTracer(t, testLocalIPs, r.Payload)
}

// chainsOf returns, per table, each chain's rules in order ("" key lists the
// declared chains), for comparing payloads whose chains are interleaved
// differently.
func chainsOf(t *testing.T, payload string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	table := ""
	for _, line := range strings.Split(payload, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line == "COMMIT":
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			out[table] = map[string][]string{}
		case strings.HasPrefix(line, ":"):
			out[table][""] = append(out[table][""], strings.Fields(line[1:])[0])
		case strings.HasPrefix(line, "-A "):
			chain := strings.Fields(line)[1]
			out[table][chain] = append(out[table][chain], line)
		case strings.HasPrefix(line, "-X "):
			out[table]["-X"] = append(out[table]["-X"], line)
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
	for _, chains := range out {
		sort.Strings(chains[""])
	}
	return out
}

// assertChainsEqual compares two payloads chain by chain.
func assertChainsEqual(t *testing.T, want, got string) {
	t.Helper()
	w, g := chainsOf(t, want), chainsOf(t, got)
	for table := range w {
		if g[table] == nil {
			t.Errorf("table %s missing", table)
		}
	}
	for table, gchains := range g {
		wchains := w[table]
		if wchains == nil {
			t.Errorf("unexpected table %s", table)
			continue
		}
		keys := map[string]bool{}
		for k := range wchains {
			keys[k] = true
		}
		for k := range gchains {
			keys[k] = true
		}
		for k := range keys {
			if strings.Join(wchains[k], "\n") != strings.Join(gchains[k], "\n") {
				what := "chain " + k
				if k == "" {
					what = "declared chains"
				}
				t.Errorf("%s %s:\nwant:\n%s\ngot:\n%s", table, what, strings.Join(wchains[k], "\n"), strings.Join(gchains[k], "\n"))
			}
		}
	}
}
