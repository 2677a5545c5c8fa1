package iptables

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// Top-level chains kube-proxy owns. They are always declared, so every full
// sync rewrites them completely.
const (
	kubeServicesChain         = "KUBE-SERVICES"
	kubeExternalServicesChain = "KUBE-EXTERNAL-SERVICES"
	kubeNodePortsChain        = "KUBE-NODEPORTS"
	kubePostroutingChain      = "KUBE-POSTROUTING"
	kubeMarkMasqChain         = "KUBE-MARK-MASQ"
	kubeForwardChain          = "KUBE-FORWARD"
	kubeProxyFirewallChain    = "KUBE-PROXY-FIREWALL"
	kubeProxyCanaryChain      = "KUBE-PROXY-CANARY"
	// kubeletFirewallChain duplicates kubelet's chain holding the
	// anti-martian rule for localhost NodePorts (CVE-2020-8558).
	kubeletFirewallChain = "KUBE-FIREWALL"
)

// largeClusterEndpointsThreshold: above this many endpoints kube-proxy drops
// the comments of KUBE-SVC→KUBE-SEP and KUBE-SEP rules, which shrinks the
// ruleset by 40% or more and speeds up iptables-restore.
const largeClusterEndpointsThreshold = 1000

// Rules is one sync's output.
type Rules struct {
	// Payload is the `iptables-restore --noflush` input: *filter ... COMMIT,
	// *nat ... COMMIT. On a partial sync it leaves out the per-service nat
	// chains of unchanged service ports, which stay as they are in the kernel.
	Payload []byte
	// Partial is true when the payload is a partial sync (BuildPartial).
	Partial bool
	// NATChains are the nat chains this sync uses, written or not (stale
	// chains it deletes are not listed): next sync's "active" set.
	NATChains []string
	// Rule counts of the whole ruleset, written or not, for kube-proxy's
	// sync_proxy_rules_iptables_total metric (the -X lines of stale chains
	// are not rules).
	FilterRules, NATRules int
	// NATRulesWritten is how many nat rules the payload itself holds; equal
	// to NATRules on a full sync.
	NATRulesWritten int
}

// lineBuffer collects restore lines and counts them. A discarding buffer
// only counts: it stands for kube-proxy's discard buffer, into which a
// partial sync generates the chains it does not write so that the rule
// counts still cover the whole ruleset.
type lineBuffer struct {
	buf     bytes.Buffer
	lines   int
	discard bool
}

// write writes one line of space-separated words.
func (b *lineBuffer) write(words ...string) {
	b.lines++
	if b.discard {
		return
	}
	for i, w := range words {
		if i > 0 {
			b.buf.WriteByte(' ')
		}
		b.buf.WriteString(w)
	}
	b.buf.WriteByte('\n')
}

// rule writes "-A <chain> -m comment --comment <text> <words...>"; an empty
// text writes no comment. iptables-restore splits lines on spaces, so a
// comment containing one is wrapped in double quotes; a single word is
// written bare, as kube-proxy does.
func (b *lineBuffer) rule(chain, text string, words ...string) {
	b.lines++
	if b.discard {
		return
	}
	b.buf.WriteString("-A ")
	b.buf.WriteString(chain)
	if text != "" {
		b.buf.WriteString(" -m comment --comment ")
		if strings.ContainsAny(text, " \t") {
			b.buf.WriteByte('"')
			b.buf.WriteString(text)
			b.buf.WriteByte('"')
		} else {
			b.buf.WriteString(text)
		}
	}
	for _, w := range words {
		b.buf.WriteByte(' ')
		b.buf.WriteString(w)
	}
	b.buf.WriteByte('\n')
}

// writeChain writes a chain declaration, which creates the chain or, with
// --noflush, empties it.
func (b *lineBuffer) writeChain(name string) {
	b.lines++
	if b.discard {
		return
	}
	b.buf.WriteByte(':')
	b.buf.WriteString(name)
	b.buf.WriteString(" - [0:0]\n")
}

// builder holds one sync's buffers and settings.
type builder struct {
	st           *State
	mark         string // e.g. 0x00004000
	largeCluster bool
	// The local-traffic detector's predicates ("from a pod" / "not from a
	// pod"); nil without a detector.
	ifLocal, ifNotLocal []string

	filterChains, filterRules lineBuffer
	natChains, natRules       lineBuffer
	activeNAT                 []string

	// changed is the set of service ports whose per-service chains a
	// partial sync writes; nil on a full sync.
	changed map[ServicePortName]bool
	// svcChains and svcRules receive the current service port's
	// KUBE-SVC/SVL/EXT/FW/SEP chains: the nat buffers, or the discard
	// buffers when a partial sync leaves that service port out.
	svcChains, svcRules         *lineBuffer
	discardChains, discardRules lineBuffer
}

