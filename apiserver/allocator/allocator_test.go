package allocator

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func TestIPRangeBasics(t *testing.T) {
	r, err := NewIPRange("10.96.0.0/12")
	if err != nil {
		t.Fatal(err)
	}
	if ip, _ := r.Nth(1); ip.String() != "10.96.0.1" {
		t.Errorf("Nth(1) = %s, want 10.96.0.1 (the kubernetes Service)", ip)
	}
	if ip, _ := r.Nth(10); ip.String() != "10.96.0.10" {
		t.Errorf("Nth(10) = %s, want 10.96.0.10 (kube-dns)", ip)
	}
	for ip, want := range map[string]bool{
		"10.96.0.0": false, "10.96.0.1": true, "10.111.255.254": true, "10.111.255.255": false, "10.112.0.1": false,
	} {
		if got := r.Contains(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", ip, got, want)
		}
	}
	err = r.Check(netip.MustParseAddr("10.0.0.5"), nil)
	if err == nil || err.Error() != "the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/12" {
		t.Errorf("Check outside range: %v", err)
	}
	if err := r.Check(netip.MustParseAddr("10.96.0.10"), inSet(map[netip.Addr]bool{netip.MustParseAddr("10.96.0.10"): true})); err != ErrAllocated {
		t.Errorf("Check taken: %v", err)
	}
	if _, err := NewIPRange("10.96.0.1/12"); err == nil || !strings.Contains(err.Error(), "10.96.0.0/12") {
		t.Errorf("host bits: %v", err)
	}
}

func TestIPAllocatePrefersUpperBandAndFillsUp(t *testing.T) {
	r, _ := NewIPRange("10.0.0.0/24") // 254 usable, static band 16 (.1-.16)
	rnd := rand.New(rand.NewPCG(1, 2))
	used := map[netip.Addr]bool{}
	for i := 0; i < 254; i++ {
		ip, err := r.Allocate(inSet(used), rnd)
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if used[ip] || !r.Contains(ip) {
			t.Fatalf("allocation %d returned %s (used=%v, contains=%v)", i, ip, used[ip], r.Contains(ip))
		}
		last := ip.As4()[3]
		if i < 254-16 && last <= 16 {
			t.Fatalf("allocation %d took %s from the static band while the upper band had room", i, ip)
		}
		used[ip] = true
	}
	if _, err := r.Allocate(inSet(used), rnd); err == nil || !strings.Contains(err.Error(), "range is full") {
		t.Fatalf("full range: %v", err)
	}
}

func TestPortRange(t *testing.T) {
	p, err := ParsePortRange("30000-32767")
	if err != nil || p.Base != 30000 || p.Size != 2768 || p.String() != "30000-32767" {
		t.Fatalf("ParsePortRange = %+v, %v", p, err)
	}
	if err := p.Check(40000, nil); err == nil || err.Error() != "provided port is not in the valid range. The range of valid ports is 30000-32767" {
		t.Errorf("Check out of range: %v", err)
	}
	if err := p.Check(30080, inSet(map[int32]bool{30080: true})); err == nil || err.Error() != "provided port is already allocated" {
		t.Errorf("Check taken: %v", err)
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	used := map[int32]bool{}
	for i := 0; i < int(p.Size); i++ {
		port, err := p.Allocate(inSet(used), rnd)
		if err != nil || used[port] || !p.Contains(port) {
			t.Fatalf("allocation %d: %d %v", i, port, err)
		}
		if i < int(p.Size)-86 && port < 30086 {
			t.Fatalf("allocation %d took static-band port %d early", i, port)
		}
		used[port] = true
	}
	if _, err := p.Allocate(inSet(used), rnd); err == nil {
		t.Fatal("expected a full range")
	}
	for _, bad := range []string{"", "3-2", "0-10", "30000-70000", "x"} {
		if _, err := ParsePortRange(bad); err == nil {
			t.Errorf("ParsePortRange(%q) accepted", bad)
		}
	}
}

func inSet[T comparable](m map[T]bool) func(T) bool { return func(v T) bool { return m[v] } }
