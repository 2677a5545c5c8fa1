package tracer

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Origin is where a packet enters the node's network stack, which decides
// the netfilter hooks it passes.
type Origin int

const (
	// FromPod: a pod on this node sends it; it arrives from the pod's veth
	// with a source in the cluster CIDR (nat PREROUTING, then filter INPUT
	// or FORWARD).
	FromPod Origin = iota + 1
	// FromNode: a process of the node itself sends it (nat OUTPUT, filter
	// OUTPUT, and filter INPUT too if it is delivered to a local address).
	FromNode
	// FromOutside: it arrives on the node's network interface, from a client
	// outside the cluster or a pod on another node (nat PREROUTING, then
	// filter INPUT or FORWARD).
	FromOutside
)

func (o Origin) String() string {
	switch o {
	case FromPod:
		return "from a pod on this node"
	case FromNode:
		return "from the node itself"
	case FromOutside:
		return "from outside the node"
	}
	return "from nowhere (Origin not set)"
}

// Packet is the first packet of a new connection.
type Packet struct {
	// Source may be left unset for FromNode: the node then uses 127.0.0.1
	// (::1) towards a loopback address and its first IP otherwise.
	Source, Destination netip.Addr
	Protocol            string // "tcp" (the default), "udp", "sctp"
	Port                int32  // destination port
	From                Origin
}

func (p Packet) String() string {
	return fmt.Sprintf("%s %s -> %s %s", p.Protocol, p.Source, netip.AddrPortFrom(p.Destination, uint16(p.Port)), p.From)
}

// Node is what the tracer needs to know of the node holding the rules.
type Node struct {
	// IPs are the node's own addresses: with the loopback range they are
	// what `-m addrtype --dst-type LOCAL` matches and what is delivered to
	// filter INPUT instead of being forwarded.
	IPs []netip.Addr
	// ClusterCIDR is the pod network; a FromPod source must be in it.
	ClusterCIDR netip.Prefix
}

func (n Node) isLocal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || slices.Contains(n.IPs, a)
}

// Outcome is one way a traced packet can end.
type Outcome struct {
	// Endpoint is the destination after DNAT ("10.244.1.5:8080"), or ""
	// when no rule DNATed the packet.
	Endpoint string
	// Probability of this outcome: the product of the -m statistic branches
	// taken on the way (1/3, then 1/2 of the rest, ...).
	Probability float64
	// Masquerade is true when the packet was SNATed in nat POSTROUTING
	// (kube-proxy: KUBE-MARK-MASQ set the mark, KUBE-POSTROUTING saw it).
	Masquerade bool
	// Verdict is "ACCEPT", "REJECT" or "DROP", or the name of a terminating
	// target the tracer does not follow (e.g. "NFQUEUE").
	Verdict string
	// VerdictRule is the rule that decided Verdict ("-A CHAIN ..."); for
	// ACCEPT, the explicit ACCEPT in the last filter hook passed. It is ""
	// when a built-in chain's policy decided.
	VerdictRule string
	// Path is the walk in words: each hook entered ("nat PREROUTING"), each
	// rule followed ("KUBE-SERVICES: \"default/web cluster IP\" -j
	// KUBE-SVC-X"), each random branch and each rule the tracer skipped.
	Path []string
	// Rules are the rules that matched, as iptables-save prints them.
	Rules []string
}

// String is a one-line summary, e.g. "10.244.1.5:8080, masqueraded,
// ACCEPT (probability 0.5)" or "not DNATed, REJECT (probability 1)".
func (o Outcome) String() string {
	var parts []string
	if o.Endpoint != "" {
		parts = append(parts, o.Endpoint)
	} else {
		parts = append(parts, "not DNATed")
	}
	if o.Masquerade {
		parts = append(parts, "masqueraded")
	}
	parts = append(parts, o.Verdict)
	return strings.Join(parts, ", ") + " (probability " + strconv.FormatFloat(o.Probability, 'g', 6, 64) + ")"
}

