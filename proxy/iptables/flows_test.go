package iptables

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/minilab/minilab/proxy/iptables/tracer"
)

// TestTracePacket checks the tracer itself against the overall fixture, with
// kube-proxy's TestTracePacket rows.
func TestTracePacket(t *testing.T) {
	_, tr := build(t, overallState())
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "no match", src: "10.0.0.2", dst: "10.0.0.3", port: 80, output: ""},
		{name: "single endpoint", src: "10.0.0.2", dst: "172.30.0.41", port: 80, output: "10.180.0.1:80"},
		{name: "multiple endpoints", src: "10.0.0.2", dst: "172.30.0.44", port: 80, output: "10.180.0.4:80, 10.180.0.5:80"},
		{name: "LOCAL, KUBE-MARK-MASQ", src: testNodeIP, dst: "192.168.99.22", port: 80, output: "10.180.0.2:80", masq: true},
		{name: "DROP", src: testExternalClient, dst: "192.168.99.22", port: 80, output: "DROP"},
		{name: "ACCEPT (NodePortHealthCheck)", src: testNodeIP, dst: testNodeIP, port: 30000, output: "ACCEPT"},
		{name: "REJECT", src: "10.0.0.2", dst: "172.30.0.46", port: 80, output: "REJECT"},
		{name: "blocked by source range", src: testExternalClientBlocked, dst: "5.6.7.8", port: 80, output: "DROP"},
	})
}

func TestTracerRejectsBadPayloads(t *testing.T) {
	for name, payload := range map[string]string{
		"undeclared chain":     "*nat\n-A KUBE-NOPE -j RETURN\nCOMMIT\n",
		"dangling jump":        "*nat\n:KUBE-A - [0:0]\n-A KUBE-A -j KUBE-B\nCOMMIT\n",
		"unknown module":       "*nat\n:KUBE-A - [0:0]\n-A KUBE-A -m nfacct --nfacct-name x -j RETURN\nCOMMIT\n",
		"unknown option":       "*nat\n:KUBE-A - [0:0]\n-A KUBE-A --sport 80 -j RETURN\nCOMMIT\n",
		"missing COMMIT":       "*nat\n:KUBE-A - [0:0]\n",
		"delete referenced":    "*nat\n:KUBE-A - [0:0]\n:KUBE-B - [0:0]\n-A KUBE-A -j KUBE-B\n-X KUBE-B\nCOMMIT\n",
		"unterminated comment": "*nat\n:KUBE-A - [0:0]\n-A KUBE-A -m comment --comment \"x -j RETURN\nCOMMIT\n",
	} {
		tr := &emulatedNode{t: t, rs: tracer.NewRuleset()}
		if err := tr.restore([]byte(payload)); err == nil {
			t.Errorf("%s: restore accepted\n%s", name, payload)
		}
	}
}

// TestTracerHooks checks that the tracer takes the hooks a real packet takes.
func TestTracerHooks(t *testing.T) {
	payload := []byte(`*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-SERVICES -d 10.96.0.1 -j REJECT
-A KUBE-NODEPORTS -m tcp -p tcp --dport 22 -j ACCEPT
COMMIT
`)
	tr := newTracer(t, testLocalIPs, payload)
	for _, tc := range []struct {
		f    flow
		want string
	}{
		{flow{src: "10.0.0.2", dst: "10.96.0.1", proto: "tcp", port: 80}, "REJECT"},                 // FORWARD
		{flow{src: testNodeIP, dst: "10.96.0.1", proto: "tcp", port: 80, fromNode: true}, "REJECT"}, // OUTPUT
		{flow{src: "10.0.0.2", dst: testNodeIP, proto: "tcp", port: 22}, "ACCEPT"},                  // INPUT
		{flow{src: "10.0.0.2", dst: "10.0.0.3", proto: "tcp", port: 22}, ""},                        // FORWARD: INPUT-only chain not run
	} {
		if got := tr.trace(tc.f).output(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.f, got, tc.want)
		}
	}
}

