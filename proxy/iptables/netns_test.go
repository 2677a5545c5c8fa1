package iptables

import (
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"

	"github.com/minilab/minilab/proxy/iptables/tracer"
)

// backends are the iptables implementations on PATH: nf_tables (Debian's
// default `iptables`) and legacy.
var backends = []xtables{
	{"nf_tables", "iptables", "iptables-restore", "iptables-save"},
	{"legacy", "iptables-legacy", "iptables-legacy-restore", "iptables-legacy-save"},
}

var netnsCount atomic.Int32

// throwawayNetns is a throwaway network namespace with its own, empty tables; the
// host's are never touched.
type throwawayNetns struct {
	name string
	x    xtables
}

// newNetns creates a network namespace, deleted when the test ends. It
// needs root; the tests calling it skip otherwise.
func newNetns(t testing.TB, x xtables) *throwawayNetns {
	t.Helper()
	n, err := createNetns(x)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.delete(); err != nil {
			t.Error(err)
		}
	})
	return n
}

func createNetns(x xtables) (*throwawayNetns, error) {
	name := fmt.Sprintf("mltest-ipt-%d-%d", os.Getpid(), netnsCount.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	return &throwawayNetns{name: name, x: x}, nil
}

func (n *throwawayNetns) delete() error {
	if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", n.name, err, out)
	}
	return nil
}

func (n *throwawayNetns) in(args ...string) []string {
	return append([]string{"ip", "netns", "exec", n.name}, args...)
}

// restore runs iptables-restore with the proxier's flags.
func (n *throwawayNetns) restore(t testing.TB, payload []byte) {
	t.Helper()
	if out, err := execute(payload, n.in(n.x.restore, "-w", "5", "--noflush", "--counters")...); err != nil {
		t.Fatalf("%s: %v\n%s", n.x.restore, err, out)
	}
}

// saved parses what iptables-save prints: counters and the order of chains
// and rules of different chains are normalized by tracer's Save.
func (n *throwawayNetns) saved(t testing.TB) *tracer.Ruleset {
	t.Helper()
	out, err := execute(nil, n.in(n.x.save)...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", n.x.save, err, out)
	}
	rs, err := tracer.Parse([]byte(out))
	if err != nil {
		t.Fatalf("parse %s output: %v\n%s", n.x.save, err, out)
	}
	return rs
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace and load iptables rules (run the tests as root)")
	}
}