// Explain is String followed by the Path, one step a line.
func (o Outcome) Explain() string {
	return o.String() + "\n  " + strings.Join(o.Path, "\n  ")
}

// maxDepth bounds chain nesting (the kernel refuses loops; an emulated
// ruleset might not), maxOutcomes the number of branches.
const (
	maxDepth    = 64
	maxOutcomes = 1 << 16
)

// packet is one branch of a trace: the packet as the rules have changed it
// so far, and how it got there.
type packet struct {
	node          Node
	from          Origin
	src, dst      netip.Addr
	proto         string
	port          int32
	mark          uint32
	dnat          bool // conntrack state DNAT: the destination was rewritten
	endpoint      string
	masq          bool
	probability   float64
	verdict       string // a final verdict (DROP, REJECT, ...); "" while going on
	verdictRule   string // the rule that gave the verdict (for ACCEPT: in the current filter hook)
	path, matched []string
}

func (p *packet) hasCTState(s string) bool {
	return s == "NEW" || (s == "DNAT" && p.dnat)
}

// fork returns a copy for the other branch of a random match. Both keep
// appending to their own path.
func (p *packet) fork() *packet {
	q := *p
	q.path, q.matched = slices.Clip(p.path), slices.Clip(p.matched)
	p.path, p.matched = slices.Clip(p.path), slices.Clip(p.matched)
	return &q
}

func (p *packet) note(s string) { p.path = append(p.path, s) }

func (p *packet) outcome() Outcome {
	o := Outcome{Endpoint: p.endpoint, Probability: p.probability, Masquerade: p.masq,
		Verdict: p.verdict, VerdictRule: p.verdictRule, Path: p.path, Rules: p.matched}
	if o.Verdict == "" {
		o.Verdict = "ACCEPT"
	}
	return o
}

// Trace follows p through the ruleset and returns every way it can end, in
// rule order; their probabilities add up to 1.
func (r *Ruleset) Trace(node Node, p Packet) ([]Outcome, error) {
	start, err := newPacket(node, p)
	if err != nil {
		return nil, err
	}
	t := &tracer{rs: r}
	if err := t.continueAt(0, start); err != nil {
		return nil, err
	}
	return t.outcomes, nil
}

func newPacket(node Node, p Packet) (*packet, error) {
	if p.Protocol == "" {
		p.Protocol = "tcp"
	}
	if p.Protocol != "tcp" && p.Protocol != "udp" && p.Protocol != "sctp" {
		return nil, fmt.Errorf("protocol %q: want tcp, udp or sctp", p.Protocol)
	}
	if p.Port < 1 || p.Port > 65535 {
		return nil, fmt.Errorf("port %d out of range", p.Port)
	}
	if !p.Destination.IsValid() {
		return nil, fmt.Errorf("no destination address")
	}
	dst := p.Destination.Unmap()
	src := p.Source.Unmap()
	if !src.IsValid() && p.From == FromNode {
		src = defaultSource(node, dst)
	}
	switch {
	case !src.IsValid():
		return nil, fmt.Errorf("no source address")
	case src.Is4() != dst.Is4():
		return nil, fmt.Errorf("source %s and destination %s are of different IP families", src, dst)
	case p.From == FromNode && !node.isLocal(src):
		return nil, fmt.Errorf("the node cannot send from %s: not one of its addresses", src)
	case p.From == FromPod && node.ClusterCIDR.IsValid() && !node.ClusterCIDR.Contains(src):
		return nil, fmt.Errorf("a pod's address is in the cluster CIDR %s; %s is not", node.ClusterCIDR, src)
	case (p.From == FromPod || p.From == FromOutside) && node.isLocal(src):
		return nil, fmt.Errorf("%s is the node's own address; use FromNode", src)
	case p.From != FromPod && p.From != FromNode && p.From != FromOutside:
		return nil, fmt.Errorf("packet origin (From) not set")
	}
	return &packet{node: node, from: p.From, src: src, dst: dst, proto: p.Protocol, port: p.Port, probability: 1}, nil
}