// TestClusterIPGeneral follows kube-proxy's test of the same name.
func TestClusterIPGeneral(t *testing.T) {
	st := newTestState()
	svc1 := portName("ns1", "svc1", "")
	addService(st, svc1, "172.30.0.41", 80)
	st.Endpoints[svc1] = []Endpoint{ep("10.180.0.1:80", testNodeName)}

	svc2 := func(port, proto string) ServicePortName {
		n := portName("ns2", "svc2", port)
		n.Protocol = corev1.Protocol(proto)
		return n
	}
	for _, p := range []struct {
		name, proto    string
		port, endpoint int32
	}{
		{"http", "TCP", 80, 80}, {"https", "TCP", 443, 8443}, {"dns-udp", "UDP", 53, 53},
		{"dns-tcp", "TCP", 53, 5353}, {"dns-sctp", "SCTP", 53, 53},
	} {
		n := svc2(p.name, p.proto)
		addService(st, n, "172.30.0.42", p.port)
		st.Endpoints[n] = []Endpoint{epPort("10.180.0.1", p.endpoint, testNodeName), epPort("10.180.2.1", p.endpoint, "host2")}
	}
	_, tr := build(t, st)
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "simple clusterIP", src: "10.180.0.2", dst: "172.30.0.41", port: 80, output: "10.180.0.1:80"},
		{name: "hairpin to cluster IP", src: "10.180.0.1", dst: "172.30.0.41", port: 80, output: "10.180.0.1:80", masq: true},
		{name: "clusterIP with multiple endpoints", src: "10.180.0.2", dst: "172.30.0.42", port: 80, output: "10.180.0.1:80, 10.180.2.1:80"},
		{name: "clusterIP with TargetPort", src: "10.180.0.2", dst: "172.30.0.42", port: 443, output: "10.180.0.1:8443, 10.180.2.1:8443"},
		{name: "TCP DNS only goes to TCP endpoints", src: "10.180.0.2", dst: "172.30.0.42", port: 53, output: "10.180.0.1:5353, 10.180.2.1:5353"},
		{name: "UDP DNS only goes to UDP endpoints", src: "10.180.0.2", dst: "172.30.0.42", proto: "udp", port: 53, output: "10.180.0.1:53, 10.180.2.1:53"},
		{name: "SCTP DNS only goes to SCTP endpoints", src: "10.180.0.2", dst: "172.30.0.42", proto: "sctp", port: 53, output: "10.180.0.1:53, 10.180.2.1:53"},
		{name: "TCP-only port does not match UDP traffic", src: "10.180.0.2", dst: "172.30.0.42", proto: "udp", port: 80, output: ""},
		{name: "svc1 does not accept svc2's ports", src: "10.180.0.2", dst: "172.30.0.41", port: 443, output: ""},
		{name: "node to cluster IP is masqueraded", src: testNodeIP, dst: "172.30.0.41", port: 80, output: "10.180.0.1:80", masq: true},
	})
}

// TestLoadBalancer: source ranges filter LB traffic but not NodePorts; the
// node (whose IP is in a range) and the LB IPs themselves are allowed.
func TestLoadBalancer(t *testing.T) {
	st := newTestState()
	n := portName("ns1", "svc1", "p80")
	addService(st, n, "172.30.0.41", 80, func(sp *ServicePort) {
		sp.NodePort = 3001
		sp.LoadBalancerIPs = addrs("1.2.3.4", "5.6.7.8")
		sp.LoadBalancerSourceRanges = []netip.Prefix{prefix("192.168.0.0/24"), prefix("203.0.113.0/25")}
	})
	st.Endpoints[n] = []Endpoint{ep("10.180.0.1:80", testNodeName)}
	r, tr := build(t, st)

	fw := ServiceChainName("KUBE-FW-", n)
	ext := ServiceChainName("KUBE-EXT-", n)
	wantFW := []string{
		"-A " + fw + ` -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 192.168.0.0/24 -j ` + ext,
		"-A " + fw + ` -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 203.0.113.0/25 -j ` + ext,
		"-A " + fw + ` -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 1.2.3.4 -j ` + ext,
		"-A " + fw + ` -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 5.6.7.8 -j ` + ext,
		"-A " + fw + ` -m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"`,
	}
	if got := chainsOf(t, string(r.Payload))["nat"][fw]; strings.Join(got, "\n") != strings.Join(wantFW, "\n") {
		t.Errorf("%s:\n%s\nwant\n%s", fw, strings.Join(got, "\n"), strings.Join(wantFW, "\n"))
	}

	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "pod to cluster IP", src: "10.0.0.2", dst: "172.30.0.41", port: 80, output: "10.180.0.1:80"},
		{name: "external to nodePort", src: testExternalClient, dst: testNodeIP, port: 3001, output: "10.180.0.1:80", masq: true},
		{name: "nodePort bypasses LoadBalancerSourceRanges", src: testExternalClientBlocked, dst: testNodeIP, port: 3001, output: "10.180.0.1:80", masq: true},
		{name: "accepted external to LB1", src: testExternalClient, dst: "1.2.3.4", port: 80, output: "10.180.0.1:80", masq: true},
		{name: "accepted external to LB2", src: testExternalClient, dst: "5.6.7.8", port: 80, output: "10.180.0.1:80", masq: true},
		{name: "blocked external to LB1", src: testExternalClientBlocked, dst: "1.2.3.4", port: 80, output: "DROP"},
		{name: "blocked external to LB2", src: testExternalClientBlocked, dst: "5.6.7.8", port: 80, output: "DROP"},
		{name: "pod to LB1 (blocked by LoadBalancerSourceRanges)", src: "10.0.0.2", dst: "1.2.3.4", port: 80, output: "DROP"},
		{name: "node to LB1 (allowed by LoadBalancerSourceRanges)", src: testNodeIP, dst: "1.2.3.4", port: 80, output: "10.180.0.1:80", masq: true},
		{name: "same node to LB1, SNATed to LB1 (implicitly allowed)", src: "1.2.3.4", dst: "1.2.3.4", port: 80, output: "10.180.0.1:80", masq: true},
	})
}

