package iptables

import (
	"testing"
)

// TestPartialSyncInNetworkNamespace replays TestPartialSync against the
// real iptables-restore, both backends: after a full sync and each partial
// sync, `iptables-save` of the node must equal what a fresh node shows after
// a full sync of the same state.
func TestPartialSyncInNetworkNamespace(t *testing.T) {
	requireRoot(t)
	for _, x := range backends {
		t.Run(x.name, func(t *testing.T) {
			st := traceFixture()
			full := Build(st, nil)
			node := newNetns(t, x)
			emulated := newTracer(t, testLocalIPs, full.Payload)
			node.restore(t, full.Payload)
			node.restore(t, jumpPayload(newTracer(t, testLocalIPs).rs))
			previous := full.NATChains
			for _, step := range partialSteps {
				step.change(st)
				partial := buildPartialSync(st, previous, step.changed)
				node.restore(t, partial.Payload)
				previous = partial.NATChains

				want := Build(st, nil)
				fresh := newNetns(t, x)
				fresh.restore(t, want.Payload)
				fresh.restore(t, jumpPayload(newTracer(t, testLocalIPs).rs))
				if got, want := string(node.saved(t).Save()), string(fresh.saved(t).Save()); got != want {
					t.Errorf("%s: iptables-save after the partial sync:\n%s\nafter a full sync:\n%s", step.name, got, want)
				}
				if err := emulated.restore(partial.Payload); err != nil {
					t.Errorf("%s: the emulated kernel refused what the real one took: %v", step.name, err)
				}
			}
		})
	}
}
