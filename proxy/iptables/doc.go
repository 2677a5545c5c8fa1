// Package iptables generates the rules of kube-proxy's iptables mode for one
// node: given the Services and endpoints the proxier sees, Build returns the
// exact `iptables-restore --noflush` input kube-proxy would write on a full
// sync (chains KUBE-SERVICES, KUBE-NODEPORTS, KUBE-SVC-*, KUBE-SEP-*, ... with
// kube-proxy's chain-name hashing, comments and probabilities), BuildPartial
// the smaller input of a partial sync (KEP-3453: the per-service chains of
// unchanged service ports are left as they are in the kernel), and JumpRules
// the rules that hook those chains into the built-in ones.
//
// The package is pure: it never runs iptables itself. The caller (the node's
// proxier) runs iptables-restore with the payload, ensures the jump rules with
// `iptables -C`/`-I`, and feeds `iptables-save -t nat` back through
// StaleChains so that chains of deleted services get removed on the next sync,
// exactly as kube-proxy's syncProxyRules does. The tracer subpackage reads
// iptables-save output back and follows packets through it.
package iptables
