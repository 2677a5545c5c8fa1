package iptables

// A rule tracer for tests, modelled on the one in kube-proxy's
// pkg/proxy/iptables tests: it loads restore payloads into an in-memory
// model of the filter and nat tables (with --noflush semantics), adds the
// jump rules from JumpRules, and walks a virtual packet through the hooks a
// real packet would take. Rules whose outcome depends on history (-m recent
// --rcheck) never match, and every -m statistic branch is followed, so a
// trace lists every endpoint the packet could be DNATed to.

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// builtinChains are the chains of each table that exist before any restore.
var builtinChains = map[string][]string{
	"filter": {"INPUT", "FORWARD", "OUTPUT"},
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
}

// builtinTargets are targets that are not chains.
var builtinTargets = map[string]bool{
	"ACCEPT": true, "DROP": true, "REJECT": true, "RETURN": true,
	"MARK": true, "DNAT": true, "MASQUERADE": true,
}

// knownModules are the -m matches the generator may use; anything else
// (e.g. nfacct) is a test failure.
var knownModules = map[string]bool{
	"comment": true, "tcp": true, "udp": true, "sctp": true, "addrtype": true,
	"conntrack": true, "mark": true, "statistic": true, "recent": true,
}

// valueOptions take one argument; flagOptions take none.
var valueOptions = map[string]bool{
	"-s": true, "-d": true, "-p": true, "--dport": true, "--src-type": true, "--dst-type": true,
	"--ctstate": true, "--mark": true, "--comment": true, "--mode": true, "--probability": true,
	"--name": true, "--seconds": true, "--to-destination": true, "--or-mark": true, "--xor-mark": true,
}
var flagOptions = map[string]bool{"--rcheck": true, "--set": true, "--reap": true, "--random-fully": true}

// cond is one match of a rule, e.g. {"-s", "10.0.0.0/8", negate}.
type cond struct {
	opt, value string
	negate     bool
}

type traceRule struct {
	raw           string
	chain         string
	conds         []cond
	target        string
	targetArgs    map[string]string // --to-destination, --or-mark, --xor-mark
	probabilistic bool
}