func defaultSource(node Node, dst netip.Addr) netip.Addr {
	if dst.IsLoopback() {
		return dst
	}
	for _, ip := range node.IPs {
		if ip.Is4() == dst.Is4() {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// hook is one built-in chain of one table.
type hook struct{ table, chain string }

// hooks lists the chains a packet passes, in the kernel's order, given its
// current destination. The part before the routing decision does not depend
// on the destination, so a DNAT there (nat PREROUTING or OUTPUT) changes only
// the part after it.
func (p *packet) hooks() []hook {
	local := p.node.isLocal(p.dst)
	if p.from == FromNode {
		h := []hook{{"raw", "OUTPUT"}, {"mangle", "OUTPUT"}, {"nat", "OUTPUT"}, {"filter", "OUTPUT"},
			{"mangle", "POSTROUTING"}, {"nat", "POSTROUTING"}}
		if local {
			// Delivered over loopback; its NAT is already decided.
			h = append(h, hook{"mangle", "INPUT"}, hook{"filter", "INPUT"})
		}
		return h
	}
	h := []hook{{"raw", "PREROUTING"}, {"mangle", "PREROUTING"}, {"nat", "PREROUTING"}}
	if local {
		return append(h, hook{"mangle", "INPUT"}, hook{"filter", "INPUT"}, hook{"nat", "INPUT"})
	}
	return append(h, hook{"mangle", "FORWARD"}, hook{"filter", "FORWARD"}, hook{"mangle", "POSTROUTING"}, hook{"nat", "POSTROUTING"})
}

type tracer struct {
	rs       *Ruleset
	outcomes []Outcome
}

// continueAt runs p through the hooks from the step-th on.
func (t *tracer) continueAt(step int, p *packet) error {
	hooks := p.hooks()
	if step == len(hooks) {
		return t.finish(p)
	}
	branches, err := t.runHook(hooks[step], p)
	if err != nil {
		return err
	}
	for _, b := range branches {
		if b.p.verdict != "" {
			if err := t.finish(b.p); err != nil {
				return err
			}
			continue
		}
		if err := t.continueAt(step+1, b.p); err != nil {
			return err
		}
	}
	return nil
}

func (t *tracer) finish(p *packet) error {
	if len(t.outcomes) == maxOutcomes {
		return fmt.Errorf("more than %d outcomes", maxOutcomes)
	}
	if p.probability > 0 {
		t.outcomes = append(t.outcomes, p.outcome())
	}
	return nil
}

// branch is one way a chain walk ended: by a target that ends the walk
// (ACCEPT, DROP, DNAT, ...) or by falling off the chain / RETURN.
type branch struct {
	p    *packet
	done bool
}

// runHook walks a built-in chain; if the packet falls off its end, the
// chain's policy applies.
func (t *tracer) runHook(h hook, p *packet) ([]branch, error) {
	tbl := t.rs.tables[h.table]
	if tbl == nil || tbl.chains[h.chain] == nil {
		return []branch{{p: p}}, nil
	}
	c := tbl.chains[h.chain]
	if len(c.rules) == 0 && c.policy == "ACCEPT" {
		return []branch{{p: p}}, nil // nothing happens here: keep the Path short
	}
	p.note(h.table + " " + h.chain)
	if h.table == "filter" {
		p.verdictRule = ""
	}
	branches, err := t.runFrom(tbl, c, 0, p, 0)
	if err != nil {
		return nil, err
	}
	for _, b := range branches {
		if !b.done && c.policy != "ACCEPT" {
			b.p.note(h.table + " " + h.chain + ": policy " + c.policy)
			b.p.verdict, b.p.verdictRule = c.policy, ""
		}
	}
	return branches, nil
}

// runFrom walks chain c from rule i on.
func (t *tracer) runFrom(tbl *table, c *chain, i int, p *packet, depth int) ([]branch, error) {
	for ; i < len(c.rules); i++ {
		rule := c.rules[i]
		ev := rule.evaluate(p)
		if ev.skipped != "" {
			p.note(rule.describe() + ": skipped: " + ev.skipped)
			continue
		}
		if !ev.matches {
			continue
		}
		if ev.probability >= 1 {
			return t.apply(tbl, c, i, rule, p, depth)
		}
		// A random match: follow both ways, each with its share.
		other := p.fork()
		other.probability *= 1 - ev.probability
		other.note(rule.describe() + " (not taken, probability " + formatProbability(1-ev.probability) + ")")
		p.probability *= ev.probability
		p.path = append(p.path, rule.describe()+" (taken, probability "+formatProbability(ev.probability)+")")
		p.matched = append(p.matched, rule.text)
		taken, err := t.applyTarget(tbl, c, i, rule, p, depth)
		if err != nil {
			return nil, err
		}
		rest, err := t.runFrom(tbl, c, i+1, other, depth)
		if err != nil {
			return nil, err
		}
		return append(taken, rest...), nil
	}
	return []branch{{p: p}}, nil
}

func formatProbability(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

// apply records a matched rule and applies its target.
func (t *tracer) apply(tbl *table, c *chain, i int, rule *Rule, p *packet, depth int) ([]branch, error) {
	p.note(rule.describe())
	p.matched = append(p.matched, rule.text)
	return t.applyTarget(tbl, c, i, rule, p, depth)
}

func (t *tracer) applyTarget(tbl *table, c *chain, i int, rule *Rule, p *packet, depth int) ([]branch, error) {
	switch rule.action.kind {
	case actVerdict:
		// An ACCEPT ends only this table's walk of this hook; the filter
		// table's is what a learner means by "accepted".
		if rule.Target != "ACCEPT" {
			p.verdict, p.verdictRule = rule.Target, rule.text
		} else if tbl.name == "filter" {
			p.verdictRule = rule.text
		}
		return []branch{{p: p, done: true}}, nil
	case actReturn:
		return []branch{{p: p}}, nil
	case actDNAT:
		d := rule.action.dnat
		port := int32(d.Port())
		if port == 0 {
			port = p.port
		}
		p.dst, p.port, p.dnat = d.Addr(), port, true
		p.endpoint = netip.AddrPortFrom(p.dst, uint16(p.port)).String()
		return []branch{{p: p, done: true}}, nil
	case actSNAT:
		p.masq = true
		return []branch{{p: p, done: true}}, nil
	case actUnmodelledTerminal:
		p.note(rule.Chain + ": the tracer does not follow -j " + rule.Target + "; the trace ends here")
		p.verdict, p.verdictRule = rule.Target, rule.text
		return []branch{{p: p, done: true}}, nil
	case actMark:
		p.mark = rule.action.mark(p.mark)
	case actUnmodelled:
		p.note(rule.Chain + ": the tracer does not model -j " + rule.Target + "; going on")
	case actChain:
		return t.jump(tbl, c, i, rule, p, depth)
	}
	// No target, MARK, or an unmodelled extension: on to the next rule.
	return t.runFrom(tbl, c, i+1, p, depth)
}

// jump walks the target chain, then, for every branch that came back, the
// rest of this chain (or, after a -g goto, nothing: it returns to our caller).
func (t *tracer) jump(tbl *table, c *chain, i int, rule *Rule, p *packet, depth int) ([]branch, error) {
	target := tbl.chains[rule.Target]
	if target == nil {
		return nil, fmt.Errorf("%s: chain %s does not exist", rule.text, rule.Target)
	}
	if depth == maxDepth {
		return nil, fmt.Errorf("chains nested deeper than %d at %s (a loop?)", maxDepth, rule.Target)
	}
	sub, err := t.runFrom(tbl, target, 0, p, depth+1)
	if err != nil {
		return nil, err
	}
	var out []branch
	for _, b := range sub {
		if b.done || rule.Goto {
			out = append(out, b)
			continue
		}
		rest, err := t.runFrom(tbl, c, i+1, b.p, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, rest...)
	}
	return out, nil
}
