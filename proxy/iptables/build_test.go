package iptables

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// overallState is kube-proxy's TestOverallIPTablesRules fixture: a ClusterIP
// service; an eTP Local LoadBalancer whose only endpoint is remote; a
// NodePort service; a service with an externalIP and two endpoints; an eTP
// Cluster LoadBalancer with a source range and ClientIP affinity; a service
// without endpoints.
func overallState() *State {
	st := newTestState()
	svc1 := addService(st, portName("ns1", "svc1", "p80"), "172.30.0.41", 80)
	svc2 := addService(st, portName("ns2", "svc2", "p80"), "172.30.0.42", 80, func(sp *ServicePort) {
		sp.NodePort = 3001
		sp.LoadBalancerIPs = addrs("1.2.3.4")
		sp.ExternalIPs = addrs("192.168.99.22")
		sp.ExternalPolicyLocal = true
		sp.HealthCheckNodePort = 30000
	})
	svc3 := addService(st, portName("ns3", "svc3", "p80"), "172.30.0.43", 80, func(sp *ServicePort) { sp.NodePort = 3003 })
	svc4 := addService(st, portName("ns4", "svc4", "p80"), "172.30.0.44", 80, func(sp *ServicePort) {
		sp.ExternalIPs = addrs("192.168.99.33")
	})
	svc5 := addService(st, portName("ns5", "svc5", "p80"), "172.30.0.45", 80, func(sp *ServicePort) {
		sp.NodePort = 3002
		sp.LoadBalancerIPs = addrs("5.6.7.8")
		sp.LoadBalancerSourceRanges = []netip.Prefix{prefix("203.0.113.0/25")}
		sp.ClientIPAffinitySeconds = 10800
		// kube-proxy writes the health check rule only for eTP Local
		// services, which is the only place the API server allocates one.
	})
	addService(st, portName("ns6", "svc6", "p80"), "172.30.0.46", 80)

	st.Endpoints[svc1.Name] = []Endpoint{ep("10.180.0.1:80", "")}
	st.Endpoints[svc2.Name] = []Endpoint{ep("10.180.0.2:80", "")}
	st.Endpoints[svc3.Name] = []Endpoint{ep("10.180.0.3:80", "")}
	st.Endpoints[svc4.Name] = []Endpoint{ep("10.180.0.4:80", ""), ep("10.180.0.5:80", testNodeName)}
	st.Endpoints[svc5.Name] = []Endpoint{ep("10.180.0.3:80", "")}
	return st
}

// overallExpected is kube-proxy's expected output for overallState, with the
// differences minilab makes on purpose: no nfacct matches (so no
// localhost-NodePort counting rules), KUBE-PROXY-CANARY declared in both
// tables, and the mark as kube-proxy really writes it (%#08x).
const overallExpected = `
*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
:KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-EXT-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
:KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
:KUBE-SEP-I77PXRDZVX7PMWMN - [0:0]
:KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
:KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-SVC-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000
-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT
`

func TestOverallIPTablesRules(t *testing.T) {
	r, _ := build(t, overallState())
	assertChainsEqual(t, overallExpected, string(r.Payload))

	// The metrics count every -A line of each table.
	if want := strings.Count(string(r.Payload[:strings.Index(string(r.Payload), "*nat")]), "\n-A "); r.FilterRules != want {
		t.Errorf("FilterRules = %d, want %d", r.FilterRules, want)
	}
	if want := strings.Count(string(r.Payload[strings.Index(string(r.Payload), "*nat"):]), "\n-A "); r.NATRules != want {
		t.Errorf("NATRules = %d, want %d", r.NATRules, want)
	}
	if r.FilterRules != 10 || r.NATRules != 52 {
		t.Errorf("rule counts = %d filter, %d nat; want 10, 52", r.FilterRules, r.NATRules)
	}
	wantChains := chainsOf(t, overallExpected)["nat"][""]
	got := append([]string(nil), r.NATChains...)
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(wantChains, " ") {
		t.Errorf("NATChains = %v\nwant %v", got, wantChains)
	}
}

