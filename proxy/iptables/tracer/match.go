package tracer

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// condKind is how Trace treats one match option.
type condKind int

const (
	condMatch       condKind = iota // evaluated against the packet
	condNoop                        // always true for the first packet of a connection (-m recent --set, --mode random, ...)
	condProbability                 // -m statistic --probability: the packet goes both ways
	condHistory                     // -m recent --rcheck: depends on earlier connections, treated as not matching
	condUnsupported                 // not modelled: the rule never matches
)

type condition struct {
	opt   Option
	kind  condKind
	value any
	match func(p *packet, value any) bool
}

func (c condition) describe() string {
	if c.opt.Module == "" {
		return c.opt.String()
	}
	return "-m " + c.opt.Module + " " + c.opt.String()
}

// matcher is how one match option is parsed and evaluated.
type matcher struct {
	kind  condKind
	parse func(value string) (any, error)
	match func(p *packet, value any) bool
}

type optionKey struct{ module, name string }

// matchers lists every match option Trace understands. Anything else makes
// its rule unevaluable (see Rule.Unsupported).
var matchers = map[optionKey]matcher{
	{"", "-s"}: {parse: parseAddresses, match: func(p *packet, v any) bool { return containsAddr(v, p.src) }},
	{"", "-d"}: {parse: parseAddresses, match: func(p *packet, v any) bool { return containsAddr(v, p.dst) }},
	{"", "-p"}: {parse: parseProtocol, match: func(p *packet, v any) bool { return v == "all" || v == p.proto }},
	// The first packet of a connection is never a later fragment.
	{"", "-f"}: {parse: noValue, match: func(*packet, any) bool { return false }},

	{"addrtype", "--src-type"}: {parse: parseAddrTypes, match: func(p *packet, v any) bool { return p.hasAddrType(p.src, v.([]string)) }},
	{"addrtype", "--dst-type"}: {parse: parseAddrTypes, match: func(p *packet, v any) bool { return p.hasAddrType(p.dst, v.([]string)) }},

	{"conntrack", "--ctstate"}: {parse: parseList, match: matchCTState},
	{"state", "--state"}:       {parse: parseList, match: matchCTState},

	{"mark", "--mark"}: {parse: parseMarkMask, match: func(p *packet, v any) bool {
		m := v.(markMask)
		return p.mark&m.mask == m.value
	}},

	{"multiport", "--dports"}:            {parse: parsePortList, match: matchDestinationPort},
	{"multiport", "--destination-ports"}: {parse: parsePortList, match: matchDestinationPort},

	{"statistic", "--mode"}:        {kind: condNoop, parse: parseRandomMode},
	{"statistic", "--probability"}: {kind: condProbability, parse: parseProbability},

	// Session affinity: --set records the client when it is DNATed (nothing
	// to check); --rcheck/--update match only clients seen before.
	{"recent", "--rcheck"}:  {kind: condHistory, parse: noValue},
	{"recent", "--update"}:  {kind: condHistory, parse: noValue},
	{"recent", "--set"}:     {kind: condNoop, parse: noValue},
	{"recent", "--name"}:    {kind: condNoop},
	{"recent", "--seconds"}: {kind: condNoop},
	{"recent", "--reap"}:    {kind: condNoop, parse: noValue},
	{"recent", "--mask"}:    {kind: condNoop},
	{"recent", "--rsource"}: {kind: condNoop, parse: noValue},
	{"recent", "--rdest"}:   {kind: condNoop, parse: noValue},
}

func init() {
	// The port matches of the protocol modules.
	for _, proto := range []string{"tcp", "udp", "sctp", "dccp"} {
		for _, name := range []string{"--dport", "--destination-port"} {
			matchers[optionKey{proto, name}] = matcher{parse: parsePortList, match: matchDestinationPort}
		}
	}
	// The first TCP packet carries SYN only.
	matchers[optionKey{"tcp", "--syn"}] = matcher{parse: noValue, match: func(p *packet, _ any) bool { return p.proto == "tcp" }}
	matchers[optionKey{"tcp", "--tcp-flags"}] = matcher{parse: parseTCPFlags, match: func(p *packet, v any) bool {
		f := v.([2]uint8)
		return p.proto == "tcp" && tcpSYN&f[0] == f[1]
	}}
}