// TestLoadBalancerNodeOutsideSourceRanges: no implicit -s <LB IP> rules
// when the node itself is not allowed.
func TestLoadBalancerNodeOutsideSourceRanges(t *testing.T) {
	st := newTestState()
	n := portName("ns1", "svc1", "p80")
	addService(st, n, "172.30.0.41", 80, func(sp *ServicePort) {
		sp.LoadBalancerIPs = addrs("1.2.3.4")
		sp.LoadBalancerSourceRanges = []netip.Prefix{prefix("203.0.113.0/25")}
	})
	st.Endpoints[n] = []Endpoint{ep("10.180.0.1:80", testNodeName)}
	r, tr := build(t, st)
	if strings.Contains(string(r.Payload), "-s 1.2.3.4") {
		t.Errorf("LB IP allowed although the node is outside the source ranges:\n%s", r.Payload)
	}
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "node to LB is dropped", src: testNodeIP, dst: "1.2.3.4", port: 80, output: "DROP"},
		{name: "allowed client", src: testExternalClient, dst: "1.2.3.4", port: 80, output: "10.180.0.1:80", masq: true},
	})
}

func TestNodePorts(t *testing.T) {
	for _, localhost := range []bool{true, false} {
		name := "localhost NodePorts enabled"
		if !localhost {
			name = "localhost NodePorts disabled"
		}
		t.Run(name, func(t *testing.T) {
			st := newTestState()
			st.LocalhostNodePorts = localhost
			n := portName("ns1", "svc1", "p80")
			addService(st, n, "172.30.0.41", 80, func(sp *ServicePort) { sp.NodePort = 3001 })
			st.Endpoints[n] = []Endpoint{ep("10.180.0.1:80", testNodeName), ep("10.180.2.1:80", "host2")}
			_, tr := build(t, st)
			localhostOutput, localhostMasq := "10.180.0.1:80, 10.180.2.1:80", true
			if !localhost {
				localhostOutput, localhostMasq = "", false
			}
			runPacketFlowTests(t, tr, []packetFlowTest{
				{name: "pod to cluster IP", src: "10.0.0.2", dst: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.2.1:80"},
				{name: "external to nodePort", src: testExternalClient, dst: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.2.1:80", masq: true},
				{name: "node to nodePort", src: testNodeIP, dst: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.2.1:80", masq: true},
				{name: "localhost to nodePort", src: "127.0.0.1", dst: "127.0.0.1", port: 3001, output: localhostOutput, masq: localhostMasq},
				{name: "external to alternate node IP", src: testExternalClient, dst: testNodeIPAlt, port: 3001, output: "10.180.0.1:80, 10.180.2.1:80", masq: true},
				{name: "wrong port", src: testExternalClient, dst: testNodeIP, port: 3002, output: ""},
			})
		})
	}
}

// TestExternalTrafficPolicyLocal follows kube-proxy's test of the same name:
// pods are short-circuited to all endpoints, external clients reach only the
// local one and keep their source address.
func TestExternalTrafficPolicyLocal(t *testing.T) {
	st := newTestState()
	n := portName("ns1", "svc1", "")
	addService(st, n, "172.30.0.41", 80, func(sp *ServicePort) {
		sp.NodePort = 3001
		sp.ExternalIPs = addrs(testExternalIP)
		sp.LoadBalancerIPs = addrs("1.2.3.4")
		sp.ExternalPolicyLocal = true
		sp.HealthCheckNodePort = 30000
	})
	st.Endpoints[n] = []Endpoint{ep("10.180.0.1:80", "host1"), ep("10.180.2.1:80", testNodeName)}
	_, tr := build(t, st)
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "pod to cluster IP hits both endpoints, unmasqueraded", src: "10.0.0.2", dst: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.2.1:80"},
		{name: "pod to external IP hits both endpoints, unmasqueraded", src: "10.0.0.2", dst: testExternalIP, port: 80, output: "10.180.0.1:80, 10.180.2.1:80"},
		{name: "external to external IP hits only local endpoint, unmasqueraded", src: testExternalClient, dst: testExternalIP, port: 80, output: "10.180.2.1:80"},
		{name: "pod to LB IP hits both endpoints, unmasqueraded", src: "10.0.0.2", dst: "1.2.3.4", port: 80, output: "10.180.0.1:80, 10.180.2.1:80"},
		{name: "external to LB IP hits only local endpoint, unmasqueraded", src: testExternalClient, dst: "1.2.3.4", port: 80, output: "10.180.2.1:80"},
		{name: "pod to NodePort hits both endpoints, unmasqueraded", src: "10.0.0.2", dst: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.2.1:80"},
		{name: "external to NodePort hits only local endpoint, unmasqueraded", src: testExternalClient, dst: testNodeIP, port: 3001, output: "10.180.2.1:80"},
		{name: "health check node port is open", src: testExternalClient, dst: testNodeIP, port: 30000, output: "ACCEPT"},
	})

	// With no local endpoint, external clients are dropped; pods and the
	// node itself still get through.
	st.Endpoints[n] = []Endpoint{ep("10.180.0.1:80", "host1")}
	r, tr := build(t, st)
	if strings.Contains(string(r.Payload), "KUBE-SVL-") {
		t.Errorf("KUBE-SVL chain without local endpoints:\n%s", r.Payload)
	}
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "external to LB IP is dropped", src: testExternalClient, dst: "1.2.3.4", port: 80, output: "DROP"},
		{name: "external to NodePort is dropped", src: testExternalClient, dst: testNodeIP, port: 3001, output: "DROP"},
		{name: "external to external IP is dropped", src: testExternalClient, dst: testExternalIP, port: 80, output: "DROP"},
		{name: "pod to LB IP is short-circuited", src: "10.0.0.2", dst: "1.2.3.4", port: 80, output: "10.180.0.1:80"},
		{name: "node to NodePort is short-circuited and masqueraded", src: testNodeIP, dst: testNodeIP, port: 3001, output: "10.180.0.1:80", masq: true},
		{name: "health check node port stays open", src: testExternalClient, dst: testNodeIP, port: 30000, output: "ACCEPT"},
	})
}

