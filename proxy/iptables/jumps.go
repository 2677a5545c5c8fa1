package iptables

import (
	"bufio"
	"bytes"
	"sort"
	"strings"
)

// JumpRule is one rule that hooks a kube-proxy chain into a built-in chain,
// as iptables arguments: `iptables -t <Table> -C|-I <Chain> <Args...>`.
type JumpRule struct {
	Table, Chain string
	Args         []string
}

// Target is the chain the rule jumps to (the chain must exist before the
// rule can be inserted; kube-proxy runs "ensure chain" first).
func (j JumpRule) Target() string {
	for i := len(j.Args) - 2; i >= 0; i-- {
		if j.Args[i] == "-j" {
			return j.Args[i+1]
		}
	}
	return ""
}

// jumpSpec is one row of kube-proxy's jump table.
type jumpSpec struct {
	table, from, to, comment string
	newOnly                  bool // only for connections conntrack has not seen (-m conntrack --ctstate NEW)
}

// jumpSpecs lists the jumps in the order kube-proxy ensures them on a full
// sync. Each is inserted at position 1 if missing, so in the built-in chain
// the last one ends up first. These are the only rules kube-proxy writes
// with plain iptables: it must not own (and so restore) the whole built-in
// chain, which other software shares.
var jumpSpecs = []jumpSpec{
	{"filter", "INPUT", kubeExternalServicesChain, "kubernetes externally-visible service portals", true},
	{"filter", "FORWARD", kubeExternalServicesChain, "kubernetes externally-visible service portals", true},
	{"filter", "INPUT", kubeNodePortsChain, "kubernetes health check service ports", false},
	{"filter", "FORWARD", kubeServicesChain, "kubernetes service portals", true},
	{"filter", "OUTPUT", kubeServicesChain, "kubernetes service portals", true},
	{"filter", "FORWARD", kubeForwardChain, "kubernetes forwarding rules", false},
	{"filter", "INPUT", kubeProxyFirewallChain, "kubernetes load balancer firewall", true},
	{"filter", "OUTPUT", kubeProxyFirewallChain, "kubernetes load balancer firewall", true},
	{"filter", "FORWARD", kubeProxyFirewallChain, "kubernetes load balancer firewall", true},
	{"nat", "OUTPUT", kubeServicesChain, "kubernetes service portals", false},
	{"nat", "PREROUTING", kubeServicesChain, "kubernetes service portals", false},
	{"nat", "POSTROUTING", kubePostroutingChain, "kubernetes postrouting rules", false},
	// Copies of kubelet's own jumps to its anti-martian chain (no comment).
	{"filter", "INPUT", kubeletFirewallChain, "", false},
	{"filter", "OUTPUT", kubeletFirewallChain, "", false},
}

// JumpRules returns the jump rules from the built-in chains to kube-proxy's
// top-level chains, in the order kube-proxy ensures them (check with -C,
// insert with -I at the top when missing). The caller creates each Target
// chain first if it does not exist (KUBE-FIREWALL may be empty).
func JumpRules() []JumpRule {
	out := make([]JumpRule, 0, len(jumpSpecs))
	for _, s := range jumpSpecs {
		var args []string
		if s.newOnly {
			args = append(args, "-m", "conntrack", "--ctstate", "NEW")
		}
		if s.comment != "" {
			args = append(args, "-m", "comment", "--comment", s.comment)
		}
		args = append(args, "-j", s.to)
		out = append(out, JumpRule{Table: s.table, Chain: s.from, Args: args})
	}
	return out
}

// StaleChains parses `iptables-save -t nat` output and returns the
// kube-proxy-owned chains (see OwnedChain) that are not in active, sorted.
// Pass the result to the next Build, which deletes them.
func StaleChains(saveOutput []byte, active []string) []string {
	keep := make(map[string]bool, len(active))
	for _, c := range active {
		keep[c] = true
	}
	var stale []string
	inNAT := true // `iptables-save -t nat` prints only *nat; be tolerant of a full dump
	sc := bufio.NewScanner(bytes.NewReader(saveOutput))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			inNAT = line == "*nat"
		case inNAT && strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			if OwnedChain(name) && !keep[name] {
				keep[name] = true
				stale = append(stale, name)
			}
		}
	}
	sort.Strings(stale)
	return stale
}