// compile turns the rule's options into conditions and its target into an
// action, checking every value once so that Trace cannot fail on them.
func (r *Rule) compile() error {
	for _, o := range r.Matches {
		m, ok := matchers[optionKey{o.Module, o.Name}]
		if !ok {
			r.conds = append(r.conds, condition{opt: o, kind: condUnsupported})
			continue
		}
		c := condition{opt: o, kind: m.kind, match: m.match}
		if m.parse != nil {
			v, err := m.parse(o.Value)
			if err != nil {
				// A value the tracer cannot read (say "--mode nth") is
				// something it does not model, not a broken rule.
				r.conds = append(r.conds, condition{opt: o, kind: condUnsupported})
				continue
			}
			c.value = v
		}
		r.conds = append(r.conds, c)
	}
	a, err := compileAction(r)
	if err != nil {
		return fmt.Errorf("%v in %q", err, r.text)
	}
	r.action = a
	return nil
}

// evaluation is the result of matching one rule against a packet.
type evaluation struct {
	matches     bool
	probability float64 // < 1 for a statistic match
	skipped     string  // why a rule that might match is not followed
}

func (r *Rule) evaluate(p *packet) evaluation {
	ev := evaluation{matches: true, probability: 1}
	var history, unsupported []string
	for _, c := range r.conds {
		switch c.kind {
		case condMatch:
			if c.match(p, c.value) == c.opt.Negated {
				return evaluation{}
			}
		case condProbability:
			ev.probability = c.value.(float64)
		case condHistory:
			history = append(history, c.describe())
		case condUnsupported:
			unsupported = append(unsupported, c.describe())
		}
	}
	switch {
	case len(unsupported) > 0:
		return evaluation{skipped: "cannot evaluate " + strings.Join(unsupported, ", ") + "; the tracer treats this rule as not matching"}
	case len(history) > 0:
		return evaluation{skipped: r.affinityNote()}
	}
	return ev
}

// affinityNote explains a skipped -m recent check.
func (r *Rule) affinityNote() string {
	list, _ := r.Get("--name")
	note := "session affinity (-m recent --rcheck) matches only a client recorded in list " + list.Value
	if s, ok := r.Get("--seconds"); ok {
		note += " within the last " + s.Value + "s"
	}
	return note + "; traced as a new client"
}

func noValue(v string) (any, error) {
	if v != "" {
		return nil, fmt.Errorf("unexpected value %q", v)
	}
	return nil, nil
}

