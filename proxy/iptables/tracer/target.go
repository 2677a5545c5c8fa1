package tracer

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// actionKind is what a rule's target does to a packet.
type actionKind int

const (
	actNone               actionKind = iota // no target: the rule only counts packets
	actChain                                // jump (or goto) to a chain of the same table
	actVerdict                              // ACCEPT, DROP, REJECT
	actReturn                               // back to the calling chain
	actDNAT                                 // rewrite the destination; ends the nat chain walk
	actSNAT                                 // SNAT or MASQUERADE in POSTROUTING
	actMark                                 // change the packet mark and go on
	actUnmodelled                           // a non-terminating extension the tracer ignores (LOG, TCPMSS, ...)
	actUnmodelledTerminal                   // a terminating extension the tracer does not follow (NFQUEUE, REDIRECT, ...)
)

type action struct {
	kind actionKind
	// dnat is the new destination; its port is 0 when the target keeps it.
	dnat netip.AddrPort
	mark func(uint32) uint32
}

// targetActions are the target extensions the tracer knows. Any other
// target must be a chain of the table (checked when a table is committed,
// as iptables-restore does).
var targetActions = map[string]func(r *Rule) (action, error){
	"ACCEPT":     verdictAction,
	"DROP":       verdictAction,
	"REJECT":     verdictAction,
	"RETURN":     func(*Rule) (action, error) { return action{kind: actReturn}, nil },
	"DNAT":       dnatAction,
	"SNAT":       func(*Rule) (action, error) { return action{kind: actSNAT}, nil },
	"MASQUERADE": func(*Rule) (action, error) { return action{kind: actSNAT}, nil },
	"MARK":       markAction,
}

// otherTargets are target extensions that exist in the kernel but whose
// effect the tracer does not model; the bool says whether they end the walk.
var otherTargets = map[string]bool{
	"LOG": false, "NFLOG": false, "TRACE": false, "TCPMSS": false, "CT": false, "NOTRACK": false,
	"CONNMARK": false, "CHECKSUM": false, "CLASSIFY": false, "DSCP": false, "TOS": false, "TTL": false,
	"HL": false, "SET": false, "AUDIT": false, "SECMARK": false, "CONNSECMARK": false, "TEE": false,
	"QUEUE": true, "NFQUEUE": true, "REDIRECT": true, "TPROXY": true, "NETMAP": true,
}

// isTargetExtension reports whether a target name is not a chain.
func isTargetExtension(name string) bool {
	_, known := targetActions[name]
	_, other := otherTargets[name]
	return known || other
}

func compileAction(r *Rule) (action, error) {
	if r.Target == "" {
		return action{kind: actNone}, nil
	}
	if f, ok := targetActions[r.Target]; ok {
		return f(r)
	}
	if terminal, ok := otherTargets[r.Target]; ok {
		if terminal {
			return action{kind: actUnmodelledTerminal}, nil
		}
		return action{kind: actUnmodelled}, nil
	}
	return action{kind: actChain}, nil
}

func verdictAction(*Rule) (action, error) { return action{kind: actVerdict}, nil }

// dnatAction reads --to-destination: "ip", "ip:port", "[ip6]:port"; of a
// range ("ip:80-90", "ip1-ip2") the tracer follows the first address/port.
func dnatAction(r *Rule) (action, error) {
	o, ok := r.Get("--to-destination")
	if !ok {
		return action{}, fmt.Errorf("DNAT without --to-destination")
	}
	ap, err := parseNATDestination(o.Value)
	if err != nil {
		return action{}, err
	}
	return action{kind: actDNAT, dnat: ap}, nil
}

func parseNATDestination(v string) (netip.AddrPort, error) {
	host, port := v, ""
	switch {
	case strings.HasPrefix(v, "["):
		end := strings.Index(v, "]")
		if end < 0 {
			return netip.AddrPort{}, fmt.Errorf("bad --to-destination %q", v)
		}
		host, port = v[1:end], strings.TrimPrefix(v[end+1:], ":")
	case strings.Count(v, ":") == 1:
		host, port, _ = strings.Cut(v, ":")
	}
	host, _, _ = strings.Cut(host, "-")
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad --to-destination %q", v)
	}
	var p uint64
	if port != "" {
		port, _, _ = strings.Cut(port, "-")
		if p, err = strconv.ParseUint(port, 10, 16); err != nil {
			return netip.AddrPort{}, fmt.Errorf("bad --to-destination %q", v)
		}
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(p)), nil
}

// markOps are the MARK target's options. iptables-save prints --or-mark as
// --set-xmark M/M and --xor-mark as --set-xmark M/0; --set-xmark V/M means
// mark = (mark AND NOT M) XOR V.
var markOps = map[string]func(m markMask) func(uint32) uint32{
	"--set-xmark": func(m markMask) func(uint32) uint32 { return func(x uint32) uint32 { return x&^m.mask ^ m.value } },
	"--set-mark":  func(m markMask) func(uint32) uint32 { return func(x uint32) uint32 { return x&^m.mask | m.value } },
	"--or-mark":   func(m markMask) func(uint32) uint32 { return func(x uint32) uint32 { return x | m.value } },
	"--and-mark":  func(m markMask) func(uint32) uint32 { return func(x uint32) uint32 { return x & m.value } },
	"--xor-mark":  func(m markMask) func(uint32) uint32 { return func(x uint32) uint32 { return x ^ m.value } },
}

func markAction(r *Rule) (action, error) {
	for _, o := range r.TargetOptions {
		op, ok := markOps[o.Name]
		if !ok {
			continue
		}
		v, err := parseMarkMask(o.Value)
		if err != nil {
			return action{}, fmt.Errorf("bad %s %q", o.Name, o.Value)
		}
		m := v.(markMask)
		if !strings.Contains(o.Value, "/") && (o.Name == "--set-xmark" || o.Name == "--set-mark") {
			m.mask = 0xffffffff // "--set-mark V" replaces the whole mark
		}
		return action{kind: actMark, mark: op(m)}, nil
	}
	return action{}, fmt.Errorf("MARK without a mark option")
}
