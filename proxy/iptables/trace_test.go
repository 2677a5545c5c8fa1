package iptables

import (
	"math"
	"strings"
	"testing"

	"github.com/minilab/minilab/proxy/iptables/tracer"
)

// traceFixture is everyFeatureState plus a plain LoadBalancer (no source
// ranges, three endpoints) and an iTP Local service whose endpoints are all
// on other nodes.
func traceFixture() *State {
	st := everyFeatureState()
	lb := addService(st, portName("ns9", "lb-plain", "http"), "172.30.0.49", 80, func(sp *ServicePort) {
		sp.NodePort = 3009
		sp.LoadBalancerIPs = addrs("9.9.9.9")
	})
	st.Endpoints[lb.Name] = []Endpoint{ep("10.180.10.1:80", testNodeName), ep("10.180.10.2:80", "other"), ep("10.180.10.3:80", "other")}
	itp := addService(st, portName("ns10", "itp-remote", ""), "172.30.0.50", 80, func(sp *ServicePort) { sp.InternalPolicyLocal = true })
	st.Endpoints[itp.Name] = []Endpoint{ep("10.180.11.1:80", "other")}
	return st
}

// outcomeWant is what a test pins down of one tracer.Outcome.
type outcomeWant struct {
	endpoint    string
	probability float64
	masq        bool
	verdict     string
	rule        string // a substring of VerdictRule, "" for none (a chain policy decided)
}

// traceFeatureCase is one packet of TestTraceFeatures and its outcomes.
type traceFeatureCase struct {
	name     string
	from     tracer.Origin
	src, dst string
	proto    string
	port     int32
	want     []outcomeWant
}

func (c traceFeatureCase) packet() tracer.Packet {
	return tracer.Packet{Source: addr(c.src), Destination: addr(c.dst), Protocol: c.proto, Port: c.port, From: c.from}
}

// traceFeatureCases cover every Service feature on traceFixture.
func traceFeatureCases() []traceFeatureCase {
	const third, rest = 0.3333333333, (1 - 0.3333333333) / 2 // as Build writes 1/3
	masqAccept := `"kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT`
	one := func(endpoint string, masq bool, verdict, rule string) []outcomeWant {
		return []outcomeWant{{endpoint, 1, masq, verdict, rule}}
	}
	pod, outside, self := tracer.FromPod, tracer.FromOutside, tracer.FromNode
	return []traceFeatureCase{
		{"ClusterIP from a pod", pod, "10.0.0.2", "172.30.0.41", "", 80, one("10.180.0.1:80", false, "ACCEPT", "")},
		{"ClusterIP from the node is masqueraded", self, testNodeIP, "172.30.0.41", "", 80, one("10.180.0.1:80", true, "ACCEPT", "")},
		{"ClusterIP from outside is masqueraded", outside, testExternalClient, "172.30.0.41", "", 80, one("10.180.0.1:80", true, "ACCEPT", masqAccept)},
		{"hairpin: an endpoint reaching itself is masqueraded", pod, "10.180.0.1", "172.30.0.41", "", 80, one("10.180.0.1:80", true, "ACCEPT", masqAccept)},
		{"NodePort from outside", outside, testExternalClient, testNodeIP, "", 3003, one("10.180.0.3:80", true, "ACCEPT", masqAccept)},
		{"NodePort on the other node IP", outside, testExternalClient, testNodeIPAlt, "", 3003, one("10.180.0.3:80", true, "ACCEPT", masqAccept)},
		{"NodePort from a pod", pod, "10.0.0.2", testNodeIP, "", 3003, one("10.180.0.3:80", true, "ACCEPT", masqAccept)},
		{"NodePort from the node", self, testNodeIP, testNodeIP, "", 3003, one("10.180.0.3:80", true, "ACCEPT", "")},
		{"NodePort on 127.0.0.1", self, "127.0.0.1", "127.0.0.1", "", 3003, one("10.180.0.3:80", true, "ACCEPT", "")},
		{"unknown NodePort", outside, testExternalClient, testNodeIP, "", 3999, one("", false, "ACCEPT", "")},
		{"externalIP, two endpoints", outside, testExternalClient, "192.168.99.33", "", 80, []outcomeWant{
			{"10.180.0.4:80", 0.5, true, "ACCEPT", masqAccept}, {"10.180.0.5:80", 0.5, true, "ACCEPT", masqAccept}}},
		{"LB IP without source ranges, three endpoints", outside, testExternalClient, "9.9.9.9", "", 80, []outcomeWant{
			{"10.180.10.1:80", third, true, "ACCEPT", masqAccept}, {"10.180.10.2:80", rest, true, "ACCEPT", masqAccept}, {"10.180.10.3:80", rest, true, "ACCEPT", masqAccept}}},
		{"LB IP, client inside the source ranges", outside, testExternalClient, "5.6.7.8", "", 80, one("10.180.0.3:80", true, "ACCEPT", masqAccept)},
		{"LB IP, client outside the source ranges", outside, testExternalClientBlocked, "5.6.7.8", "", 80,
			one("", false, "DROP", `"ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C"`)},
		{"NodePort of that LB ignores the source ranges", outside, testExternalClientBlocked, testNodeIP, "", 3002, one("10.180.0.3:80", true, "ACCEPT", masqAccept)},
		{"eTP Local: outside client reaches only the local endpoint, unmasqueraded", outside, testExternalClient, testNodeIP, "", 3007, one("10.180.7.1:8080", false, "ACCEPT", "")},
		{"eTP Local: the node is short-circuited to all endpoints, masqueraded", self, testNodeIP, "9.10.11.12", "", 80, []outcomeWant{
			{"10.180.7.1:8080", 0.5, true, "ACCEPT", ""}, {"10.180.7.2:8080", 0.5, true, "ACCEPT", ""}}},
		{"eTP Local: a pod outside the LB source ranges is dropped", pod, "10.0.0.2", "9.10.11.12", "", 80,
			one("", false, "DROP", "traffic not accepted by KUBE-FW-")},
		{"eTP Local without local endpoints: outside client dropped", outside, testExternalClient, "1.2.3.4", "", 80,
			one("", false, "DROP", `"ns2/svc2:p80 has no local endpoints"`)},
		{"eTP Local without local endpoints: NodePort dropped", outside, testExternalClient, testNodeIP, "", 3001,
			one("", false, "DROP", `"ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL`)},
		{"eTP Local without local endpoints: a pod is short-circuited", pod, "10.0.0.2", "1.2.3.4", "", 80, one("10.180.0.2:80", false, "ACCEPT", "")},
		{"eTP Local: health check node port open", outside, testExternalClient, testNodeIP, "", 30007, one("", false, "ACCEPT", `"ns7/etp-local:http health check node port"`)},
		{"iTP Local: only the ready local endpoint", pod, "10.0.0.2", "172.30.0.48", "", 8080, one("10.180.8.1:8080", false, "ACCEPT", "")},
		{"iTP Local without local endpoints: DROP", pod, "10.0.0.2", "172.30.0.50", "", 80, one("", false, "DROP", `"ns10/itp-remote has no local endpoints"`)},
		{"session affinity: a new client is load-balanced", pod, "10.0.0.2", "172.30.0.45", "", 80, one("10.180.0.3:80", false, "ACCEPT", "")},
		{"no endpoints: REJECT from a pod", pod, "10.0.0.2", "172.30.0.46", "", 80, one("", false, "REJECT", `"ns6/svc6:p80 has no endpoints"`)},
		{"no endpoints: REJECT from the node", self, testNodeIP, "172.30.0.46", "", 80, one("", false, "REJECT", `"ns6/svc6:p80 has no endpoints"`)},
		{"UDP, three endpoints", pod, "10.0.0.2", "172.30.0.10", "udp", 53, []outcomeWant{
			{"10.180.9.1:53", third, false, "ACCEPT", ""}, {"10.180.9.2:53", rest, false, "ACCEPT", ""}, {"10.180.9.3:53", rest, false, "ACCEPT", ""}}},
		{"SCTP, three endpoints", pod, "10.0.0.2", "172.30.0.10", "sctp", 53, []outcomeWant{
			{"10.180.9.1:53", third, false, "ACCEPT", ""}, {"10.180.9.2:53", rest, false, "ACCEPT", ""}, {"10.180.9.3:53", rest, false, "ACCEPT", ""}}},
		{"TCP to a UDP-only port is not DNATed", pod, "10.0.0.2", "172.30.0.10", "tcp", 53, one("", false, "ACCEPT", "")},
	}
}