func TestExternalTrafficPolicyCluster(t *testing.T) {
	st := newTestState()
	n := portName("ns1", "svc1", "")
	addService(st, n, "172.30.0.41", 80, func(sp *ServicePort) {
		sp.NodePort = 3001
		sp.ExternalIPs = addrs(testExternalIP)
		sp.LoadBalancerIPs = addrs("1.2.3.4")
	})
	st.Endpoints[n] = []Endpoint{ep("10.180.0.1:80", "host1"), ep("10.180.2.1:80", testNodeName)}
	_, tr := build(t, st)
	both := "10.180.0.1:80, 10.180.2.1:80"
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "pod to cluster IP", src: "10.0.0.2", dst: "172.30.0.41", port: 80, output: both},
		{name: "pod to external IP", src: "10.0.0.2", dst: testExternalIP, port: 80, output: both, masq: true},
		{name: "external to external IP", src: testExternalClient, dst: testExternalIP, port: 80, output: both, masq: true},
		{name: "pod to LB IP", src: "10.0.0.2", dst: "1.2.3.4", port: 80, output: both, masq: true},
		{name: "external to LB IP", src: testExternalClient, dst: "1.2.3.4", port: 80, output: both, masq: true},
		{name: "pod to NodePort", src: "10.0.0.2", dst: testNodeIP, port: 3001, output: both, masq: true},
		{name: "external to NodePort", src: testExternalClient, dst: testNodeIP, port: 3001, output: both, masq: true},
	})
}