// splitWords splits a restore line on spaces, keeping "quoted text" as one
// word without its quotes, as iptables-restore does.
func splitWords(line string) ([]string, error) {
	var words []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimLeft(line, " ") {
		if line[0] == '"' {
			end := strings.IndexByte(line[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", line)
			}
			words = append(words, line[1:end+1])
			line = line[end+2:]
			continue
		}
		w, rest, _ := strings.Cut(line, " ")
		words = append(words, w)
		line = rest
	}
	return words, nil
}

// parseRule parses an "-A CHAIN ..." line strictly: unknown options or
// modules are errors, so the tests notice anything the tracer would
// misunderstand.
func parseRule(line string) (*traceRule, error) {
	words, err := splitWords(line)
	if err != nil {
		return nil, err
	}
	if len(words) < 2 || words[0] != "-A" {
		return nil, fmt.Errorf("not an -A rule: %q", line)
	}
	r := &traceRule{raw: line, chain: words[1], targetArgs: map[string]string{}}
	negate := false
	inTarget := false
	for i := 2; i < len(words); i++ {
		w := words[i]
		next := func() (string, error) {
			if i+1 >= len(words) {
				return "", fmt.Errorf("%s needs a value in %q", w, line)
			}
			i++
			return words[i], nil
		}
		switch {
		case w == "!":
			negate = true
			continue
		case w == "-m":
			m, err := next()
			if err != nil {
				return nil, err
			}
			if !knownModules[m] {
				return nil, fmt.Errorf("unknown module %q in %q", m, line)
			}
		case w == "-j":
			t, err := next()
			if err != nil {
				return nil, err
			}
			r.target, inTarget = t, true
		case inTarget && valueOptions[w]:
			v, err := next()
			if err != nil {
				return nil, err
			}
			r.targetArgs[w] = v
		case inTarget && flagOptions[w]:
			r.targetArgs[w] = ""
		case valueOptions[w]:
			v, err := next()
			if err != nil {
				return nil, err
			}
			r.conds = append(r.conds, cond{w, v, negate})
			r.probabilistic = r.probabilistic || w == "--probability"
		case flagOptions[w]:
			r.conds = append(r.conds, cond{w, "", negate})
		default:
			return nil, fmt.Errorf("unknown option %q in %q", w, line)
		}
		negate = false
	}
	return r, nil
}

// traceTable is one table: chain name → rules. A chain exists iff it is a key.
type traceTable map[string][]*traceRule

// tracer is the in-memory kernel model.
type tracer struct {
	tables   map[string]traceTable
	localIPs map[netip.Addr]bool
}

// newTracer returns a model with empty built-in chains, loads each payload
// with --noflush semantics, then ensures the jump rules kube-proxy ensures
// (inserted at the top, so the last one listed ends up first).
func newTracer(t testing.TB, localIPs []string, payloads ...[]byte) *tracer {
	t.Helper()
	tr := &tracer{tables: map[string]traceTable{}, localIPs: map[netip.Addr]bool{}}
	for table, chains := range builtinChains {
		tr.tables[table] = traceTable{}
		for _, c := range chains {
			tr.tables[table][c] = nil
		}
	}
	for _, ip := range localIPs {
		tr.localIPs[netip.MustParseAddr(ip)] = true
	}
	for _, p := range payloads {
		if err := tr.restore(p); err != nil {
			t.Fatalf("restore: %v\n%s", err, p)
		}
	}
	for _, j := range JumpRules() {
		table := tr.tables[j.Table]
		if _, ok := table[j.Target()]; !ok {
			table[j.Target()] = nil // kube-proxy's "ensure chain"
		}
		r, err := parseRule(strings.Join(append([]string{"-A", j.Chain}, quoteWords(j.Args)...), " "))
		if err != nil {
			t.Fatalf("jump rule %v: %v", j, err)
		}
		table[j.Chain] = append([]*traceRule{r}, table[j.Chain]...)
	}
	return tr
}

// quoteWords quotes arguments containing spaces so they survive splitWords.
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

// restore applies a payload like `iptables-restore --noflush`: a declaration
// line creates or flushes a chain, unmentioned chains are kept, -X deletes an
// empty, unreferenced chain.
func (tr *tracer) restore(payload []byte) error {
	var table traceTable
	for n, line := range strings.Split(string(payload), "\n") {
		lineErr := func(format string, args ...any) error {
			return fmt.Errorf("line %d %q: %s", n+1, line, fmt.Sprintf(format, args...))
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			if table != nil {
				return lineErr("table started before COMMIT")
			}
			if table = tr.tables[line[1:]]; table == nil {
				return lineErr("unknown table")
			}
		case table == nil:
			return lineErr("outside a table")
		case line == "COMMIT":
			table = nil
		case strings.HasPrefix(line, ":"):
			table[strings.Fields(line[1:])[0]] = []*traceRule{}
		case strings.HasPrefix(line, "-X "):
			name := strings.TrimSpace(line[3:])
			if _, ok := table[name]; !ok {
				return lineErr("deleting missing chain")
			}
			if len(table[name]) > 0 {
				return lineErr("deleting non-empty chain")
			}
			for _, rules := range table {
				for _, r := range rules {
					if r.target == name {
						return lineErr("deleting chain referenced by %q", r.raw)
					}
				}
			}
			delete(table, name)
		case strings.HasPrefix(line, "-A "):
			r, err := parseRule(line)
			if err != nil {
				return lineErr("%v", err)
			}
			if _, ok := table[r.chain]; !ok {
				return lineErr("appending to undeclared chain")
			}
			if _, ok := table[r.target]; r.target != "" && !ok && !builtinTargets[r.target] {
				return lineErr("jump to undeclared chain %s", r.target)
			}
			table[r.chain] = append(table[r.chain], r)
		default:
			return lineErr("unexpected line")
		}
	}
	if table != nil {
		return fmt.Errorf("missing COMMIT")
	}
	return nil
}

// flow is one virtual packet. fromNode means a process on the node sent it
// (nat/filter OUTPUT); otherwise it arrived from outside the node's network
// namespace, which includes this node's pods (nat PREROUTING, then filter
// INPUT or FORWARD).
type flow struct {
	src, dst string
	proto    string // lowercase, as in iptables rules
	port     int
	fromNode bool
}

type traceResult struct {
	endpoints []string // every possible DNAT destination, in rule order
	masq      bool     // reached MASQUERADE in nat POSTROUTING
	verdict   string   // filter verdict: "", ACCEPT, DROP or REJECT
	matched   []string // matched rules, for failure messages
}

// packet is the mutable state of a flow during a trace.
type packet struct {
	src, dst netip.Addr
	proto    string
	port     int
	mark     uint32
	ctstates []string
	res      *traceResult
	depth    int
}

// trace walks f through the hooks a real packet takes: nat PREROUTING or
// OUTPUT (DNAT), filter INPUT/FORWARD/OUTPUT, nat POSTROUTING (masquerade).
func (tr *tracer) trace(f flow) traceResult {
	res := &traceResult{}
	p := &packet{src: netip.MustParseAddr(f.src), dst: netip.MustParseAddr(f.dst), proto: f.proto,
		port: f.port, ctstates: []string{"NEW"}, res: res}

	natHook := "PREROUTING"
	if f.fromNode {
		natHook = "OUTPUT"
	}
	tr.runChain("nat", natHook, p)
	if len(res.endpoints) > 0 {
		// Later hooks see the first DNAT destination.
		ap := netip.MustParseAddrPort(res.endpoints[0])
		p.dst, p.port = ap.Addr(), int(ap.Port())
		p.ctstates = append(p.ctstates, "DNAT")
	}

	var filterHooks []string
	switch {
	case f.fromNode && tr.isLocal(p.dst):
		filterHooks = []string{"OUTPUT", "INPUT"} // delivered over loopback
	case f.fromNode:
		filterHooks = []string{"OUTPUT"}
	case tr.isLocal(p.dst):
		filterHooks = []string{"INPUT"}
	default:
		filterHooks = []string{"FORWARD"}
	}
	for _, hook := range filterHooks {
		res.verdict = ""
		tr.runChain("filter", hook, p)
		if res.verdict == "DROP" || res.verdict == "REJECT" {
			return *res
		}
	}
	tr.runChain("nat", "POSTROUTING", p)
	return *res
}

func (tr *tracer) isLocal(ip netip.Addr) bool {
	return tr.localIPs[ip] || ip.IsLoopback()
}

// runChain runs p through one chain; it reports whether a terminating target
// was reached.
func (tr *tracer) runChain(table, chain string, p *packet) bool {
	if p.depth++; p.depth > 64 {
		panic("rule loop through " + chain)
	}
	defer func() { p.depth-- }()
	for _, r := range tr.tables[table][chain] {
		if r.target == "" || !tr.ruleMatches(r, p) {
			continue
		}
		p.res.matched = append(p.res.matched, r.raw)
		switch r.target {
		case "ACCEPT", "DROP", "REJECT":
			p.res.verdict = r.target
			return true
		case "DNAT":
			p.res.endpoints = append(p.res.endpoints, r.targetArgs["--to-destination"])
			return true
		case "MASQUERADE":
			p.res.masq = true
			return true
		case "RETURN":
			return false
		case "MARK":
			if v, ok := r.targetArgs["--or-mark"]; ok {
				p.mark |= parseMark(v)
			}
			if v, ok := r.targetArgs["--xor-mark"]; ok {
				p.mark ^= parseMark(v)
			}
		default:
			// A probabilistic jump may or may not be taken: keep looking, so
			// the trace collects every endpoint.
			if tr.runChain(table, r.target, p) && !r.probabilistic {
				return true
			}
		}
	}
	return false
}

func parseMark(s string) uint32 {
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		panic(err)
	}
	return uint32(v)
}