// TestTraceFeatures traces packets through a Build payload (plus the jump
// rules) with the production tracer, one Service feature at a time, and
// checks every outcome: endpoint, probability, masquerade, verdict and the
// rule that decided it.
func TestTraceFeatures(t *testing.T) {
	_, node := build(t, traceFixture())
	for _, tc := range traceFeatureCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := node.rs.Trace(node.node, tc.packet())
			if err != nil {
				t.Fatal(err)
			}
			checkOutcomes(t, got, tc.want)
			wantHook := "nat PREROUTING"
			if tc.from == tracer.FromNode {
				wantHook = "nat OUTPUT"
			}
			for _, o := range got {
				if len(o.Path) == 0 || o.Path[0] != wantHook {
					t.Errorf("path does not start at %s:\n%s", wantHook, o.Explain())
				}
			}
		})
	}
}

func checkOutcomes(t *testing.T, got []tracer.Outcome, want []outcomeWant) {
	t.Helper()
	var explain []string
	for _, o := range got {
		explain = append(explain, o.Explain())
	}
	if len(got) != len(want) {
		t.Fatalf("%d outcomes, want %d:\n%s", len(got), len(want), strings.Join(explain, "\n"))
	}
	for i, w := range want {
		o := got[i]
		ruleOK := (w.rule == "" && o.VerdictRule == "") || (w.rule != "" && strings.Contains(o.VerdictRule, w.rule))
		if o.Endpoint != w.endpoint || math.Abs(o.Probability-w.probability) > 1e-12 || o.Masquerade != w.masq || o.Verdict != w.verdict || !ruleOK {
			t.Errorf("outcome %d: got %s, rule %q; want %+v\n%s", i, o, o.VerdictRule, w, explain[i])
		}
	}
}

// TestTraceExplainsAffinity: the skipped session-affinity check is in the
// path, so a learner sees why a returning client might go elsewhere.
func TestTraceExplainsAffinity(t *testing.T) {
	_, node := build(t, traceFixture())
	got, err := node.rs.Trace(node.node, tracer.Packet{Source: addr("10.0.0.2"), Destination: addr("172.30.0.45"), Port: 80, From: tracer.FromPod})
	if err != nil {
		t.Fatal(err)
	}
	path := strings.Join(got[0].Path, "\n")
	want := `KUBE-SVC-NUKIZ6OKUXPJNT4C: "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN: skipped: session affinity (-m recent --rcheck) ` +
		`matches only a client recorded in list KUBE-SEP-I77PXRDZVX7PMWMN within the last 10800s; traced as a new client`
	if !strings.Contains(path, want) {
		t.Errorf("path lacks the affinity note:\n%s", path)
	}
}