func TestInternalTrafficPolicy(t *testing.T) {
	n := portName("ns1", "svc1", "")
	for _, tc := range []struct {
		name      string
		local     bool
		endpoints []Endpoint
		output    string
	}{
		{"iTP Cluster uses all endpoints", false,
			[]Endpoint{ep("10.0.1.1:80", testNodeName), ep("10.0.1.2:80", testNodeName), ep("10.0.1.3:80", "host1")},
			"10.0.1.1:80, 10.0.1.2:80, 10.0.1.3:80"},
		{"iTP Local uses the local endpoints", true,
			[]Endpoint{ep("10.0.1.1:80", testNodeName), ep("10.0.1.2:80", testNodeName), ep("10.0.1.3:80", "host1")},
			"10.0.1.1:80, 10.0.1.2:80"},
		{"iTP Local with one local endpoint", true,
			[]Endpoint{ep("10.0.1.1:80", testNodeName), ep("10.0.1.2:80", "host1"), ep("10.0.1.3:80", "host1")},
			"10.0.1.1:80"},
		{"iTP Local with no local endpoints drops", true,
			[]Endpoint{ep("10.0.1.1:80", "host1"), ep("10.0.1.2:80", "host1")},
			"DROP"},
		{"iTP Local with no endpoints rejects", true, nil, "REJECT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newTestState()
			addService(st, n, "172.30.1.1", 80, func(sp *ServicePort) { sp.InternalPolicyLocal = tc.local })
			st.Endpoints[n] = tc.endpoints
			r, tr := build(t, st)
			runPacketFlowTests(t, tr, []packetFlowTest{
				{name: "pod to ClusterIP", src: "10.0.0.2", dst: "172.30.1.1", port: 80, output: tc.output},
			})
			if tc.output == "DROP" && !strings.Contains(string(r.Payload), `"ns1/svc1 has no local endpoints"`) {
				t.Errorf("DROP rule lacks its comment:\n%s", r.Payload)
			}
			// A ClusterIP-only service with iTP Local needs no KUBE-SVC chain.
			if tc.local && strings.Contains(string(r.Payload), "KUBE-SVC-") {
				t.Errorf("KUBE-SVC chain for an iTP Local ClusterIP service:\n%s", r.Payload)
			}
		})
	}
}

// TestTerminatingEndpointsTrafficPolicyLocal follows kube-proxy's test: a
// LoadBalancer service with eTP Local; ready endpoints are preferred, and
// serving-terminating ones are used only when there is no ready one.
func TestTerminatingEndpointsTrafficPolicyLocal(t *testing.T) {
	runTerminatingEndpointsTests(t, true, []terminatingCase{
		{"ready endpoints exist", []Endpoint{
			ep("10.0.1.1:80", testNodeName), ep("10.0.1.2:80", testNodeName),
			terminating("10.0.1.3:80", testNodeName, true), terminating("10.0.1.4:80", testNodeName, false),
			ep("10.0.1.5:80", "host1"),
		}, "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", "10.0.1.1:80, 10.0.1.2:80", false},
		{"only terminating endpoints exist locally", []Endpoint{
			terminating("10.0.1.2:80", testNodeName, true), terminating("10.0.1.3:80", testNodeName, true),
			terminating("10.0.1.4:80", testNodeName, false), ep("10.0.1.5:80", "host1"),
		}, "10.0.1.5:80", "10.0.1.2:80, 10.0.1.3:80", false},
		{"terminating endpoints on remote node", []Endpoint{
			terminating("10.0.1.5:80", "host1", true),
		}, "10.0.1.5:80", "DROP", false},
		{"no usable endpoints on any node", []Endpoint{
			terminating("10.0.1.5:80", testNodeName, false), terminating("10.0.1.6:80", "host1", false),
		}, "REJECT", "REJECT", false},
	})
}