// TestPayloadLayout checks the exact bytes for one ClusterIP service: filter
// before nat, each table's declarations before its rules, static rules first,
// the KUBE-NODEPORTS jump last in KUBE-SERVICES, KUBE-FORWARD at the end.
func TestPayloadLayout(t *testing.T) {
	st := newTestState()
	st.RandomFully = true
	n := portName("default", "web", "")
	addService(st, n, "10.96.0.10", 80)
	st.Endpoints[n] = []Endpoint{ep("10.244.1.5:8080", "other-node")}

	svc := ServiceChainName("KUBE-SVC-", n)
	sep := EndpointChainName(n, "10.244.1.5:8080")
	want := `*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-FIREWALL - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:` + svc + ` - [0:0]
:` + sep + ` - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000
-A KUBE-SERVICES -m comment --comment "default/web cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j ` + svc + `
-A ` + svc + ` -m comment --comment "default/web cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A ` + svc + ` -m comment --comment "default/web -> 10.244.1.5:8080" -j ` + sep + `
-A ` + sep + ` -m comment --comment default/web -s 10.244.1.5 -j KUBE-MARK-MASQ
-A ` + sep + ` -m comment --comment default/web -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
`
	if got := string(Build(st, nil).Payload); got != want {
		t.Errorf("payload:\n%s\nwant:\n%s", got, want)
	}
}

func TestMasqueradeMark(t *testing.T) {
	for bit, want := range map[int]string{14: "0x00004000", 0: "0x00000001", 15: "0x00008000", 31: "0x80000000"} {
		st := newTestState()
		st.MasqueradeBit = bit
		payload := string(Build(st, nil).Payload)
		if !strings.Contains(payload, "-A KUBE-MARK-MASQ -j MARK --or-mark "+want+"\n") {
			t.Errorf("bit %d: no KUBE-MARK-MASQ rule with mark %s in\n%s", bit, want, payload)
		}
	}
}

func TestNewStateDefaults(t *testing.T) {
	st := NewState("n1")
	if st.MasqueradeBit != 14 || !st.LocalhostNodePorts || !st.RandomFully || st.Services == nil || st.Endpoints == nil {
		t.Errorf("NewState = %+v", st)
	}
	if !strings.Contains(string(Build(st, nil).Payload), "-j MASQUERADE --random-fully\n") {
		t.Error("default payload lacks --random-fully")
	}
}

// TestLocalhostNodePortsDisabled: no KUBE-FIREWALL chain, and KUBE-NODEPORTS
// is not reached for 127.0.0.0/8.
func TestLocalhostNodePortsDisabled(t *testing.T) {
	st := newTestState()
	st.LocalhostNodePorts = false
	payload := string(Build(st, nil).Payload)
	if strings.Contains(payload, "KUBE-FIREWALL") {
		t.Errorf("KUBE-FIREWALL written without localhost NodePorts:\n%s", payload)
	}
	if !strings.Contains(payload, `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS`+"\n") {
		t.Errorf("no nodeports jump excluding 127.0.0.0/8:\n%s", payload)
	}
}

func TestIPv6(t *testing.T) {
	st := NewState(testNodeName)
	st.NodeIPs = addrs("2001:db8::1")
	st.ClusterCIDR = prefix("fd00:10::/64")
	n := portName("ns1", "svc1", "p80")
	addService(st, n, "fd00:30::41", 80)
	st.Endpoints[n] = []Endpoint{ep("[fd00:10::5]:80", testNodeName)}
	payload := string(Build(st, nil).Payload)
	for _, want := range []string{
		"--dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS\n",
		"-j DNAT --to-destination [fd00:10::5]:80\n",
		"! -s fd00:10::/64 -j KUBE-MARK-MASQ\n",
		":" + EndpointChainName(n, "[fd00:10::5]:80") + " ",
	} {
		if !strings.Contains(payload, want) {
			t.Errorf("IPv6 payload lacks %q:\n%s", want, payload)
		}
	}
	if strings.Contains(payload, "KUBE-FIREWALL") || strings.Contains(payload, "127.0.0.0/8") {
		t.Errorf("IPv6 payload has IPv4 localhost rules:\n%s", payload)
	}
}

