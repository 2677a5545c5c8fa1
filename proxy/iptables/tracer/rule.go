package tracer

import (
	"fmt"
	"strings"
)

// Option is one option of a rule, as iptables-save prints it: a match option
// ("-s 10.0.0.0/8", "-m tcp --dport 80", "-m conntrack ! --ctstate NEW") or a
// target option ("-j DNAT --to-destination 10.244.1.5:8080").
type Option struct {
	// Module is the -m match the option belongs to ("tcp", "conntrack"),
	// "" for the basic matches (-s, -d, -p, -i, -o, -f), or the target's name
	// for a target option.
	Module string
	// Name is the option as written, long aliases of the basic matches
	// (--source, --jump, ...) shortened to -s, -j, ...
	Name string
	// Value is "" for a flag; an option with several words (--tcp-flags
	// SYN,RST SYN) has them joined by one space.
	Value   string
	Negated bool
}

func (o Option) String() string {
	s := o.Name
	if o.Negated {
		s = "! " + s
	}
	if o.Value != "" {
		s += " " + quote(o.Value)
	}
	return s
}

// Rule is one parsed rule of a chain.
type Rule struct {
	Chain string
	// Matches are the rule's match options in order, without the comment.
	Matches []Option
	// Comment is the -m comment text, unquoted.
	Comment string
	// Target is the -j (or -g) target: a chain of the same table or a target
	// extension (ACCEPT, DNAT, MARK, ...); "" for a rule that only counts.
	Target string
	// Goto is true for -g: when Target returns, the packet goes back to the
	// chain that called this rule's chain, not to the next rule.
	Goto          bool
	TargetOptions []Option

	text       string      // "-A CHAIN ...", as given
	matchText  string      // the match part without the comment, for Path
	targetText string      // "-j DNAT --to-destination ...", for Path
	conds      []condition // compiled Matches
	action     action      // compiled target
}

// String is the rule in iptables-save form ("-A CHAIN ...").
func (r *Rule) String() string { return r.text }

// Get returns the first match or target option with that name.
func (r *Rule) Get(name string) (Option, bool) {
	for _, opts := range [][]Option{r.Matches, r.TargetOptions} {
		for _, o := range opts {
			if o.Name == name {
				return o, true
			}
		}
	}
	return Option{}, false
}

// Unsupported lists the match options Trace cannot evaluate (interfaces,
// source ports, ipsets, ...); Trace never lets such a rule match and says so
// in the Path. Session-affinity checks (-m recent --rcheck) are not listed:
// they are understood, and deliberately treated as not matching.
func (r *Rule) Unsupported() []string {
	var out []string
	for _, c := range r.conds {
		if c.kind == condUnsupported {
			out = append(out, c.describe())
		}
	}
	if r.action.kind == actUnmodelled || r.action.kind == actUnmodelledTerminal {
		out = append(out, "-j "+r.Target)
	}
	return out
}

// ParseRule parses one "-A CHAIN <rule>" line.
func ParseRule(line string) (*Rule, error) {
	words, err := splitWords(line)
	if err != nil {
		return nil, err
	}
	if len(words) < 2 || canonicalName(words[0].s) != "-A" {
		return nil, fmt.Errorf("not an -A rule: %q", line)
	}
	return parseRuleSpec(words[1].s, words[2:])
}

// word is one word of a rule line; quoted words are always values.
type word struct {
	s      string
	quoted bool
}

// splitWords splits a line on blanks, keeping "quoted text" (with \" and \\
// escapes, as iptables-save writes them) as one word.
func splitWords(line string) ([]word, error) {
	var words []word
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			return words, nil
		}
		if line[i] != '"' {
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '\t' {
				j++
			}
			words = append(words, word{s: line[i:j]})
			i = j
			continue
		}
		var b strings.Builder
		j := i + 1
		for ; j < len(line) && line[j] != '"'; j++ {
			if line[j] == '\\' && j+1 < len(line) && (line[j+1] == '"' || line[j+1] == '\\') {
				j++
			}
			b.WriteByte(line[j])
		}
		if j == len(line) {
			return nil, fmt.Errorf("unterminated quote in %q", line)
		}
		words = append(words, word{s: b.String(), quoted: true})
		i = j + 1
	}
}

// quote writes a value back the way iptables-save does: in double quotes
// when it holds blanks or quotes.
func quote(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"") {
		return alwaysQuote(s)
	}
	return s
}

func alwaysQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// longNames maps the long spellings of the basic options to the short ones
// iptables-save prints.
var longNames = map[string]string{
	"--append": "-A", "--insert": "-I", "--new-chain": "-N", "--delete-chain": "-X",
	"--flush": "-F", "--policy": "-P",
	"--source": "-s", "--src": "-s", "--destination": "-d", "--dst": "-d",
	"--protocol": "-p", "--in-interface": "-i", "--out-interface": "-o",
	"--fragment": "-f", "--match": "-m", "--jump": "-j", "--goto": "-g",
}

