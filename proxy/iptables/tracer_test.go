package iptables

// The tests trace packets with the tracer package, as kube-proxy's tests do
// with theirs: payloads are loaded into an emulated node (tracer.Ruleset,
// with iptables-restore --noflush semantics, failing on dangling jumps), the
// jump rules from JumpRules are added the way kube-proxy ensures them, and
// every rule must be one the tracer fully understands, so that a rule it
// would misread fails the test instead of silently never matching.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/minilab/minilab/proxy/iptables/tracer"
)

// builtinTargets are targets that are not chains.
var builtinTargets = map[string]bool{
	"ACCEPT": true, "DROP": true, "REJECT": true, "RETURN": true,
	"MARK": true, "DNAT": true, "MASQUERADE": true,
}

// testClusterCIDR is the fixtures' pod network (the detector's CIDR).
var testClusterCIDR = netip.MustParsePrefix("10.0.0.0/8")

// emulatedNode is a node's tables as the tests see them.
type emulatedNode struct {
	t    testing.TB
	rs   *tracer.Ruleset
	node tracer.Node
}

// newTracer returns a node with empty tables, loads each payload with
// --noflush semantics, then ensures the jump rules kube-proxy ensures
// (inserted at the top, so the last one listed ends up first) and the
// canary chains.
func newTracer(t testing.TB, localIPs []string, payloads ...[]byte) *emulatedNode {
	t.Helper()
	tr := &emulatedNode{t: t, rs: tracer.NewRuleset(), node: tracer.Node{ClusterCIDR: testClusterCIDR}}
	for _, ip := range localIPs {
		tr.node.IPs = append(tr.node.IPs, netip.MustParseAddr(ip))
	}
	for _, p := range payloads {
		if err := tr.restore(p); err != nil {
			t.Fatalf("restore: %v\n%s", err, p)
		}
	}
	if err := tr.restore(jumpPayload(tr.rs)); err != nil {
		t.Fatalf("jump rules: %v", err)
	}
	return tr
}

// restore loads a payload and checks that the tracer understands every rule.
func (tr *emulatedNode) restore(payload []byte) error {
	if err := tr.rs.Restore(payload); err != nil {
		return err
	}
	for _, table := range tr.rs.Tables() {
		for _, c := range tr.rs.Chains(table) {
			for _, r := range tr.rs.Rules(table, c) {
				if u := r.Unsupported(); len(u) > 0 {
					return fmt.Errorf("the tracer cannot evaluate %s in %q", strings.Join(u, ", "), r)
				}
			}
		}
	}
	return nil
}

// jumpPayload is what kube-proxy does on a full sync, as restore input: the
// canary chains, each jump's target chain if it is missing, and the jump
// rules inserted at the top of the built-in chains.
func jumpPayload(rs *tracer.Ruleset) []byte {
	var b strings.Builder
	for _, table := range []string{"mangle", "filter", "nat"} {
		fmt.Fprintf(&b, "*%s\n:%s - [0:0]\n", table, kubeProxyCanaryChain)
		created := map[string]bool{}
		for _, j := range JumpRules() {
			if j.Table != table {
				continue
			}
			if !rs.HasChain(table, j.Target()) && !created[j.Target()] {
				created[j.Target()] = true
				fmt.Fprintf(&b, "-N %s\n", j.Target())
			}
			fmt.Fprintf(&b, "-I %s 1 %s\n", j.Chain, strings.Join(quoteWords(j.Args), " "))
		}
		b.WriteString("COMMIT\n")
	}
	return []byte(b.String())
}

// quoteWords quotes arguments containing spaces, as iptables-restore input.
func quoteWords(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.Contains(a, " ") {
			a = `"` + a + `"`
		}
		out[i] = a
	}
	return out
}

// flow is one virtual packet. fromNode means a process on the node sent it
// (nat/filter OUTPUT); otherwise it arrived from a pod of this node (a source
// in the cluster CIDR) or from outside.
type flow struct {
	src, dst string
	proto    string // lowercase, as in iptables rules
	port     int
	fromNode bool
}

func (f flow) packet() tracer.Packet {
	p := tracer.Packet{Source: netip.MustParseAddr(f.src), Destination: netip.MustParseAddr(f.dst),
		Protocol: f.proto, Port: int32(f.port), From: tracer.FromOutside}
	switch {
	case f.fromNode:
		p.From = tracer.FromNode
	case testClusterCIDR.Contains(p.Source):
		p.From = tracer.FromPod
	}
	return p
}

// traceResult is every outcome of a flow, summarized like kube-proxy's
// tracer does.
type traceResult struct {
	outcomes []tracer.Outcome
	masq     bool     // some outcome is masqueraded
	matched  []string // every rule that matched on some branch
}