func TestHeadlessServiceHasNoRules(t *testing.T) {
	st := newTestState()
	n := portName("ns1", "headless", "p80")
	st.Services[n] = &ServicePort{Name: n, Port: 80, NodePort: 30080}
	st.Endpoints[n] = []Endpoint{ep("10.180.0.1:80", testNodeName)}
	if payload := string(Build(st, nil).Payload); strings.Contains(payload, "headless") || strings.Contains(payload, "10.180.0.1") {
		t.Errorf("headless service produced rules:\n%s", payload)
	}
}

func TestServiceOrderIsDeterministic(t *testing.T) {
	st := newTestState()
	for i := 0; i < 20; i++ {
		n := portName(fmt.Sprintf("ns%02d", (i*7)%20), "svc", "p80")
		addService(st, n, fmt.Sprintf("172.30.1.%d", i+1), 80)
		st.Endpoints[n] = []Endpoint{ep(fmt.Sprintf("10.180.1.%d:80", i+1), "")}
	}
	first := string(Build(st, nil).Payload)
	for i := 0; i < 5; i++ {
		if again := string(Build(st, nil).Payload); again != first {
			t.Fatal("two builds of the same state differ")
		}
	}
	prev := ""
	for _, line := range strings.Split(first, "\n") {
		if strings.HasPrefix(line, "-A KUBE-SERVICES") && strings.Contains(line, "cluster IP") {
			name := strings.Fields(line)[5][1:]
			if name < prev {
				t.Errorf("KUBE-SERVICES not sorted: %s after %s", name, prev)
			}
			prev = name
		}
	}
}

func TestSessionAffinityRules(t *testing.T) {
	st := newTestState()
	n := portName("ns1", "svc1", "p80")
	addService(st, n, "172.30.0.41", 80, func(sp *ServicePort) { sp.ClientIPAffinitySeconds = 300 })
	st.Endpoints[n] = []Endpoint{ep("10.180.0.1:80", ""), ep("10.180.0.2:80", "")}
	r, tr := build(t, st)

	svc := ServiceChainName("KUBE-SVC-", n)
	sep1, sep2 := EndpointChainName(n, "10.180.0.1:80"), EndpointChainName(n, "10.180.0.2:80")
	want := fmt.Sprintf(`*nat
-A %[1]s -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A %[1]s -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m recent --name %[2]s --rcheck --seconds 300 --reap -j %[2]s
-A %[1]s -m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -m recent --name %[3]s --rcheck --seconds 300 --reap -j %[3]s
-A %[1]s -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.5000000000 -j %[2]s
-A %[1]s -m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -j %[3]s
-A %[2]s -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A %[2]s -m comment --comment ns1/svc1:p80 -m recent --name %[2]s --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
`, svc, sep1, sep2)
	got := chainsOf(t, string(r.Payload))["nat"]
	for chain, rules := range chainsOf(t, want)["nat"] {
		if strings.Join(got[chain], "\n") != strings.Join(rules, "\n") {
			t.Errorf("chain %s:\n%s\nwant\n%s", chain, strings.Join(got[chain], "\n"), strings.Join(rules, "\n"))
		}
	}
	// --rcheck depends on earlier connections, so a trace still sees both.
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "pod to ClusterIP", src: "10.0.0.2", dst: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.0.2:80"},
	})
}

func TestProbabilitiesInDispatchChain(t *testing.T) {
	st := newTestState()
	n := portName("ns1", "svc1", "p80")
	addService(st, n, "172.30.0.41", 80)
	for i := 1; i <= 4; i++ {
		st.Endpoints[n] = append(st.Endpoints[n], ep(fmt.Sprintf("10.180.0.%d:80", i), ""))
	}
	r, tr := build(t, st)
	var probs []string
	for _, line := range chainsOf(t, string(r.Payload))["nat"][ServiceChainName("KUBE-SVC-", n)] {
		if _, p, ok := strings.Cut(line, "--probability "); ok {
			probs = append(probs, strings.Fields(p)[0])
		} else if strings.Contains(line, "KUBE-SEP-") {
			probs = append(probs, "last")
		}
	}
	if got := strings.Join(probs, " "); got != "0.2500000000 0.3333333333 0.5000000000 last" {
		t.Errorf("probabilities = %s", got)
	}
	runPacketFlowTests(t, tr, []packetFlowTest{{name: "all four reachable", src: "10.0.0.2", dst: "172.30.0.41", port: 80,
		output: "10.180.0.1:80, 10.180.0.2:80, 10.180.0.3:80, 10.180.0.4:80"}})
}