func TestTerminatingEndpointsTrafficPolicyCluster(t *testing.T) {
	runTerminatingEndpointsTests(t, false, []terminatingCase{
		{"ready endpoints exist", []Endpoint{
			ep("10.0.1.1:80", testNodeName), ep("10.0.1.2:80", testNodeName),
			terminating("10.0.1.3:80", "host1", true), terminating("10.0.1.4:80", "host1", false),
			ep("10.0.1.5:80", "host1"),
		}, "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", true},
		{"only terminating endpoints exist", []Endpoint{
			terminating("10.0.1.2:80", testNodeName, true), terminating("10.0.1.3:80", testNodeName, true),
			terminating("10.0.1.4:80", "host1", false), terminating("10.0.1.5:80", "host1", true),
		}, "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80", "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80", true},
		{"terminating endpoints on remote node", []Endpoint{
			terminating("10.0.1.5:80", "host1", true),
		}, "10.0.1.5:80", "10.0.1.5:80", true},
		{"no usable endpoints on any node", []Endpoint{
			terminating("10.0.1.5:80", testNodeName, false), terminating("10.0.1.6:80", "host1", false),
		}, "REJECT", "REJECT", false},
	})
}

type terminatingCase struct {
	name                      string
	endpoints                 []Endpoint
	clusterIPOutput, lbOutput string
	lbMasq                    bool
}

func runTerminatingEndpointsTests(t *testing.T, local bool, cases []terminatingCase) {
	n := portName("ns1", "svc1", "")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newTestState()
			addService(st, n, "172.30.1.1", 80, func(sp *ServicePort) {
				sp.LoadBalancerIPs = addrs("1.2.3.4")
				sp.ExternalPolicyLocal = local
				sp.HealthCheckNodePort = 30000
			})
			st.Endpoints[n] = tc.endpoints
			_, tr := build(t, st)
			runPacketFlowTests(t, tr, []packetFlowTest{
				{name: "pod to clusterIP", src: "10.0.0.2", dst: "172.30.1.1", port: 80, output: tc.clusterIPOutput},
				{name: "external to LB", src: testExternalClient, dst: "1.2.3.4", port: 80, output: tc.lbOutput, masq: tc.lbMasq},
			})

			// Deleting the endpoints leaves a service that rejects everything.
			delete(st.Endpoints, n)
			_, tr = build(t, st)
			runPacketFlowTests(t, tr, []packetFlowTest{
				{name: "pod to clusterIP after endpoints deleted", src: "10.0.0.2", dst: "172.30.1.1", port: 80, output: "REJECT"},
				{name: "external to LB after endpoints deleted", src: testExternalClient, dst: "1.2.3.4", port: 80, output: "REJECT"},
			})
		})
	}
}

// TestNoEndpointsReject: every destination of a service without endpoints
// is rejected in the filter table, and the nat table has nothing for it.
func TestNoEndpointsReject(t *testing.T) {
	st := newTestState()
	n := portName("ns1", "svc1", "p80")
	addService(st, n, "172.30.0.41", 80, func(sp *ServicePort) {
		sp.NodePort = 3001
		sp.ExternalIPs = addrs("192.168.99.33")
		sp.LoadBalancerIPs = addrs("1.2.3.4")
		sp.LoadBalancerSourceRanges = []netip.Prefix{prefix("203.0.113.0/25")}
	})
	r, tr := build(t, st)
	if nat := string(r.Payload[strings.Index(string(r.Payload), "*nat"):]); strings.Contains(nat, "ns1/svc1") {
		t.Errorf("nat rules for a service without endpoints:\n%s", nat)
	}
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "pod to cluster IP", src: "10.0.0.2", dst: "172.30.0.41", port: 80, output: "REJECT"},
		{name: "node to cluster IP", src: testNodeIP, dst: "172.30.0.41", port: 80, output: "REJECT"},
		{name: "external to external IP", src: testExternalClient, dst: "192.168.99.33", port: 80, output: "REJECT"},
		{name: "external to LB IP", src: testExternalClient, dst: "1.2.3.4", port: 80, output: "REJECT"},
		{name: "external to NodePort", src: testExternalClient, dst: testNodeIP, port: 3001, output: "REJECT"},
	})
}

