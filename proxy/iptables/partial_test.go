package iptables

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/minilab/minilab/proxy/iptables/tracer"
)

// partialStep is one change to a node's services, and the service ports a
// proxier would mark changed for it.
type partialStep struct {
	name    string
	change  func(st *State)
	changed []ServicePortName
}

var (
	svc1Name     = portName("ns1", "svc1", "p80")
	svc4Name     = portName("ns4", "svc4", "p80")
	etpLocalName = portName("ns7", "etp-local", "http")
	lbPlainName  = portName("ns9", "lb-plain", "http")
	newSvcName   = portName("ns11", "new", "http")
)

// partialSteps run one after the other on traceFixture.
var partialSteps = []partialStep{
	{"endpoint added", func(st *State) {
		st.Endpoints[svc4Name] = append(st.Endpoints[svc4Name], ep("10.180.0.6:80", "other"))
	}, []ServicePortName{svc4Name}},
	{"service deleted", func(st *State) {
		delete(st.Services, svc4Name)
		delete(st.Endpoints, svc4Name)
	}, []ServicePortName{svc4Name}},
	{"service added", func(st *State) {
		addService(st, newSvcName, "172.30.0.51", 80, func(sp *ServicePort) {
			sp.NodePort = 3011
			sp.LoadBalancerIPs = addrs("9.9.9.11")
			sp.LoadBalancerSourceRanges = []netip.Prefix{prefix("203.0.113.0/25")}
		})
		st.Endpoints[newSvcName] = []Endpoint{ep("10.180.12.1:80", testNodeName), ep("10.180.12.2:80", "other")}
	}, []ServicePortName{newSvcName}},
	{"eTP Local: KUBE-SVL appears", func(st *State) {
		st.Services[lbPlainName].ExternalPolicyLocal = true
		st.Services[lbPlainName].HealthCheckNodePort = 30009
	}, []ServicePortName{lbPlainName}},
	{"eTP Cluster: KUBE-SVL disappears", func(st *State) {
		st.Services[etpLocalName].ExternalPolicyLocal = false
		st.Services[etpLocalName].HealthCheckNodePort = 0
	}, []ServicePortName{etpLocalName}},
	{"last endpoint removed: chains go, REJECT comes", func(st *State) {
		delete(st.Endpoints, svc1Name)
	}, []ServicePortName{svc1Name}},
	{"endpoint back", func(st *State) {
		st.Endpoints[svc1Name] = []Endpoint{ep("10.180.0.1:80", "")}
	}, []ServicePortName{svc1Name}},
	{"nothing changed", func(*State) {}, nil},
}

// buildPartialSync builds a partial sync the way a proxier does: once to
// learn the chains in use, then again to delete those of the previous sync
// that are no longer used.
func buildPartialSync(st *State, previous []string, changed []ServicePortName) Rules {
	set := map[ServicePortName]bool{}
	for _, n := range changed {
		set[n] = true
	}
	r := BuildPartial(st, nil, set)
	if stale := unusedChains(previous, r.NATChains); len(stale) > 0 {
		r = BuildPartial(st, stale, set)
	}
	return r
}

func unusedChains(before, now []string) []string {
	inUse := make(map[string]bool, len(now))
	for _, c := range now {
		inUse[c] = true
	}
	var out []string
	for _, c := range before {
		if !inUse[c] && OwnedChain(c) {
			out = append(out, c)
		}
	}
	return out
}

// TestPartialSync loads a full sync into an emulated kernel, then applies
// one partial sync per change, and checks after each that the kernel holds
// exactly what a full sync of the new state gives, and that the counts
// describe the whole ruleset.
func TestPartialSync(t *testing.T) {
	st := traceFixture()
	full := Build(st, nil)
	kernel := newTracer(t, testLocalIPs, full.Payload)
	previous := full.NATChains
	for _, step := range partialSteps {
		t.Run(step.name, func(t *testing.T) {
			step.change(st)
			partial := buildPartialSync(st, previous, step.changed)
			if err := kernel.restore(partial.Payload); err != nil {
				t.Fatalf("partial restore: %v\n%s", err, partial.Payload)
			}
			previous = partial.NATChains

			want := Build(st, nil)
			fresh := newTracer(t, testLocalIPs, want.Payload)
			if got, want := string(kernel.rs.Save()), string(fresh.rs.Save()); got != want {
				t.Errorf("after the partial sync the kernel holds\n%s\nwant (full sync)\n%s", got, want)
			}
			if !partial.Partial || want.Partial {
				t.Errorf("Partial = %v for BuildPartial, %v for Build", partial.Partial, want.Partial)
			}
			if partial.NATRules != want.NATRules || partial.FilterRules != want.FilterRules {
				t.Errorf("counts %d nat / %d filter, full sync %d / %d", partial.NATRules, partial.FilterRules, want.NATRules, want.FilterRules)
			}
			if want.NATRulesWritten != want.NATRules || partial.NATRulesWritten >= partial.NATRules {
				t.Errorf("written %d of %d (full: %d of %d)", partial.NATRulesWritten, partial.NATRules, want.NATRulesWritten, want.NATRules)
			}
			if written := strings.Count(string(partial.Payload[strings.Index(string(partial.Payload), "*nat"):]), "\n-A "); written != partial.NATRulesWritten {
				t.Errorf("payload holds %d nat rules, NATRulesWritten = %d", written, partial.NATRulesWritten)
			}
			if got, want := sortedCopy(partial.NATChains), sortedCopy(want.NATChains); !slices.Equal(got, want) {
				t.Errorf("NATChains %v, full sync %v", got, want)
			}
			// Only the changed service ports' chains are declared.
			for _, line := range strings.Split(string(partial.Payload), "\n") {
				if name, ok := strings.CutPrefix(line, ":"); ok && OwnedChain(strings.Fields(name)[0]) {
					c := strings.Fields(name)[0]
					if !chainOfAny(c, step.changed, st) && !slices.Contains(unusedChains(full.NATChains, want.NATChains), c) && !isStale(partial.Payload, c) {
						t.Errorf("partial sync declares %s, which belongs to no changed service port", c)
					}
				}
			}
		})
	}
}

