package nodes

import (
	"fmt"
	"net/netip"
	"sync"
)

// IPAM hands out pod IPs from one node's pod CIDR, as the host-local IPAM
// plugin does for kindnet: .1 is the node's own address towards its pods,
// and allocation continues after the last address handed out, so that an
// address freed by a deleted pod is not given to the next pod at once
// (clients still holding it would reach the wrong pod).
type IPAM struct {
	mu    sync.Mutex
	cidr  netip.Prefix
	inUse map[netip.Addr]string // address → pod key
	byKey map[string]netip.Addr
	last  netip.Addr
}

// NewIPAM returns an allocator for a /24 (or larger) pod CIDR.
func NewIPAM(cidr netip.Prefix) *IPAM {
	return &IPAM{cidr: cidr, inUse: map[netip.Addr]string{}, byKey: map[string]netip.Addr{}, last: cidr.Addr().Next()}
}

// first and final usable addresses: .2 up to the one before broadcast.
func (a *IPAM) bounds() (netip.Addr, netip.Addr) {
	first := a.cidr.Addr().Next().Next()
	size := uint32(1) << (32 - a.cidr.Bits())
	return first, nth(a.cidr.Addr(), size-2)
}

// Allocate returns the pod's address: the one it already has, or want (its
// address before a restart) if that is free and in range, or the next free.
func (a *IPAM) Allocate(key string, want netip.Addr) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.byKey[key]; ok {
		return ip, nil
	}
	first, final := a.bounds()
	if want.IsValid() && a.cidr.Contains(want) && want.Compare(first) >= 0 && want.Compare(final) <= 0 && a.inUse[want] == "" {
		a.take(key, want)
		return want, nil
	}
	ip := a.last
	for i := 0; i < int(uint32(1)<<(32-a.cidr.Bits())); i++ {
		ip = ip.Next()
		if ip.Compare(final) > 0 || ip.Compare(first) < 0 {
			ip = first
		}
		if a.inUse[ip] == "" {
			a.take(key, ip)
			a.last = ip
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no free pod address left in %s", a.cidr)
}

func (a *IPAM) take(key string, ip netip.Addr) {
	a.inUse[ip] = key
	a.byKey[key] = ip
}

// Release frees the pod's address.
func (a *IPAM) Release(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.byKey[key]; ok {
		delete(a.inUse, ip)
		delete(a.byKey, key)
	}
}
