// Package allocator hands out Service cluster IPs from the service CIDR and
// node ports from the node-port range, the way kube-apiserver's allocators do.
//
// The allocators keep no state of their own: the caller says which values
// are in use (the API server indexes the stored Services), so an allocation
// survives restarts simply because the Services do.
//
// Like kube-apiserver (KEP-3070 and KEP-3668), each range is split into a
// small lower "static" band, which dynamic allocation only uses once the upper
// band is full, so that addresses people pick by hand (the DNS service's .10,
// a documented nodePort) rarely collide with ones handed out automatically.
package allocator

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"
)

// ErrFull means every value in the range is in use.
var ErrFull = errors.New("range is full")

// ErrAllocated means the requested value is already in use.
var ErrAllocated = errors.New("provided IP is already allocated")

// IPRange is the service CIDR.
type IPRange struct {
	prefix netip.Prefix
	size   uint64 // usable addresses: network and broadcast excluded for IPv4
}

// NewIPRange parses a service CIDR such as "10.96.0.0/12".
func NewIPRange(cidr string) (*IPRange, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("invalid service CIDR %q: %v", cidr, err)
	}
	if p != p.Masked() {
		return nil, fmt.Errorf("invalid service CIDR %q: host bits set (did you mean %s?)", cidr, p.Masked())
	}
	bits := p.Addr().BitLen() - p.Bits()
	if bits > 62 {
		bits = 62 // a /64 or larger IPv6 range: the first 2^62 addresses are plenty
	}
	size := uint64(1) << bits
	if p.Addr().Is4() {
		if size < 4 {
			return nil, fmt.Errorf("service CIDR %q is too small", cidr)
		}
		size -= 2
	} else {
		size--
	}
	return &IPRange{prefix: p, size: size}, nil
}

// String returns the CIDR.
func (r *IPRange) String() string { return r.prefix.String() }

// Prefix returns the CIDR.
func (r *IPRange) Prefix() netip.Prefix { return r.prefix }

// Contains says whether ip is an allocatable address of the range.
func (r *IPRange) Contains(ip netip.Addr) bool {
	if !r.prefix.Contains(ip) {
		return false
	}
	off := offset(r.prefix.Addr(), ip)
	return off >= 1 && off <= r.size
}

// Nth returns the n-th usable address (1-based): Nth(1) is the `kubernetes`
// Service's address, Nth(10) the one kubeadm gives kube-dns.
func (r *IPRange) Nth(n uint64) (netip.Addr, error) {
	if n < 1 || n > r.size {
		return netip.Addr{}, fmt.Errorf("service CIDR %s has no address number %d", r.prefix, n)
	}
	return add(r.prefix.Addr(), n), nil
}

// staticBand is how many low addresses dynamic allocation leaves for last:
// 1/16 of the range, at least 16 and at most 256 (kube-apiserver's values).
func (r *IPRange) staticBand() uint64 {
	return band(r.size, 16, 256, 16)
}

// Allocate picks a free address at random, from the upper band first.
func (r *IPRange) Allocate(inUse func(netip.Addr) bool, rnd *rand.Rand) (netip.Addr, error) {
	n, err := pick(r.size, r.staticBand(), func(i uint64) bool { return inUse(add(r.prefix.Addr(), i)) }, rnd)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("failed to allocate a serviceIP: %w", err)
	}
	return add(r.prefix.Addr(), n), nil
}

// Check validates a requested address: inside the range and not in use. The
// error texts are kube-apiserver's.
func (r *IPRange) Check(ip netip.Addr, inUse func(netip.Addr) bool) error {
	if !r.Contains(ip) {
		return fmt.Errorf("the provided IP (%s) is not in the valid range. The range of valid IPs is %s", ip, r.prefix)
	}
	if inUse(ip) {
		return ErrAllocated
	}
	return nil
}

// PortRange is the node-port range, 30000-32767 by default.
type PortRange struct {
	Base int32
	Size int32
}

// ParsePortRange parses "30000-32767".
func ParsePortRange(s string) (PortRange, error) {
	var lo, hi int32
	if _, err := fmt.Sscanf(s, "%d-%d", &lo, &hi); err != nil || lo < 1 || hi > 65535 || hi < lo {
		return PortRange{}, fmt.Errorf("invalid port range %q: want LOW-HIGH within 1-65535, e.g. 30000-32767", s)
	}
	return PortRange{Base: lo, Size: hi - lo + 1}, nil
}

// String returns "30000-32767".
func (p PortRange) String() string { return fmt.Sprintf("%d-%d", p.Base, p.Base+p.Size-1) }

// Contains says whether port lies in the range.
func (p PortRange) Contains(port int32) bool { return port >= p.Base && port < p.Base+p.Size }

// Allocate picks a free port at random, from the upper band first (the lower
// 1/32 of the range, 16 to 128 ports, is left for ports chosen by hand).
func (p PortRange) Allocate(inUse func(int32) bool, rnd *rand.Rand) (int32, error) {
	size := uint64(p.Size)
	n, err := pick(size, band(size, 16, 128, 32), func(i uint64) bool { return inUse(p.Base + int32(i) - 1) }, rnd)
	if err != nil {
		return 0, fmt.Errorf("failed to allocate a nodePort: %w", err)
	}
	return p.Base + int32(n) - 1, nil
}

// Check validates a requested node port, with kube-apiserver's messages.
func (p PortRange) Check(port int32, inUse func(int32) bool) error {
	if !p.Contains(port) {
		return fmt.Errorf("provided port is not in the valid range. The range of valid ports is %s", p)
	}
	if inUse(port) {
		return errors.New("provided port is already allocated")
	}
	return nil
}

// band computes the size of the static band of a range of size values.
func band(size, min, max, step uint64) uint64 {
	if size < min {
		return 0
	}
	b := size / step
	if b < min {
		b = min
	}
	if b > max {
		b = max
	}
	return b
}

// pick returns a free index in [1, size]: a random one in (static, size]
// first, then in [1, static]. Each band is scanned from a random start, so a
// nearly full range still allocates in one pass.
func pick(size, static uint64, inUse func(uint64) bool, rnd *rand.Rand) (uint64, error) {
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	scan := func(lo, hi uint64) (uint64, bool) { // inclusive bounds
		if hi < lo {
			return 0, false
		}
		n := hi - lo + 1
		start := rnd.Uint64N(n)
		for i := uint64(0); i < n; i++ {
			v := lo + (start+i)%n
			if !inUse(v) {
				return v, true
			}
		}
		return 0, false
	}
	if v, ok := scan(static+1, size); ok {
		return v, nil
	}
	if v, ok := scan(1, static); ok {
		return v, nil
	}
	return 0, ErrFull
}

func offset(base, ip netip.Addr) uint64 {
	b := new(big.Int).SetBytes(base.AsSlice())
	i := new(big.Int).SetBytes(ip.AsSlice())
	return new(big.Int).Sub(i, b).Uint64()
}

func add(base netip.Addr, n uint64) netip.Addr {
	v := new(big.Int).SetBytes(base.AsSlice())
	v.Add(v, new(big.Int).SetUint64(n))
	buf := v.FillBytes(make([]byte, len(base.AsSlice())))
	ip, _ := netip.AddrFromSlice(buf)
	return ip
}