func (tr *tracer) ruleMatches(r *traceRule, p *packet) bool {
	for _, c := range r.conds {
		if !tr.condMatches(c, p) {
			return false
		}
	}
	return true
}

func (tr *tracer) condMatches(c cond, p *packet) bool {
	var ok bool
	switch c.opt {
	case "-s":
		ok = addrMatches(c.value, p.src)
	case "-d":
		ok = addrMatches(c.value, p.dst)
	case "-p":
		ok = c.value == p.proto
	case "--dport":
		ok = c.value == strconv.Itoa(p.port)
	case "--src-type":
		ok = c.value == "LOCAL" && tr.isLocal(p.src)
	case "--dst-type":
		ok = c.value == "LOCAL" && tr.isLocal(p.dst)
	case "--ctstate":
		ok = slices.ContainsFunc(strings.Split(c.value, ","), func(s string) bool { return slices.Contains(p.ctstates, s) })
	case "--mark":
		v, m, _ := strings.Cut(c.value, "/")
		mask := uint32(0xffffffff)
		if m != "" {
			mask = parseMark(m)
		}
		ok = p.mark&mask == parseMark(v)
	case "--rcheck":
		ok = false // depends on earlier connections
	default:
		return true // --comment, --probability, --mode, --name, --seconds, --reap, --set
	}
	return ok != c.negate
}

func addrMatches(value string, ip netip.Addr) bool {
	if strings.Contains(value, "/") {
		return netip.MustParsePrefix(value).Contains(ip)
	}
	return netip.MustParseAddr(value) == ip
}

// output summarizes a trace like kube-proxy's tests do: the DNAT
// destinations, or the filter verdict when there are none. A DROP/REJECT
// after a DNAT is appended so that it shows up as a failure.
func (r traceResult) output() string {
	if len(r.endpoints) == 0 {
		return r.verdict
	}
	out := strings.Join(r.endpoints, ", ")
	if r.verdict == "DROP" || r.verdict == "REJECT" {
		out += ", " + r.verdict
	}
	return out
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
func runPacketFlowTests(t *testing.T, tr *tracer, tests []packetFlowTest) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proto := tc.proto
			if proto == "" {
				proto = "tcp"
			}
			f := flow{src: tc.src, dst: tc.dst, proto: proto, port: tc.port}
			f.fromNode = tr.isLocal(netip.MustParseAddr(tc.src))
			res := tr.trace(f)
			if res.output() != tc.output || res.masq != tc.masq {
				t.Errorf("%s packet %s -> %s:%d: got output %q masq %v, want %q masq %v\nmatched:\n%s",
					proto, tc.src, tc.dst, tc.port, res.output(), res.masq, tc.output, tc.masq, strings.Join(res.matched, "\n"))
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

// checkRuleJumps checks a payload for consistency, like kube-proxy's
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
			r, err := parseRule(line)
			if err != nil {
				t.Fatal(err)
			}
			rules[table][r.chain]++
			if r.target != "" && !builtinTargets[r.target] {
				jumped[table][r.target] = true
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