// Build builds the rules for a full sync. stale lists kube-proxy-owned nat
// chains (KUBE-SVC-/SVL-/EXT-/FW-/SEP-) that exist in the kernel but may no
// longer be used; each one this sync does not use again gets a declaration
// line (which flushes it) and a -X line (which deletes it), as kube-proxy
// does after comparing `iptables-save -t nat` with its active chains.
func Build(st *State, stale []string) Rules {
	return BuildPartial(st, stale, nil)
}

// BuildPartial builds a partial sync (KEP-3453, "Minimizing iptables-restore
// input size"): every top-level chain (filter and nat KUBE-SERVICES,
// KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS, KUBE-FORWARD, KUBE-PROXY-FIREWALL,
// KUBE-POSTROUTING, KUBE-MARK-MASQ, ...) and every filter rule is written in
// full, but the per-service nat chains (KUBE-SVC/SVL/EXT/FW/SEP) only for the
// service ports in changed. The others are generated into a discard buffer so
// that NATChains (every chain in use, written or not) and the rule counts
// still describe the whole ruleset, as kube-proxy does for its metrics.
// changed == nil means a full sync (== Build).
//
// iptables-restore --noflush leaves the chains a payload does not mention as
// they are, so a partial payload is only correct on top of the rules of the
// previous successful sync. The caller must therefore:
//   - mark a service port changed whenever its Service or its EndpointSlices
//     changed (or it was deleted) since the last successful restore, because
//     an unchanged service port's top-level rules jump into chains that this
//     payload does not declare and that must already be in the kernel;
//   - do a full sync at start, after any failed restore (what the kernel
//     holds is then unknown), and whenever a node-level field of State
//     changes (NodeIPs, ClusterCIDR, MasqueradeAll, MasqueradeBit,
//     LocalhostNodePorts), since those shape every service's chains;
//   - pass as stale the chains of the previous sync's NATChains that this
//     one no longer uses, to delete them.
func BuildPartial(st *State, stale []string, changed map[ServicePortName]bool) Rules {
	b := &builder{
		st: st,
		// kube-proxy formats the mark with %#08x; iptables-save prints it
		// back normalized (0x4000).
		mark:          fmt.Sprintf("%#08x", 1<<uint(st.MasqueradeBit)),
		changed:       changed,
		discardChains: lineBuffer{discard: true},
		discardRules:  lineBuffer{discard: true},
	}
	if st.ClusterCIDR.IsValid() {
		cidr := st.ClusterCIDR.Masked().String()
		b.ifLocal, b.ifNotLocal = []string{"-s", cidr}, []string{"!", "-s", cidr}
	}
	names := sortedServicePorts(st)
	total := 0
	for _, n := range names {
		total += len(st.Endpoints[n])
	}
	b.largeCluster = total > largeClusterEndpointsThreshold
	// Roughly what a ClusterIP service with two endpoints takes (~250 bytes
	// of KUBE-SERVICES rules, ~550 of its own chains when they are written),
	// to avoid regrowing the buffers many times in large clusters.
	written := len(names)
	if changed != nil {
		written = len(changed)
	}
	b.natRules.buf.Grow(len(names)*250 + written*550)
	b.natChains.buf.Grow(written * 100)

	b.writeStaticChains()
	for _, n := range names {
		b.writeServicePort(n, st.Services[n], st.Endpoints[n])
	}
	deleted := b.deleteStaleChains(stale)
	b.writeNodePortsJump()
	b.writeForwardRules()

	var payload bytes.Buffer
	payload.Grow(b.filterChains.buf.Len() + b.filterRules.buf.Len() + b.natChains.buf.Len() + b.natRules.buf.Len() + 32)
	payload.WriteString("*filter\n")
	payload.Write(b.filterChains.buf.Bytes())
	payload.Write(b.filterRules.buf.Bytes())
	payload.WriteString("COMMIT\n*nat\n")
	payload.Write(b.natChains.buf.Bytes())
	payload.Write(b.natRules.buf.Bytes())
	payload.WriteString("COMMIT\n")

	return Rules{
		Payload:         payload.Bytes(),
		Partial:         changed != nil,
		NATChains:       b.activeNAT,
		FilterRules:     b.filterRules.lines,
		NATRules:        b.natRules.lines - deleted + b.discardRules.lines,
		NATRulesWritten: b.natRules.lines - deleted,
	}
}

// sortedServicePorts orders service ports by name. kube-proxy walks a map
// (random order); a stable order makes iptables-save readable and diffable.
// Headless ports (no ClusterIP) get no rules at all.
func sortedServicePorts(st *State) []ServicePortName {
	type named struct {
		n ServicePortName
		s string
	}
	sorted := make([]named, 0, len(st.Services))
	for n, sp := range st.Services {
		if sp != nil && sp.ClusterIP.IsValid() {
			sorted = append(sorted, named{n, n.String()})
		}
	}
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].s != sorted[j].s {
			return sorted[i].s < sorted[j].s
		}
		return sorted[i].n.Protocol < sorted[j].n.Protocol
	})
	names := make([]ServicePortName, len(sorted))
	for i := range sorted {
		names[i] = sorted[i].n
	}
	return names
}

