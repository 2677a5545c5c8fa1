package tracer

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// builtinChains are each table's built-in chains, in the order
// iptables-save prints them. They exist before any rule is loaded.
var builtinChains = map[string][]string{
	"raw":      {"PREROUTING", "OUTPUT"},
	"mangle":   {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"filter":   {"INPUT", "FORWARD", "OUTPUT"},
	"nat":      {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"security": {"INPUT", "FORWARD", "OUTPUT"},
}

// Ruleset is a parsed iptables-save (all tables present: filter, nat,
// mangle optional), or the emulated state of a node's tables after a series
// of Restore calls.
type Ruleset struct {
	tables map[string]*table
}

type table struct {
	name   string
	chains map[string]*chain
}

type chain struct {
	name   string
	policy string // ACCEPT or DROP for built-in chains, "" for user chains
	rules  []*Rule
}

// NewRuleset returns the tables of a fresh network namespace: filter, nat
// and mangle with empty built-in chains whose policy is ACCEPT.
func NewRuleset() *Ruleset {
	r := &Ruleset{tables: map[string]*table{}}
	for _, name := range []string{"filter", "nat", "mangle"} {
		r.tables[name] = newTable(name)
	}
	return r
}

func newTable(name string) *table {
	t := &table{name: name, chains: map[string]*chain{}}
	for _, c := range builtinChains[name] {
		t.chains[c] = &chain{name: c, policy: "ACCEPT"}
	}
	return t
}

// Parse reads iptables-save output. Both the filter and the nat table must
// be in it (the output of `iptables-save`, not `iptables-save -t nat`), since
// a trace through half the tables would be misleading.
func Parse(save []byte) (*Ruleset, error) {
	r := NewRuleset()
	seen, err := r.restore(save, false)
	if err != nil {
		return nil, err
	}
	for _, t := range []string{"filter", "nat"} {
		if !seen[t] {
			return nil, fmt.Errorf("no *%s table in the input: pass the whole output of iptables-save", t)
		}
	}
	return r, nil
}

// Restore applies `iptables-restore --noflush` input, as the kernel would:
// a chain declaration (":KUBE-SVC-X - [0:0]") creates the chain or empties
// it; chains the input does not mention keep their rules; -A appends, -I
// inserts, -N creates, -F flushes, -X deletes an empty chain, -P sets a
// built-in chain's policy. Each table is applied at its COMMIT, all or
// nothing: a rule in a chain that does not exist, or a jump to a chain that
// exists neither in the kernel nor in the input (a dangling jump), fails
// that table and leaves it as it was. Tables committed earlier in the same
// input stay applied, as with the real tool.
func (r *Ruleset) Restore(payload []byte) error {
	_, err := r.restore(payload, true)
	return err
}

// restore applies payload; without noflush every table it names is
// emptied first (iptables-restore without --noflush, i.e. loading a save).
func (r *Ruleset) restore(payload []byte, noflush bool) (map[string]bool, error) {
	seen := map[string]bool{}
	var tx *transaction
	for n, line := range strings.Split(string(payload), "\n") {
		line = stripCounters(strings.TrimSpace(line))
		fail := func(err error) (map[string]bool, error) {
			return seen, fmt.Errorf("line %d: %v: %q", n+1, err, line)
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			if tx != nil {
				return fail(fmt.Errorf("table %s started before COMMIT of %s", line[1:], tx.t.name))
			}
			name := line[1:]
			if builtinChains[name] == nil {
				return fail(fmt.Errorf("unknown table"))
			}
			tx = r.begin(name, noflush)
			seen[name] = true
		case tx == nil:
			return fail(fmt.Errorf("not inside a table"))
		case line == "COMMIT":
			if err := tx.commit(); err != nil {
				return fail(err)
			}
			r.tables[tx.t.name] = tx.t
			tx = nil
		default:
			if err := tx.apply(line); err != nil {
				return fail(err)
			}
		}
	}
	if tx != nil {
		return seen, fmt.Errorf("table %s: missing COMMIT", tx.t.name)
	}
	return seen, nil
}

// stripCounters drops the "[packets:bytes] " that `iptables-save -c` puts
// before each rule.
func stripCounters(line string) string {
	if !strings.HasPrefix(line, "[") {
		return line
	}
	counters, rest, ok := strings.Cut(line, "] ")
	if !ok || strings.Trim(counters[1:], "0123456789:") != "" {
		return line
	}
	return strings.TrimSpace(rest)
}

// transaction is one table being restored: a copy of the table whose
// chains are copied before their first change.
type transaction struct {
	t     *table
	owned map[string]bool // chains already copied
}

func (r *Ruleset) begin(name string, noflush bool) *transaction {
	old := r.tables[name]
	t := newTable(name)
	if old != nil {
		for c, ch := range old.chains {
			if !noflush && ch.policy == "" {
				continue // a full restore deletes the user chains ...
			}
			if !noflush {
				ch = &chain{name: ch.name, policy: ch.policy} // ... and empties the built-in ones
			}
			t.chains[c] = ch
		}
	}
	return &transaction{t: t, owned: map[string]bool{}}
}

// own returns a chain that may be changed.
func (tx *transaction) own(name string) *chain {
	c := tx.t.chains[name]
	if c != nil && !tx.owned[name] {
		c = &chain{name: c.name, policy: c.policy, rules: slices.Clone(c.rules)}
		tx.t.chains[name] = c
		tx.owned[name] = true
	}
	return c
}

// commands are the restore-input commands besides chain declarations.
var commands = map[string]func(tx *transaction, args []word) error{
	"-A": func(tx *transaction, args []word) error { return tx.insert(args, false) },
	"-I": func(tx *transaction, args []word) error { return tx.insert(args, true) },
	"-N": (*transaction).newChain,
	"-F": (*transaction).flush,
	"-X": (*transaction).deleteChain,
	"-P": (*transaction).setPolicy,
}

func (tx *transaction) apply(line string) error {
	if strings.HasPrefix(line, ":") {
		return tx.declare(strings.Fields(line[1:]))
	}
	words, err := splitWords(line)
	if err != nil {
		return err
	}
	cmd, ok := commands[canonicalName(words[0].s)]
	if !ok {
		return fmt.Errorf("unknown command %s", words[0].s)
	}
	return cmd(tx, words[1:])
}

// declare handles ":NAME POLICY [packets:bytes]": a built-in chain gets its
// policy; a user chain is created, or emptied if it exists.
func (tx *transaction) declare(f []string) error {
	if len(f) < 2 {
		return fmt.Errorf("bad chain declaration")
	}
	name, policy := f[0], f[1]
	if c := tx.t.chains[name]; c != nil && c.policy != "" {
		if policy != "ACCEPT" && policy != "DROP" {
			return fmt.Errorf("bad policy %s for built-in chain %s", policy, name)
		}
		tx.own(name).policy = policy
		return nil
	}
	if policy != "-" {
		return fmt.Errorf("user chain %s cannot have policy %s", name, policy)
	}
	tx.t.chains[name] = &chain{name: name}
	tx.owned[name] = true
	return nil
}

func (tx *transaction) insert(args []word, insert bool) error {
	if len(args) < 1 {
		return fmt.Errorf("missing chain")
	}
	name := args[0].s
	c := tx.own(name)
	if c == nil {
		return fmt.Errorf("chain %s does not exist", name)
	}
	spec, pos := args[1:], len(c.rules)
	if insert {
		pos = 0
		if len(spec) > 0 {
			if n, err := strconv.Atoi(spec[0].s); err == nil {
				if n < 1 || n > len(c.rules)+1 {
					return fmt.Errorf("index %d out of range", n)
				}
				pos, spec = n-1, spec[1:]
			}
		}
	}
	rule, err := parseRuleSpec(name, spec)
	if err != nil {
		return err
	}
	c.rules = slices.Insert(c.rules, pos, rule)
	return nil
}

func oneChain(args []word) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("expected one chain name")
	}
	return args[0].s, nil
}

