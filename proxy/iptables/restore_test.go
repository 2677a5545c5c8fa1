package iptables

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// everyFeatureState extends the overall fixture with what it lacks: Local
// policies with local endpoints (KUBE-SVL), UDP and SCTP ports, an unnamed
// port, --random-fully, and the implicit LB-IP rules of KUBE-FW.
func everyFeatureState() *State {
	st := overallState()
	st.RandomFully = true
	etp := addService(st, portName("ns7", "etp-local", "http"), "172.30.0.47", 80, func(sp *ServicePort) {
		sp.NodePort = 3007
		sp.LoadBalancerIPs = addrs("9.10.11.12")
		sp.LoadBalancerSourceRanges = []netip.Prefix{prefix("192.168.0.0/24")}
		sp.ExternalPolicyLocal = true
		sp.HealthCheckNodePort = 30007
		sp.ClientIPAffinitySeconds = 60
	})
	st.Endpoints[etp.Name] = []Endpoint{ep("10.180.7.1:8080", testNodeName), ep("10.180.7.2:8080", "other")}
	itp := addService(st, portName("ns8", "itp-local", ""), "172.30.0.48", 8080, func(sp *ServicePort) { sp.InternalPolicyLocal = true })
	st.Endpoints[itp.Name] = []Endpoint{ep("10.180.8.1:8080", testNodeName), terminating("10.180.8.2:8080", testNodeName, true)}
	for _, p := range []corev1.Protocol{corev1.ProtocolUDP, corev1.ProtocolSCTP} {
		n := ServicePortName{Namespace: "kube-system", Name: "kube-dns", Port: "dns-" + strings.ToLower(string(p)), Protocol: p}
		addService(st, n, "172.30.0.10", 53)
		st.Endpoints[n] = []Endpoint{ep("10.180.9.1:53", ""), ep("10.180.9.2:53", ""), ep("10.180.9.3:53", testNodeName)}
	}
	return st
}

// xtables is one iptables implementation.
type xtables struct{ name, iptables, restore, save string }

// TestRestoreInNetworkNamespace loads the payloads into a throwaway network
// namespace with the real iptables-restore, both the nf_tables and the
// legacy backend, then reads them back with iptables-save. It never touches
// the host's own tables.
func TestRestoreInNetworkNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace and load iptables rules (run the tests as root)")
	}
	ns := fmt.Sprintf("mltest-ipt-%d", os.Getpid())
	run(t, nil, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
		if _, err := os.Stat("/run/netns/" + ns); !os.IsNotExist(err) {
			t.Errorf("network namespace %s still exists (stat: %v)", ns, err)
		}
	})

	for _, x := range []xtables{
		{"nf_tables", "iptables", "iptables-restore", "iptables-save"},
		{"legacy", "iptables-legacy", "iptables-legacy-restore", "iptables-legacy-save"},
	} {
		t.Run(x.name, func(t *testing.T) {
			in := func(args ...string) []string { return append([]string{"ip", "netns", "exec", ns}, args...) }

			st := everyFeatureState()
			first := Build(st, nil)
			checkRuleJumps(t, first.Payload)
			ensureJumps(t, in, x)
			run(t, first.Payload, in(x.restore, "-w", "5", "--noflush", "--counters")...)
			ensureJumps(t, in, x) // a second full sync must not duplicate them

			saved := run(t, nil, in(x.save)...)
			checkSaved(t, saved, first)
			for _, j := range JumpRules() {
				rule := "-A " + j.Chain + " " + strings.Join(quoteWords(j.Args), " ")
				if n := strings.Count(saved, "\n"+rule+"\n"); n != 1 {
					t.Errorf("jump rule %q appears %d times in iptables-save", rule, n)
				}
			}
			// iptables-save prints the mark back normalized.
			if !strings.Contains(saved, "-m mark ! --mark 0x4000/0x4000 -j RETURN") {
				t.Errorf("KUBE-POSTROUTING mark not found in\n%s", saved)
			}

			// Delete two services: their chains become stale and the next
			// sync removes them.
			delete(st.Services, portName("ns4", "svc4", "p80"))
			delete(st.Services, portName("ns7", "etp-local", "http"))
			natSave := run(t, nil, in(x.save, "-t", "nat")...)
			second := Build(st, StaleChains([]byte(natSave), nil))
			checkRuleJumps(t, second.Payload)
			run(t, second.Payload, in(x.restore, "-w", "5", "--noflush", "--counters")...)
			saved = run(t, nil, in(x.save)...)
			checkSaved(t, saved, second)
			for _, gone := range []string{"KUBE-SVC-4SW47YFZTEDKD3PK", "KUBE-EXT-4SW47YFZTEDKD3PK", "KUBE-SEP-UKSFD7AGPMPPLUHC",
				ServiceChainName("KUBE-FW-", portName("ns7", "etp-local", "http")), ServiceChainName("KUBE-SVL-", portName("ns7", "etp-local", "http"))} {
				if strings.Contains(saved, gone) {
					t.Errorf("stale chain %s survived the second sync", gone)
				}
			}
			if stale := StaleChains([]byte(run(t, nil, in(x.save, "-t", "nat")...)), second.NATChains); len(stale) != 0 {
				t.Errorf("stale chains after cleanup: %v", stale)
			}
		})
	}
}

// ensureJumps does what kube-proxy does on a full sync: create each target
// chain if missing, then insert the jump at the top unless `-C` finds it.
func ensureJumps(t *testing.T, in func(...string) []string, x xtables) {
	t.Helper()
	for _, j := range JumpRules() {
		if _, err := execute(nil, in(x.iptables, "-w", "5", "-t", j.Table, "-S", j.Target())...); err != nil {
			run(t, nil, in(x.iptables, "-w", "5", "-t", j.Table, "-N", j.Target())...)
		}
		check := append(in(x.iptables, "-w", "5", "-t", j.Table, "-C", j.Chain), j.Args...)
		if _, err := execute(nil, check...); err != nil {
			run(t, nil, append(in(x.iptables, "-w", "5", "-t", j.Table, "-I", j.Chain, "1"), j.Args...)...)
		}
	}
}

// checkSaved checks that every chain the payload declares is in the kernel
// and that the kernel holds exactly as many rules in kube-proxy's chains as
// the counts say.
func checkSaved(t *testing.T, saved string, r Rules) {
	t.Helper()
	counts := map[string]int{}
	declared := map[string]map[string]bool{}
	table := ""
	for _, line := range strings.Split(saved, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			declared[table] = map[string]bool{}
		case strings.HasPrefix(line, ":"):
			declared[table][strings.Fields(line[1:])[0]] = true
		case strings.HasPrefix(line, "-A KUBE-"):
			counts[table]++
		}
	}
	for tbl, chains := range chainsOf(t, string(r.Payload)) {
		for _, c := range chains[""] {
			if !declared[tbl][c] && !strings.Contains(string(r.Payload), "-X "+c+"\n") {
				t.Errorf("%s chain %s missing from iptables-save", tbl, c)
			}
		}
	}
	if counts["filter"] != r.FilterRules || counts["nat"] != r.NATRules {
		t.Errorf("iptables-save has %d filter and %d nat rules in KUBE- chains, Build counted %d and %d\n%s",
			counts["filter"], counts["nat"], r.FilterRules, r.NATRules, saved)
	}
}

// execute runs a command with a timeout and returns its combined output.
func execute(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// run runs a command and fails the test with its output if it fails.
func run(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, err := execute(stdin, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