func (tr *emulatedNode) trace(f flow) traceResult {
	tr.t.Helper()
	outs, err := tr.rs.Trace(tr.node, f.packet())
	if err != nil {
		tr.t.Fatalf("trace %+v: %v", f, err)
	}
	res := traceResult{outcomes: outs}
	sum := 0.0
	for _, o := range outs {
		sum += o.Probability
		res.masq = res.masq || o.Masquerade
		for _, r := range o.Rules {
			if !slices.Contains(res.matched, r) {
				res.matched = append(res.matched, r)
			}
		}
	}
	if sum < 1-1e-9 || sum > 1+1e-9 {
		tr.t.Errorf("trace %+v: probabilities add up to %v", f, sum)
	}
	return res
}

// output summarizes a trace like kube-proxy's tests do: the DNAT
// destinations in rule order, or the verdict when there are none and a rule
// (not a chain policy) decided it; "" when nothing happened. A DROP/REJECT
// after a DNAT is appended so that it shows up as a failure.
func (r traceResult) output() string {
	var parts []string
	add := func(s string) {
		if !slices.Contains(parts, s) {
			parts = append(parts, s)
		}
	}
	for _, o := range r.outcomes {
		switch {
		case o.Endpoint != "":
			add(o.Endpoint)
			if o.Verdict != "ACCEPT" {
				add(o.Verdict)
			}
		case o.Verdict != "ACCEPT" || o.VerdictRule != "":
			add(o.Verdict)
		}
	}
	return strings.Join(parts, ", ")
}

func (r traceResult) explain() string {
	var b strings.Builder
	for _, o := range r.outcomes {
		b.WriteString(o.Explain())
		b.WriteByte('\n')
	}
	return b.String()
}

// packetFlowTest is one row of a flow table.
type packetFlowTest struct {
	name     string
	src, dst string
	proto    string // default tcp
	port     int
	output   string
	masq     bool
}

// runPacketFlowTests traces each flow; a flow whose source is one of the
// node's addresses is sent from the node itself.
func runPacketFlowTests(t *testing.T, tr *emulatedNode, tests []packetFlowTest) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proto := tc.proto
			if proto == "" {
				proto = "tcp"
			}
			f := flow{src: tc.src, dst: tc.dst, proto: proto, port: tc.port}
			f.fromNode = slices.Contains(tr.node.IPs, netip.MustParseAddr(tc.src)) || netip.MustParseAddr(tc.src).IsLoopback()
			res := tr.trace(f)
			if res.output() != tc.output || res.masq != tc.masq {
				t.Errorf("%s packet %s -> %s:%d: got output %q masq %v, want %q masq %v\n%s",
					proto, tc.src, tc.dst, tc.port, res.output(), res.masq, tc.output, tc.masq, res.explain())
			}
		})
	}
}

// topLevelChains may exist without any rule jumping to them from the
// payload (they are reached from built-in chains or are markers).
var topLevelChains = map[string]bool{
	kubeServicesChain: true, kubeExternalServicesChain: true, kubeForwardChain: true,
	kubeNodePortsChain: true, kubeProxyFirewallChain: true, kubePostroutingChain: true, kubeMarkMasqChain: true,
	kubeProxyCanaryChain: true, kubeletFirewallChain: true,
}

// checkRuleJumps checks a full payload for consistency, like kube-proxy's
// checkIPTablesRuleJumps: no chain declared twice, no jump to an undeclared
// chain, no jump to an empty chain, no unreferenced per-service chain.
func checkRuleJumps(t *testing.T, payload []byte) {
	t.Helper()
	declared := map[string]map[string]int{}
	rules := map[string]map[string]int{}
	jumped := map[string]map[string]bool{}
	deleted := map[string]map[string]bool{}
	table := ""
	for _, line := range strings.Split(string(payload), "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			declared[table], rules[table], jumped[table], deleted[table] = map[string]int{}, map[string]int{}, map[string]bool{}, map[string]bool{}
		case strings.HasPrefix(line, ":"):
			declared[table][strings.Fields(line[1:])[0]]++
		case strings.HasPrefix(line, "-X "):
			deleted[table][line[3:]] = true
		case strings.HasPrefix(line, "-A "):
			r, err := tracer.ParseRule(line)
			if err != nil {
				t.Fatal(err)
			}
			rules[table][r.Chain]++
			if r.Target != "" && !builtinTargets[r.Target] {
				jumped[table][r.Target] = true
			}
		}
	}
	for table, chains := range declared {
		for c, n := range chains {
			if n > 1 {
				t.Errorf("%s: chain %s declared %d times", table, c, n)
			}
			if !jumped[table][c] && !topLevelChains[c] && !deleted[table][c] {
				t.Errorf("%s: chain %s is never jumped to", table, c)
			}
		}
		for c := range jumped[table] {
			if chains[c] == 0 {
				t.Errorf("%s: jump to undeclared chain %s", table, c)
			} else if rules[table][c] == 0 && c != kubeNodePortsChain {
				t.Errorf("%s: jump to empty chain %s", table, c)
			}
		}
	}
}