func (tx *transaction) newChain(args []word) error {
	name, err := oneChain(args)
	if err != nil {
		return err
	}
	if tx.t.chains[name] != nil {
		return fmt.Errorf("chain %s already exists", name)
	}
	tx.t.chains[name] = &chain{name: name}
	tx.owned[name] = true
	return nil
}

func (tx *transaction) flush(args []word) error {
	name, err := oneChain(args)
	if err != nil {
		return err
	}
	c := tx.own(name)
	if c == nil {
		return fmt.Errorf("chain %s does not exist", name)
	}
	c.rules = nil
	return nil
}

// deleteChain removes an empty user chain that no rule jumps to.
func (tx *transaction) deleteChain(args []word) error {
	name, err := oneChain(args)
	if err != nil {
		return err
	}
	c := tx.t.chains[name]
	switch {
	case c == nil:
		return fmt.Errorf("chain %s does not exist", name)
	case c.policy != "":
		return fmt.Errorf("cannot delete built-in chain %s", name)
	case len(c.rules) > 0:
		return fmt.Errorf("chain %s is not empty", name)
	}
	if ref := tx.t.reference(name); ref != nil {
		return fmt.Errorf("chain %s is still referenced by %q", name, ref.text)
	}
	delete(tx.t.chains, name)
	return nil
}

