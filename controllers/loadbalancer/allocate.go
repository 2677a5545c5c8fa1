package loadbalancer

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// claimant is what the allocation rules need to know of one Service that
// takes part in sharing the pool.
type claimant struct {
	key     string // namespace/name
	created time.Time
	// holds lists the pool addresses the Service occupies: the one this
	// controller last gave it (its write may not be in the informer cache
	// yet), then those its status.loadBalancer.ingress shows.
	holds []netip.Addr
	// requested is spec.loadBalancerIP as written ("" when unset).
	requested string
	// competes is false for a Service that no longer wants a load balancer
	// but still holds its address until the controller has released it.
	competes bool
}

// olderThan orders claims first come, first served: by creationTimestamp,
// whose resolution is a second, then by namespace/name.
func (c *claimant) olderThan(o *claimant) bool {
	if !c.created.Equal(o.created) {
		return c.created.Before(o.created)
	}
	return c.key < o.key
}

func (c *claimant) holdsAddr(a netip.Addr) bool { return slices.Contains(c.holds, a) }

// request returns the requested address if it is one.
func (c *claimant) request() (netip.Addr, bool) {
	a, err := netip.ParseAddr(c.requested)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// choose picks svc's address given the other claimants, or says why there
// is none. The rules, in order:
//
//  1. spec.loadBalancerIP, when set, is the only acceptable address: it must
//     be in the pool, not held by another Service (holding beats asking) and
//     not requested by an older one;
//  2. an address the Service already holds stays its own, unless an older
//     Service holds it too (two statuses naming one address can only come
//     from hand edits; the older keeps it);
//  3. otherwise the lowest address nobody holds or requests, skipping one
//     for each older Service still waiting for an address, so that
//     addresses go out in creation order whatever order the work queue
//     syncs Services in.
func (p *pool) choose(svc *claimant, others []*claimant) (netip.Addr, error) {
	if svc.requested != "" {
		return p.chooseRequested(svc, others)
	}
	for _, a := range svc.holds {
		if p.contains(a) && blockingHolder(a, svc, others) == nil {
			return a, nil
		}
	}
	return p.chooseFree(svc, others)
}

func (p *pool) chooseRequested(svc *claimant, others []*claimant) (netip.Addr, error) {
	a, ok := svc.request()
	if !ok {
		return netip.Addr{}, fmt.Errorf("spec.loadBalancerIP %q is not an IP address", svc.requested)
	}
	if !p.contains(a) {
		return netip.Addr{}, fmt.Errorf("requested loadBalancerIP %s is not in pool %s", a, p)
	}
	if holder := blockingHolder(a, svc, others); holder != nil {
		return netip.Addr{}, fmt.Errorf("requested loadBalancerIP %s is already in use by service %s", a, holder.key)
	}
	if !svc.holdsAddr(a) {
		for _, o := range others {
			if r, ok := o.request(); o.competes && ok && r == a && o.olderThan(svc) {
				return netip.Addr{}, fmt.Errorf("requested loadBalancerIP %s is also requested by service %s, which came first", a, o.key)
			}
		}
	}
	return a, nil
}

// blockingHolder returns another claimant whose hold on a beats svc's: any
// holder if svc does not hold a, an older one if it does.
func blockingHolder(a netip.Addr, svc *claimant, others []*claimant) *claimant {
	mine := svc.holdsAddr(a)
	for _, o := range others {
		if o.holdsAddr(a) && (!mine || o.olderThan(svc)) {
			return o
		}
	}
	return nil
}

func (p *pool) chooseFree(svc *claimant, others []*claimant) (netip.Addr, error) {
	taken := map[netip.Addr]bool{}
	ahead := 0
	for _, o := range others {
		for _, a := range o.holds {
			taken[a] = true
		}
		r, requests := o.request()
		if requests && o.competes {
			taken[r] = true
		}
		if o.competes && len(o.holds) == 0 && o.requested == "" && o.olderThan(svc) {
			ahead++
		}
	}
	for _, a := range p.addrs {
		if taken[a] {
			continue
		}
		if ahead == 0 {
			return a, nil
		}
		ahead--
	}
	return netip.Addr{}, fmt.Errorf("no available IPs in pool %s", p)
}