// TestInternalExternalMasquerade is kube-proxy's masquerade matrix: the same
// 30 flows against four configurations, with per-configuration overrides.
func TestInternalExternalMasquerade(t *testing.T) {
	setup := func(st *State) {
		lb := func(svc, clusterIP, lbIP string, nodePort, hc int32, opt func(*ServicePort)) {
			n := portName(svc[:3], svc[3:], "p80")
			addService(st, n, clusterIP, 80, func(sp *ServicePort) {
				sp.NodePort, sp.HealthCheckNodePort = nodePort, hc
				sp.LoadBalancerIPs = addrs(lbIP)
				if opt != nil {
					opt(sp)
				}
			})
		}
		lb("ns1svc1", "172.30.0.41", "1.2.3.4", 3001, 30001, nil)
		lb("ns2svc2", "172.30.0.42", "5.6.7.8", 3002, 30002, func(sp *ServicePort) { sp.ExternalPolicyLocal = true })
		lb("ns3svc3", "172.30.0.43", "9.10.11.12", 3003, 30003, func(sp *ServicePort) { sp.InternalPolicyLocal = true })
		for i, svc := range []string{"svc1", "svc2", "svc3"} {
			n := portName("ns"+svc[3:], svc, "p80")
			d := string(rune('1' + i))
			st.Endpoints[n] = []Endpoint{ep("10.180.0."+d+":80", testNodeName), ep("10.180.1."+d+":80", "remote")}
		}
	}

	flows := []packetFlowTest{
		{name: "pod to ClusterIP", src: "10.0.0.2", dst: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.1.1:80", masq: false},
		{name: "pod to NodePort", src: "10.0.0.2", dst: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.1.1:80", masq: true},
		{name: "pod to LB", src: "10.0.0.2", dst: "1.2.3.4", port: 80, output: "10.180.0.1:80, 10.180.1.1:80", masq: true},
		{name: "node to ClusterIP", src: testNodeIP, dst: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.1.1:80", masq: true},
		{name: "node to NodePort", src: testNodeIP, dst: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.1.1:80", masq: true},
		{name: "localhost to NodePort", src: "127.0.0.1", dst: "127.0.0.1", port: 3001, output: "10.180.0.1:80, 10.180.1.1:80", masq: true},
		{name: "node to LB", src: testNodeIP, dst: "1.2.3.4", port: 80, output: "10.180.0.1:80, 10.180.1.1:80", masq: true},
		{name: "external to ClusterIP", src: testExternalClient, dst: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.1.1:80", masq: true},
		{name: "external to NodePort", src: testExternalClient, dst: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.1.1:80", masq: true},
		{name: "external to LB", src: testExternalClient, dst: "1.2.3.4", port: 80, output: "10.180.0.1:80, 10.180.1.1:80", masq: true},

		{name: "pod to ClusterIP with eTP:Local", src: "10.0.0.2", dst: "172.30.0.42", port: 80, output: "10.180.0.2:80, 10.180.1.2:80", masq: false},
		{name: "pod to NodePort with eTP:Local", src: "10.0.0.2", dst: testNodeIP, port: 3002, output: "10.180.0.2:80, 10.180.1.2:80", masq: false},
		{name: "pod to LB with eTP:Local", src: "10.0.0.2", dst: "5.6.7.8", port: 80, output: "10.180.0.2:80, 10.180.1.2:80", masq: false},
		{name: "node to ClusterIP with eTP:Local", src: testNodeIP, dst: "172.30.0.42", port: 80, output: "10.180.0.2:80, 10.180.1.2:80", masq: true},
		{name: "node to NodePort with eTP:Local", src: testNodeIP, dst: testNodeIP, port: 3002, output: "10.180.0.2:80, 10.180.1.2:80", masq: true},
		{name: "localhost to NodePort with eTP:Local", src: "127.0.0.1", dst: "127.0.0.1", port: 3002, output: "10.180.0.2:80, 10.180.1.2:80", masq: true},
		{name: "node to LB with eTP:Local", src: testNodeIP, dst: "5.6.7.8", port: 80, output: "10.180.0.2:80, 10.180.1.2:80", masq: true},
		{name: "external to ClusterIP with eTP:Local", src: testExternalClient, dst: "172.30.0.42", port: 80, output: "10.180.0.2:80, 10.180.1.2:80", masq: true},
		{name: "external to NodePort with eTP:Local", src: testExternalClient, dst: testNodeIP, port: 3002, output: "10.180.0.2:80", masq: false},
		{name: "external to LB with eTP:Local", src: testExternalClient, dst: "5.6.7.8", port: 80, output: "10.180.0.2:80", masq: false},

		{name: "pod to ClusterIP with iTP:Local", src: "10.0.0.2", dst: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: false},
		{name: "pod to NodePort with iTP:Local", src: "10.0.0.2", dst: testNodeIP, port: 3003, output: "10.180.0.3:80, 10.180.1.3:80", masq: true},
		{name: "pod to LB with iTP:Local", src: "10.0.0.2", dst: "9.10.11.12", port: 80, output: "10.180.0.3:80, 10.180.1.3:80", masq: true},
		{name: "node to ClusterIP with iTP:Local", src: testNodeIP, dst: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: true},
		{name: "node to NodePort with iTP:Local", src: testNodeIP, dst: testNodeIP, port: 3003, output: "10.180.0.3:80, 10.180.1.3:80", masq: true},
		{name: "localhost to NodePort with iTP:Local", src: "127.0.0.1", dst: "127.0.0.1", port: 3003, output: "10.180.0.3:80, 10.180.1.3:80", masq: true},
		{name: "node to LB with iTP:Local", src: testNodeIP, dst: "9.10.11.12", port: 80, output: "10.180.0.3:80, 10.180.1.3:80", masq: true},
		{name: "external to ClusterIP with iTP:Local", src: testExternalClient, dst: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: true},
		{name: "external to NodePort with iTP:Local", src: testExternalClient, dst: testNodeIP, port: 3003, output: "10.180.0.3:80, 10.180.1.3:80", masq: true},
		{name: "external to LB with iTP:Local", src: testExternalClient, dst: "9.10.11.12", port: 80, output: "10.180.0.3:80, 10.180.1.3:80", masq: true},
	}

	type override struct {
		output *string
		masq   *bool
	}
	yes, no := true, false
	onlyLocal := "10.180.0.2:80"
	for _, tc := range []struct {
		name          string
		masqueradeAll bool
		detector      bool
		overrides     map[string]override
	}{
		{name: "base", detector: true},
		{name: "no LocalTrafficDetector", overrides: map[string]override{
			// Without a detector every ClusterIP client is assumed to be a pod.
			"node to ClusterIP":                    {masq: &no},
			"node to ClusterIP with eTP:Local":     {masq: &no},
			"node to ClusterIP with iTP:Local":     {masq: &no},
			"external to ClusterIP":                {masq: &no},
			"external to ClusterIP with eTP:Local": {masq: &no},
			"external to ClusterIP with iTP:Local": {masq: &no},
			// ... and pods are not short-circuited under eTP Local.
			"pod to NodePort with eTP:Local": {output: &onlyLocal},
			"pod to LB with eTP:Local":       {output: &onlyLocal},
		}},
		{name: "masqueradeAll", masqueradeAll: true, detector: true, overrides: map[string]override{
			"pod to ClusterIP":                {masq: &yes},
			"pod to ClusterIP with eTP:Local": {masq: &yes},
			"pod to ClusterIP with iTP:Local": {masq: &yes},
		}},
		{name: "masqueradeAll, no LocalTrafficDetector", masqueradeAll: true, overrides: map[string]override{
			"pod to ClusterIP":                {masq: &yes},
			"pod to ClusterIP with eTP:Local": {masq: &yes},
			"pod to ClusterIP with iTP:Local": {masq: &yes},
			"pod to NodePort with eTP:Local":  {output: &onlyLocal},
			"pod to LB with eTP:Local":        {output: &onlyLocal},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newTestState()
			st.MasqueradeAll = tc.masqueradeAll
			if !tc.detector {
				st.ClusterCIDR = netip.Prefix{}
			}
			setup(st)
			_, tr := build(t, st)
			cases := make([]packetFlowTest, len(flows))
			applied := 0
			for i, f := range flows {
				cases[i] = f
				o, ok := tc.overrides[f.name]
				if !ok {
					continue
				}
				applied++
				if o.masq != nil {
					if *o.masq == f.masq {
						t.Errorf("%q: override equals the base masq value", f.name)
					}
					cases[i].masq = *o.masq
				}
				if o.output != nil {
					cases[i].output = *o.output
				}
			}
			if applied != len(tc.overrides) {
				t.Errorf("%d overrides match no flow", len(tc.overrides)-applied)
			}
			runPacketFlowTests(t, tr, cases)
		})
	}
}

// epPort is a ready endpoint from an address and a port.
func epPort(ip string, port int32, node string) Endpoint {
	return Endpoint{IP: addr(ip), Port: port, NodeName: node, Ready: true, Serving: true}
}
