// Package tracer follows a packet through a node's iptables rules, the way
// kube-proxy's own unit tests check the rules its iptables proxier writes,
// but for real `iptables-save` output as well as for generated payloads.
//
// Parse reads `iptables-save` text (nf_tables or legacy backend, with the
// normalizations those tools apply: `/32` suffixes, `--set-xmark` for
// `--or-mark`, eleven-digit probabilities, explicit `-m tcp`, ...) into a
// Ruleset; Ruleset.Restore applies `iptables-restore --noflush` input to it
// with the kernel's semantics (a chain declaration flushes, chains not
// mentioned are kept, a jump to a chain that does not exist fails the table),
// so it can also stand in for the kernel in tests of partial syncs.
//
// Trace walks one new connection's first packet through the hooks the kernel
// would run for it (nat PREROUTING or OUTPUT, filter INPUT, FORWARD or
// OUTPUT, nat POSTROUTING) and returns every way it can end: the endpoint it
// is DNATed to and with what probability (each `-m statistic` branch is
// followed both ways), whether it is masqueraded, and the verdict, with the
// rules it went through so that the result can be explained to a learner.
// Rules whose outcome depends on earlier packets (`-m recent --rcheck`, the
// session-affinity check) are treated as not matching, i.e. the packet is
// traced as a new client, and the Path says so.
package tracer
