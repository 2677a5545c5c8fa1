package iptables

import (
	"math"
	"strings"
	"testing"

	"github.com/minilab/minilab/proxy/iptables/tracer"
)

// TestTraceRealIPTablesSave loads a Build payload, the jump rules and the
// canaries into a throwaway network namespace with the real
// iptables-restore, parses what iptables-save prints back, and checks that
// every packet of TestTraceFeatures has the same outcomes there as on the
// payload itself: same endpoints, masquerading and verdicts, probabilities
// equal to the kernel's precision (it stores 1/3 as 0.33333333349), and the
// same walk through the chains.
func TestTraceRealIPTablesSave(t *testing.T) {
	requireRoot(t)
	st := traceFixture()
	payload := Build(st, nil).Payload
	emulated := newTracer(t, testLocalIPs, payload)
	for _, x := range backends {
		t.Run(x.name, func(t *testing.T) {
			node := newNetns(t, x)
			node.restore(t, payload)
			node.restore(t, jumpPayload(newTracer(t, testLocalIPs, payload).rs))
			saved := node.saved(t)
			for _, p := range traceFeaturePackets() {
				want, err := emulated.rs.Trace(emulated.node, p)
				if err != nil {
					t.Fatal(err)
				}
				got, err := saved.Trace(emulated.node, p)
				if err != nil {
					t.Fatal(err)
				}
				compareOutcomes(t, p, got, want)
			}
		})
	}
}

// traceFeaturePackets are the packets of TestTraceFeatures.
func traceFeaturePackets() []tracer.Packet {
	var out []tracer.Packet
	for _, c := range traceFeatureCases() {
		out = append(out, c.packet())
	}
	return out
}

func compareOutcomes(t *testing.T, p tracer.Packet, got, want []tracer.Outcome) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d outcomes on iptables-save, %d on the payload", p, len(got), len(want))
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Endpoint != w.Endpoint || g.Masquerade != w.Masquerade || g.Verdict != w.Verdict ||
			(g.VerdictRule == "") != (w.VerdictRule == "") || math.Abs(g.Probability-w.Probability) > 1e-9 ||
			strings.Join(walk(g.Path), " ") != strings.Join(walk(w.Path), " ") {
			t.Errorf("%s: outcome %d on iptables-save:\n%s\non the payload:\n%s", p, i, g.Explain(), w.Explain())
		}
	}
}

// walk is the sequence of chains and hooks of a Path, which does not depend
// on how iptables-save normalizes the rules' text.
func walk(path []string) []string {
	out := make([]string, len(path))
	for i, s := range path {
		out[i], _, _ = strings.Cut(s, ":")
	}
	return out
}