// writeStaticChains declares the top-level chains and writes the rules that
// do not depend on any Service.
func (b *builder) writeStaticChains() {
	for _, c := range []string{kubeServicesChain, kubeExternalServicesChain, kubeForwardChain, kubeNodePortsChain, kubeProxyFirewallChain, kubeProxyCanaryChain} {
		b.filterChains.writeChain(c)
	}
	for _, c := range []string{kubeServicesChain, kubeNodePortsChain, kubePostroutingChain, kubeMarkMasqChain, kubeProxyCanaryChain} {
		b.natChains.writeChain(c)
		b.activeNAT = append(b.activeNAT, c)
	}

	// KUBE-MARK-MASQ only sets a mark; the SNAT happens in POSTROUTING, after
	// routing, so that packets are masqueraded to the right interface address.
	markMask := b.mark + "/" + b.mark
	b.natRules.rule(kubePostroutingChain, "", "-m", "mark", "!", "--mark", markMask, "-j", "RETURN")
	// Clear the mark so a packet that traverses the stack again (e.g. through
	// a bridge) is not masqueraded twice.
	b.natRules.rule(kubePostroutingChain, "", "-j", "MARK", "--xor-mark", b.mark)
	if b.st.RandomFully {
		// Fully random source ports avoid SNAT port collisions (conntrack
		// insert races) between many clients.
		b.natRules.rule(kubePostroutingChain, "kubernetes service traffic requiring SNAT", "-j", "MASQUERADE", "--random-fully")
	} else {
		b.natRules.rule(kubePostroutingChain, "kubernetes service traffic requiring SNAT", "-j", "MASQUERADE")
	}
	b.natRules.rule(kubeMarkMasqChain, "", "-j", "MARK", "--or-mark", b.mark)

	if b.localhostNodePorts() {
		// route_localnet lets 127.0.0.1:<nodePort> be DNATed to a pod, but it
		// would also accept packets addressed to 127/8 from the wire. Drop
		// those unless conntrack knows them (CVE-2020-8558).
		b.filterChains.writeChain(kubeletFirewallChain)
		b.filterRules.rule(kubeletFirewallChain, "block incoming localnet connections",
			"-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8",
			"-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP")
	}
}

// localhostNodePorts: localhost NodePorts never work for IPv6.
func (b *builder) localhostNodePorts() bool {
	return b.st.LocalhostNodePorts && !b.st.isIPv6()
}

// writeNodePortsJump writes the last rule of nat KUBE-SERVICES: anything
// addressed to one of the node's own addresses goes on to KUBE-NODEPORTS.
// It must come after every ClusterIP/externalIP/LB rule, because those
// addresses may be local too.
func (b *builder) writeNodePortsJump() {
	words := []string{"-m", "addrtype", "--dst-type", "LOCAL"}
	switch {
	case b.st.isIPv6():
		words = append(words, "!", "-d", "::1/128")
	case !b.st.LocalhostNodePorts:
		words = append(words, "!", "-d", "127.0.0.0/8")
	}
	words = append(words, "-j", kubeNodePortsChain)
	b.natRules.rule(kubeServicesChain, "kubernetes service nodeports; NOTE: this must be the last rule in this chain", words...)
}

// writeForwardRules writes filter KUBE-FORWARD. (kube-proxy also counts the
// INVALID drops with an nfacct match; minilab does not use nfacct.)
func (b *builder) writeForwardRules() {
	// Out-of-window TCP packets are INVALID to conntrack and would otherwise
	// be forwarded un-NATed and answered with a RST (kubernetes#74839).
	b.filterRules.rule(kubeForwardChain, "", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
	// Service traffic marked for masquerade is forwarded even when the
	// FORWARD policy is DROP, and so are its replies.
	b.filterRules.rule(kubeForwardChain, "kubernetes forwarding rules", "-m", "mark", "--mark", b.mark+"/"+b.mark, "-j", "ACCEPT")
	b.filterRules.rule(kubeForwardChain, "kubernetes forwarding conntrack rule", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
}

// deleteStaleChains flushes and deletes the stale chains this sync did not
// declare again, and returns how many.
func (b *builder) deleteStaleChains(stale []string) int {
	if len(stale) == 0 {
		return 0
	}
	active := make(map[string]bool, len(b.activeNAT))
	for _, c := range b.activeNAT {
		active[c] = true
	}
	deleted := 0
	for _, c := range stale {
		if !OwnedChain(c) || active[c] {
			continue
		}
		active[c] = true // a chain listed twice is deleted once
		b.natChains.writeChain(c)
		b.natRules.write("-X", c)
		deleted++
	}
	return deleted
}