// TestLargeClusterMode: above 1000 endpoints the SVC→SEP and SEP rules lose
// their comments; nothing else does.
func TestLargeClusterMode(t *testing.T) {
	for _, tc := range []struct {
		endpoints    int
		wantComments bool
	}{
		{1000, true},
		{1001, false},
	} {
		t.Run(fmt.Sprint(tc.endpoints), func(t *testing.T) {
			st := newTestState()
			n1, n2 := portName("ns1", "svc1", "p80"), portName("ns2", "svc2", "p8080")
			addService(st, n1, "172.30.0.41", 80)
			addService(st, n2, "172.30.0.42", 8080)
			for i := 0; i < tc.endpoints; i++ {
				n := n1
				if i%2 == 1 {
					n = n2
				}
				st.Endpoints[n] = append(st.Endpoints[n], ep(fmt.Sprintf("10.%d.%d.%d:80", i%2, i/256, i%256), ""))
			}
			r := Build(st, nil)
			checkRuleJumps(t, r.Payload)
			var seps, sepComments, dispatch, dispatchComments int
			for _, line := range strings.Split(string(r.Payload), "\n") {
				switch {
				case strings.HasPrefix(line, "-A KUBE-SEP-"):
					seps++
					if strings.Contains(line, "--comment") {
						sepComments++
					}
				case strings.HasPrefix(line, "-A KUBE-SVC-") && strings.Contains(line, "-j KUBE-SEP-"):
					dispatch++
					if strings.Contains(line, "--comment") {
						dispatchComments++
					}
				}
			}
			if seps != 2*tc.endpoints || dispatch != tc.endpoints {
				t.Fatalf("%d SEP rules, %d dispatch rules", seps, dispatch)
			}
			if got := sepComments == seps && dispatchComments == dispatch; got != tc.wantComments {
				t.Errorf("comments kept = %v (SEP %d/%d, dispatch %d/%d)", got, sepComments, seps, dispatchComments, dispatch)
			}
			if !tc.wantComments && (sepComments != 0 || dispatchComments != 0) {
				t.Errorf("some comments left: SEP %d, dispatch %d", sepComments, dispatchComments)
			}
			first := EndpointChainName(n1, "10.0.0.0:80")
			wantFirst := "-A " + first + " -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80"
			if !tc.wantComments {
				wantFirst = "-A " + first + " -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80"
			}
			if !strings.Contains(string(r.Payload), wantFirst+"\n") {
				t.Errorf("missing %q", wantFirst)
			}
			// The masquerade rule of the service chain keeps its comment.
			if !strings.Contains(string(r.Payload), `--comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`) {
				t.Error("cluster IP masquerade rule lost its comment")
			}
		})
	}
}

// TestStaleChainDeletion: chains of a deleted service are flushed and
// removed, chains still in use are not, and -X lines are not counted as
// rules.
func TestStaleChainDeletion(t *testing.T) {
	st := newTestState()
	n1, n2 := portName("ns1", "svc1", "p80"), portName("ns2", "svc2", "p8080")
	addService(st, n1, "172.30.0.41", 80)
	addService(st, n2, "172.30.0.42", 8080)
	st.Endpoints[n1] = []Endpoint{ep("10.0.1.1:80", "")}
	st.Endpoints[n2] = []Endpoint{ep("10.0.2.1:8080", "")}
	first := Build(st, nil)
	tr := newTracer(t, testLocalIPs, first.Payload)

	delete(st.Services, n2)
	// What iptables-save would now show, fed back as kube-proxy does.
	stale := StaleChains(first.Payload[strings.Index(string(first.Payload), "*nat"):], nil)
	second := Build(st, stale)
	checkRuleJumps(t, second.Payload)
	if err := tr.restore(second.Payload); err != nil {
		t.Fatalf("second restore: %v\n%s", err, second.Payload)
	}

	gone := []string{"KUBE-SVC-2VJB64SDSIJUP5T6", "KUBE-SEP-UHEGFW77JX3KXTOV"}
	kept := []string{"KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-SNQ3ZNILQDEJNDQO"}
	payload := string(second.Payload)
	for _, c := range gone {
		if !strings.Contains(payload, "\n:"+c+" - [0:0]\n") || !strings.Contains(payload, "\n-X "+c+"\n") {
			t.Errorf("stale chain %s not flushed and deleted", c)
		}
		if tr.rs.HasChain("nat", c) {
			t.Errorf("chain %s still exists after restore", c)
		}
	}
	for _, c := range kept {
		if strings.Contains(payload, "-X "+c) {
			t.Errorf("active chain %s deleted", c)
		}
		if len(tr.rs.Rules("nat", c)) == 0 {
			t.Errorf("active chain %s empty after restore", c)
		}
	}
	// The -X lines come before the final KUBE-SERVICES rule and are not counted.
	if !strings.HasSuffix(payload, "-j KUBE-NODEPORTS\nCOMMIT\n") {
		t.Errorf("payload does not end with the nodeports jump:\n%s", payload)
	}
	if want := strings.Count(payload[strings.Index(payload, "*nat"):], "\n-A "); second.NATRules != want {
		t.Errorf("NATRules = %d, want %d", second.NATRules, want)
	}
	for _, c := range second.NATChains {
		if c == gone[0] || c == gone[1] {
			t.Errorf("NATChains lists deleted chain %s", c)
		}
	}
}

