package loadbalancer

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// maxPoolSize bounds a pool: the controller keeps every address in memory,
// and a lab never needs more than a /16 worth of load balancers.
const maxPoolSize = 1 << 16

const poolExample = "give a range like 172.30.0.200-172.30.0.250 or a CIDR like 172.30.0.192/27"

// ParsePool reads a pool of load-balancer addresses: a range
// "172.30.0.200-172.30.0.250" (both ends included), a CIDR "172.30.0.192/27"
// (every address of it, network and broadcast included, as MetalLB does
// unless told to avoid them) or a single address.
func ParsePool(s string) ([]netip.Addr, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty load-balancer pool: %s", poolExample)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("invalid load-balancer pool %q: %s", s, fmt.Sprintf(format, args...))
	}
	var first, last netip.Addr
	switch {
	case strings.Contains(s, "/"):
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fail("not a CIDR; %s", poolExample)
		}
		if prefix.Addr().Zone() != "" || prefix.Addr().Is4In6() {
			return nil, fail("use a plain IPv4 or IPv6 CIDR; %s", poolExample)
		}
		if masked := prefix.Masked(); masked != prefix {
			return nil, fail("the address has bits set beyond the /%d; did you mean %s?", prefix.Bits(), masked)
		}
		if prefix.Addr().BitLen()-prefix.Bits() > 16 {
			return nil, fail("more than %d addresses; use a smaller CIDR (at most /%d)", maxPoolSize, prefix.Addr().BitLen()-16)
		}
		first, last = prefix.Addr(), lastOf(prefix)
	case strings.Contains(s, "-"):
		from, to, _ := strings.Cut(s, "-")
		var err error
		if first, err = parseAddr(strings.TrimSpace(from)); err != nil {
			return nil, fail("%v; %s", err, poolExample)
		}
		if last, err = parseAddr(strings.TrimSpace(to)); err != nil {
			return nil, fail("%v; %s", err, poolExample)
		}
		if first.Is4() != last.Is4() {
			return nil, fail("the range mixes IPv4 and IPv6; use two addresses of one family")
		}
		if last.Less(first) {
			return nil, fail("the range ends before it starts; write it as %s-%s", last, first)
		}
	default:
		addr, err := parseAddr(s)
		if err != nil {
			return nil, fail("%v; %s", err, poolExample)
		}
		first, last = addr, addr
	}
	var out []netip.Addr
	for a := first; ; a = a.Next() {
		if len(out) == maxPoolSize {
			return nil, fail("more than %d addresses; use a smaller range", maxPoolSize)
		}
		out = append(out, a)
		if a == last {
			return out, nil
		}
	}
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a, nil
}

// lastOf returns the highest address of a masked prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// pool is the set of addresses the controller hands out, in address order.
type pool struct {
	addrs []netip.Addr
	text  string // as the events name it: "172.30.0.200-172.30.0.250"
}

func newPool(addrs []netip.Addr) *pool {
	sorted := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a.IsValid() {
			sorted = append(sorted, a.Unmap())
		}
	}
	slices.SortFunc(sorted, netip.Addr.Compare)
	sorted = slices.Compact(sorted)
	return &pool{addrs: sorted, text: describe(sorted)}
}

func (p *pool) contains(a netip.Addr) bool {
	_, found := slices.BinarySearchFunc(p.addrs, a, netip.Addr.Compare)
	return found
}

func (p *pool) String() string { return p.text }

// describe writes sorted addresses as comma-separated ranges of consecutive
// addresses, the form ParsePool reads.
func describe(addrs []netip.Addr) string {
	if len(addrs) == 0 {
		return "(empty)"
	}
	var parts []string
	start := 0
	for i := 1; i <= len(addrs); i++ {
		if i < len(addrs) && addrs[i] == addrs[i-1].Next() {
			continue
		}
		if i-1 == start {
			parts = append(parts, addrs[start].String())
		} else {
			parts = append(parts, addrs[start].String()+"-"+addrs[i-1].String())
		}
		start = i
	}
	return strings.Join(parts, ",")
}