// parseAddresses reads "10.0.0.0/8", "1.2.3.4", "1.2.3.4/32",
// "10.0.0.0/255.0.0.0" or a comma-separated list of those.
func parseAddresses(v string) (any, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(v, ",") {
		p, err := parseAddress(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parseAddress(s string) (netip.Prefix, error) {
	a, bits, hasBits := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(a)
	if err != nil {
		return netip.Prefix{}, err
	}
	addr = addr.Unmap()
	if !hasBits {
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	if n, err := strconv.Atoi(bits); err == nil {
		return addr.Prefix(n)
	}
	mask, err := netip.ParseAddr(bits)
	if err != nil || mask.BitLen() != addr.BitLen() {
		return netip.Prefix{}, fmt.Errorf("bad netmask %q", bits)
	}
	ones, b := 0, mask.AsSlice()
	for i, x := range b {
		for bit := 7; bit >= 0; bit-- {
			if x&(1<<bit) == 0 {
				// A mask must be contiguous ones.
				for _, y := range b[i+1:] {
					if y != 0 {
						return netip.Prefix{}, fmt.Errorf("non-contiguous netmask %q", bits)
					}
				}
				if x&((1<<bit)-1) != 0 {
					return netip.Prefix{}, fmt.Errorf("non-contiguous netmask %q", bits)
				}
				return addr.Prefix(ones)
			}
			ones++
		}
	}
	return addr.Prefix(ones)
}

func containsAddr(v any, a netip.Addr) bool {
	return slices.ContainsFunc(v.([]netip.Prefix), func(p netip.Prefix) bool { return p.Contains(a) })
}

// protocolNumbers are the names iptables-save prints when /etc/protocols
// is missing, as numbers.
var protocolNumbers = map[string]string{
	"0": "all", "1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp", "132": "sctp",
	"33": "dccp", "47": "gre", "50": "esp", "51": "ah", "136": "udplite",
}

func parseProtocol(v string) (any, error) {
	v = strings.ToLower(v)
	if name, ok := protocolNumbers[v]; ok {
		return name, nil
	}
	if v == "icmpv6" {
		return "ipv6-icmp", nil
	}
	if v == "" {
		return nil, fmt.Errorf("empty protocol")
	}
	return v, nil
}

// addrTypes the tracer can decide from Node alone.
var addrTypes = map[string]func(p *packet, a netip.Addr) bool{
	"LOCAL": func(p *packet, a netip.Addr) bool { return p.node.isLocal(a) },
	"UNICAST": func(p *packet, a netip.Addr) bool {
		return !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	},
	"MULTICAST": func(p *packet, a netip.Addr) bool { return a.IsMulticast() },
}

func parseAddrTypes(v string) (any, error) {
	types := strings.Split(v, ",")
	for _, t := range types {
		if addrTypes[t] == nil {
			return nil, fmt.Errorf("address type %s not modelled", t)
		}
	}
	return types, nil
}

func (p *packet) hasAddrType(a netip.Addr, types []string) bool {
	return slices.ContainsFunc(types, func(t string) bool { return addrTypes[t](p, a) })
}

func parseList(v string) (any, error) {
	if v == "" {
		return nil, fmt.Errorf("empty list")
	}
	return strings.Split(v, ","), nil
}

func matchCTState(p *packet, v any) bool {
	return slices.ContainsFunc(v.([]string), p.hasCTState)
}

type markMask struct{ value, mask uint32 }

// parseMarkMask reads "0x4000/0x4000" or "0x4000" (mask all ones).
func parseMarkMask(v string) (any, error) {
	value, mask, hasMask := strings.Cut(v, "/")
	m := markMask{mask: 0xffffffff}
	var err error
	if m.value, err = parseUint32(value); err != nil {
		return nil, err
	}
	if hasMask {
		if m.mask, err = parseUint32(mask); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func parseUint32(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 0, 32)
	return uint32(v), err
}

type portRange struct{ lo, hi int32 }

// parsePortList reads "80", "80:90", "1000:" or a comma-separated list.
func parsePortList(v string) (any, error) {
	var out []portRange
	for _, s := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(s, ":")
		r := portRange{0, 65535}
		if lo != "" {
			n, err := strconv.ParseUint(lo, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("bad port %q", s)
			}
			r.lo = int32(n)
		}
		if !isRange {
			r.hi = r.lo
		} else if hi != "" {
			n, err := strconv.ParseUint(hi, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("bad port %q", s)
			}
			r.hi = int32(n)
		}
		out = append(out, r)
	}
	return out, nil
}

func matchDestinationPort(p *packet, v any) bool {
	return slices.ContainsFunc(v.([]portRange), func(r portRange) bool { return p.port >= r.lo && p.port <= r.hi })
}

func parseRandomMode(v string) (any, error) {
	if v != "random" {
		return nil, fmt.Errorf("statistic mode %s not modelled", v)
	}
	return nil, nil
}

func parseProbability(v string) (any, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return nil, fmt.Errorf("bad probability %q", v)
	}
	return f, nil
}

const tcpSYN = 0x02

var tcpFlagBits = map[string]uint8{"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20, "ECE": 0x40, "CWR": 0x80, "ALL": 0xff, "NONE": 0}

// parseTCPFlags reads "--tcp-flags <mask> <set>", e.g. "SYN,RST,ACK SYN".
func parseTCPFlags(v string) (any, error) {
	mask, set, ok := strings.Cut(v, " ")
	if !ok {
		return nil, fmt.Errorf("bad --tcp-flags %q", v)
	}
	var out [2]uint8
	for i, list := range []string{mask, set} {
		for _, f := range strings.Split(list, ",") {
			bit, ok := tcpFlagBits[f]
			if !ok {
				return nil, fmt.Errorf("bad TCP flag %q", f)
			}
			out[i] |= bit
		}
	}
	return out, nil
}