func TestDuplicateEndpointsAreMerged(t *testing.T) {
	st := newTestState()
	n := portName("ns1", "svc1", "p80")
	addService(st, n, "172.30.0.41", 80)
	st.Endpoints[n] = []Endpoint{ep("10.180.0.1:80", ""), ep("10.180.0.1:80", ""), ep("10.180.0.2:80", "")}
	_, tr := build(t, st)
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "two distinct endpoints", src: "10.0.0.2", dst: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.0.2:80"},
	})

	// A long list (deduplicated through a map) of 20 endpoints, each twice.
	st.Endpoints[n] = nil
	var want []string
	for i := 1; i <= 20; i++ {
		e := ep(fmt.Sprintf("10.180.1.%d:80", i), "")
		st.Endpoints[n] = append(st.Endpoints[n], e, e)
		want = append(want, e.String())
	}
	_, tr = build(t, st)
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "twenty distinct endpoints", src: "10.0.0.2", dst: "172.30.0.41", port: 80, output: strings.Join(want, ", ")},
	})
}

func TestProtocols(t *testing.T) {
	st := newTestState()
	for _, p := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP} {
		n := ServicePortName{Namespace: "ns2", Name: "svc2", Port: "dns-" + strings.ToLower(string(p)), Protocol: p}
		addService(st, n, "172.30.0.42", 53)
		st.Endpoints[n] = []Endpoint{ep("10.180.0.1:53", "")}
	}
	_, tr := build(t, st)
	for _, p := range []string{"tcp", "udp", "sctp"} {
		res := tr.trace(flow{src: "10.0.0.2", dst: "172.30.0.42", proto: p, port: 53})
		if res.output() != "10.180.0.1:53" {
			t.Errorf("%s: output %q", p, res.output())
		}
		for _, m := range res.matched {
			if strings.Contains(m, "-j DNAT") && !strings.Contains(m, "-m "+p+" -p "+p+" -j DNAT") {
				t.Errorf("%s DNAT rule: %s", p, m)
			}
		}
	}
}

// TestBuildConcurrently: every node's proxier builds on its own goroutine,
// sharing only the Probability cache.
func TestBuildConcurrently(t *testing.T) {
	want := string(Build(overallState(), nil).Payload)
	done := make(chan string)
	for i := 0; i < 4; i++ {
		go func() {
			st := clusterIPState(50)
			n := portName("ns1", "many", "p80")
			addService(st, n, "172.30.9.9", 80)
			for j := 0; j < 200+i; j++ {
				st.Endpoints[n] = append(st.Endpoints[n], epPort(fmt.Sprintf("10.9.%d.%d", j/256, j%256), 80, ""))
			}
			Build(st, nil)
			done <- string(Build(overallState(), nil).Payload)
		}()
	}
	for i := 0; i < 4; i++ {
		if got := <-done; got != want {
			t.Error("concurrent builds of the same state differ")
		}
	}
}