// chainOfAny reports whether c is a SVC/SVL/EXT/FW chain of one of names,
// or a SEP chain of one of their endpoints.
func chainOfAny(c string, names []ServicePortName, st *State) bool {
	for _, n := range names {
		for _, prefix := range []string{"KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-"} {
			if c == ServiceChainName(prefix, n) {
				return true
			}
		}
		for _, e := range st.Endpoints[n] {
			if c == EndpointChainName(n, e.String()) {
				return true
			}
		}
	}
	return false
}

func isStale(payload []byte, c string) bool { return strings.Contains(string(payload), "\n-X "+c+"\n") }

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestPartialSyncNeedsChangedServices shows why the caller must mark every
// changed service port: a service added but not marked would leave
// KUBE-SERVICES jumping to chains that exist nowhere, and the restore fails
// (which kube-proxy answers with a full sync).
func TestPartialSyncNeedsChangedServices(t *testing.T) {
	st := traceFixture()
	kernel := newTracer(t, testLocalIPs, Build(st, nil).Payload)
	addService(st, newSvcName, "172.30.0.51", 80)
	st.Endpoints[newSvcName] = []Endpoint{ep("10.180.12.1:80", "")}
	unmarked := BuildPartial(st, nil, map[ServicePortName]bool{})
	err := kernel.rs.Restore(unmarked.Payload)
	if err == nil || !strings.Contains(err.Error(), "dangling jump") {
		t.Fatalf("restore of a partial sync missing a new service: %v", err)
	}
	// The failed restore left the nat table as it was; a full sync repairs it.
	if kernel.rs.HasChain("nat", ServiceChainName("KUBE-SVC-", newSvcName)) {
		t.Error("failed restore changed the nat table")
	}
	if err := kernel.restore(Build(st, nil).Payload); err != nil {
		t.Fatal(err)
	}
}

// TestBuildPartialNilIsBuild: changed == nil is a full sync.
func TestBuildPartialNilIsBuild(t *testing.T) {
	st := traceFixture()
	full, partial := Build(st, []string{"KUBE-SVC-GONE"}), BuildPartial(st, []string{"KUBE-SVC-GONE"}, nil)
	if string(full.Payload) != string(partial.Payload) || partial.Partial || full.NATRules != partial.NATRules || full.NATRulesWritten != full.NATRules {
		t.Error("BuildPartial(st, stale, nil) differs from Build")
	}
	// Every rule is in the payload on a full sync.
	if got := strings.Count(string(full.Payload[strings.Index(string(full.Payload), "*nat"):]), "\n-A "); got != full.NATRulesWritten {
		t.Errorf("payload holds %d nat rules, NATRulesWritten = %d", got, full.NATRulesWritten)
	}
}

// TestPartialSyncTraces: packets behave the same after a partial sync as
// after a full one (the Save comparison above is the strict check; this one
// shows it in terms of a packet).
func TestPartialSyncTraces(t *testing.T) {
	st := traceFixture()
	kernel := newTracer(t, testLocalIPs, Build(st, nil).Payload)
	previous := Build(st, nil).NATChains
	st.Endpoints[svc4Name] = append(st.Endpoints[svc4Name], ep("10.180.0.6:80", "other"))
	if err := kernel.restore(buildPartialSync(st, previous, []ServicePortName{svc4Name}).Payload); err != nil {
		t.Fatal(err)
	}
	got, err := kernel.rs.Trace(kernel.node, tracer.Packet{Source: addr("10.0.0.2"), Destination: addr("172.30.0.44"), Port: 80, From: tracer.FromPod})
	if err != nil {
		t.Fatal(err)
	}
	const third, rest = 0.3333333333, (1 - 0.3333333333) / 2
	checkOutcomes(t, got, []outcomeWant{
		{"10.180.0.4:80", third, false, "ACCEPT", ""}, {"10.180.0.5:80", rest, false, "ACCEPT", ""}, {"10.180.0.6:80", rest, false, "ACCEPT", ""},
	})
}