func (tx *transaction) setPolicy(args []word) error {
	if len(args) != 2 {
		return fmt.Errorf("expected a chain and a policy")
	}
	return tx.declare([]string{args[0].s, args[1].s})
}

// commit checks the table as the kernel does before swapping it in: every
// jump must lead to an existing chain.
func (tx *transaction) commit() error {
	for _, name := range tx.t.sortedChains() {
		for _, rule := range tx.t.chains[name].rules {
			if rule.action.kind == actChain && tx.t.chains[rule.Target] == nil {
				return fmt.Errorf("table %s: %q jumps to %s, which is neither a chain nor a target (dangling jump)", tx.t.name, rule.text, rule.Target)
			}
		}
	}
	return nil
}

// reference returns a rule jumping to chain name, or nil.
func (t *table) reference(name string) *Rule {
	for _, c := range t.chains {
		for _, rule := range c.rules {
			if rule.action.kind == actChain && rule.Target == name {
				return rule
			}
		}
	}
	return nil
}

// sortedChains lists the built-in chains in kernel order, then the user
// chains by name, as iptables-save does.
func (t *table) sortedChains() []string {
	out := slices.Clone(builtinChains[t.name])
	var user []string
	for name, c := range t.chains {
		if c.policy == "" {
			user = append(user, name)
		}
	}
	sort.Strings(user)
	return append(out, user...)
}

// Tables lists the tables, sorted.
func (r *Ruleset) Tables() []string {
	var out []string
	for name := range r.tables {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Chains lists a table's chains: built-in ones first, then user chains by name.
func (r *Ruleset) Chains(table string) []string {
	t := r.tables[table]
	if t == nil {
		return nil
	}
	return t.sortedChains()
}

// HasChain reports whether the chain exists.
func (r *Ruleset) HasChain(table, chain string) bool {
	t := r.tables[table]
	return t != nil && t.chains[chain] != nil
}

// Rules returns a chain's rules (nil if it has none or does not exist).
func (r *Ruleset) Rules(table, chain string) []*Rule {
	t := r.tables[table]
	if t == nil || t.chains[chain] == nil {
		return nil
	}
	return slices.Clone(t.chains[chain].rules)
}

// Policy returns a built-in chain's policy ("" for user chains).
func (r *Ruleset) Policy(table, chain string) string {
	if t := r.tables[table]; t != nil && t.chains[chain] != nil {
		return t.chains[chain].policy
	}
	return ""
}

// RuleCount is the number of rules in a table.
func (r *Ruleset) RuleCount(table string) int {
	n := 0
	if t := r.tables[table]; t != nil {
		for _, c := range t.chains {
			n += len(c.rules)
		}
	}
	return n
}

// Save writes the ruleset in iptables-save's layout (tables by name,
// counters zero, no comment lines). Two rulesets holding the same chains and
// rules save to the same bytes, whatever order they were loaded in.
func (r *Ruleset) Save() []byte {
	var b bytes.Buffer
	for _, name := range r.Tables() {
		t := r.tables[name]
		fmt.Fprintf(&b, "*%s\n", name)
		chains := t.sortedChains()
		for _, c := range chains {
			policy := t.chains[c].policy
			if policy == "" {
				policy = "-"
			}
			fmt.Fprintf(&b, ":%s %s [0:0]\n", c, policy)
		}
		for _, c := range chains {
			for _, rule := range t.chains[c].rules {
				b.WriteString(rule.text)
				b.WriteByte('\n')
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.Bytes()
}