func canonicalName(s string) string {
	if short, ok := longNames[s]; ok {
		return short
	}
	return s
}

// basicOptions take one value and belong to no module; -f takes none.
var basicOptions = map[string]bool{"-s": true, "-d": true, "-p": true, "-i": true, "-o": true}

// implicitModules: like iptables, accept --dport after -p tcp without
// "-m tcp" (iptables-save always prints the -m, hand-written input may not).
var implicitModules = map[string]bool{"tcp": true, "udp": true, "sctp": true, "dccp": true}

// parseRuleSpec parses the words after "-A CHAIN". An option's value is
// every following word up to the next option (quoted words always being
// values), which covers the flags and the two-word options (--tcp-flags,
// --match-set) without a table of every extension's syntax.
func parseRuleSpec(chain string, words []word) (*Rule, error) {
	r := &Rule{Chain: chain}
	var text []string
	for _, w := range words {
		text = append(text, quoteWord(w))
	}
	r.text = strings.TrimSpace("-A " + chain + " " + strings.Join(text, " "))

	module, protocol := "", ""
	negate, inTarget := false, false
	var matchWords []string
	targetStart := len(words)
	optionStart := 0 // where the current option's words begin, "!" included
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w.quoted {
			return nil, fmt.Errorf("unexpected value %q in %q", w.s, r.text)
		}
		if w.s == "!" {
			if negate || inTarget {
				return nil, fmt.Errorf("misplaced \"!\" in %q", r.text)
			}
			negate, optionStart = true, i
			continue
		}
		if !negate {
			optionStart = i
		}
		name := canonicalName(w.s)
		values := func() []word {
			j := i + 1
			for j < len(words) && (words[j].quoted || (words[j].s != "!" && !strings.HasPrefix(words[j].s, "-"))) {
				j++
			}
			v := words[i+1 : j]
			i = j - 1
			return v
		}
		one := func() (string, error) {
			v := values()
			if len(v) != 1 {
				return "", fmt.Errorf("%s takes one value in %q", w.s, r.text)
			}
			return v[0].s, nil
		}
		switch {
		case name == "-m" && !inTarget:
			m, err := one()
			if err != nil || negate {
				return nil, fmt.Errorf("bad -m in %q", r.text)
			}
			module = m
			if m != "comment" {
				matchWords = append(matchWords, "-m", m)
			}
			continue
		case (name == "-j" || name == "-g") && !inTarget:
			t, err := one()
			if err != nil || negate {
				return nil, fmt.Errorf("bad %s in %q", name, r.text)
			}
			r.Target, r.Goto, inTarget, module = t, name == "-g", true, t
			targetStart = optionStart
			continue
		case !strings.HasPrefix(name, "-"):
			return nil, fmt.Errorf("unexpected word %q in %q", w.s, r.text)
		}

		opt := Option{Module: module, Name: name, Negated: negate}
		negate = false
		switch {
		case inTarget:
			opt.Value = joinWords(values())
			r.TargetOptions = append(r.TargetOptions, opt)
			continue
		case basicOptions[name]:
			v, err := one()
			if err != nil {
				return nil, err
			}
			opt.Module, opt.Value = "", v
			if name == "-p" {
				protocol = v
			}
		case name == "-f":
			opt.Module = ""
		case module == "" && implicitModules[protocol]:
			opt.Module = protocol
			opt.Value = joinWords(values())
		case module == "":
			return nil, fmt.Errorf("option %s outside any match module (-m) in %q", w.s, r.text)
		default:
			opt.Value = joinWords(values())
		}
		if opt.Module == "comment" && opt.Name == "--comment" {
			r.Comment = opt.Value
			continue
		}
		r.Matches = append(r.Matches, opt)
		for _, mw := range words[optionStart : i+1] {
			matchWords = append(matchWords, quoteWord(mw))
		}
	}
	if negate {
		return nil, fmt.Errorf("dangling \"!\" in %q", r.text)
	}
	r.matchText = strings.Join(matchWords, " ")
	for _, w := range words[targetStart:] {
		r.targetText = strings.TrimSpace(r.targetText + " " + quoteWord(w))
	}
	return r, r.compile()
}

func quoteWord(w word) string {
	if w.quoted {
		return quote(w.s)
	}
	return w.s
}

func joinWords(ws []word) string {
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = w.s
	}
	return strings.Join(s, " ")
}

// describe is how Path shows a rule: its comment if it has one (that is
// what kube-proxy's comments are for), else its matches; then its target.
func (r *Rule) describe() string {
	d := r.matchText
	if r.Comment != "" {
		d = alwaysQuote(r.Comment)
	}
	if r.targetText != "" {
		d = strings.TrimSpace(d + " " + r.targetText)
	}
	return r.Chain + ": " + d
}
