package nodes

import (
	"net/netip"
	"testing"
)

func TestIPAMDoesNotReuseAtOnceAndKeepsAddresses(t *testing.T) {
	a := NewIPAM(netip.MustParsePrefix("10.244.1.0/24"))
	p1, _ := a.Allocate("default/a", netip.Addr{})
	p2, _ := a.Allocate("default/b", netip.Addr{})
	if p1.String() != "10.244.1.2" || p2.String() != "10.244.1.3" {
		t.Fatalf("first addresses: %s %s (want .2 and .3; .1 is the node's)", p1, p2)
	}
	if again, _ := a.Allocate("default/a", netip.Addr{}); again != p1 {
		t.Fatalf("a pod's second allocation changed its address: %s", again)
	}
	a.Release("default/a")
	if p3, _ := a.Allocate("default/c", netip.Addr{}); p3.String() != "10.244.1.4" {
		t.Fatalf("a freed address was reused at once: %s", p3)
	}
	// After a restart a pod gets its old address back when it is free.
	if got, _ := a.Allocate("default/d", netip.MustParseAddr("10.244.1.77")); got.String() != "10.244.1.77" {
		t.Fatalf("wanted address not honoured: %s", got)
	}
	if got, _ := a.Allocate("default/e", netip.MustParseAddr("10.244.1.77")); got.String() == "10.244.1.77" {
		t.Fatal("an address in use was given twice")
	}
	if got, _ := a.Allocate("default/f", netip.MustParseAddr("10.244.1.1")); got.String() == "10.244.1.1" {
		t.Fatal("the node's own address was given to a pod")
	}
	// Fill the range: 253 usable addresses (.2-.254).
	b := NewIPAM(netip.MustParsePrefix("10.244.2.0/24"))
	seen := map[netip.Addr]bool{}
	for i := 0; i < 253; i++ {
		ip, err := b.Allocate(string(rune('a'+i%26))+string(rune(i)), netip.Addr{})
		if err != nil || seen[ip] || ip.As4()[3] < 2 || ip.As4()[3] > 254 {
			t.Fatalf("allocation %d: %s %v", i, ip, err)
		}
		seen[ip] = true
	}
	if _, err := b.Allocate("one-too-many", netip.Addr{}); err == nil {
		t.Fatal("a full range allocated")
	}
}
