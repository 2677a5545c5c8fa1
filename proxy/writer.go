package proxy

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// Netns runs a function inside a node's network namespace (nodes.Namespace
// does): processes started in it inherit the namespace.
type Netns interface {
	Do(func() error) error
}

// iptablesWriter runs the iptables tools inside a node's namespace, as
// kube-proxy runs them inside its node.
type iptablesWriter struct {
	ns                      Netns
	iptables, restore, save string // "iptables", "iptables-restore", "iptables-save" or their -legacy/-nft forms
}

// NewIPTablesWriter returns a RuleWriter using the `iptables` on PATH
// (which is what a user's `iptables -L` in the node shows).
func NewIPTablesWriter(ns Netns) RuleWriter {
	return &iptablesWriter{ns: ns, iptables: "iptables", restore: "iptables-restore", save: "iptables-save"}
}

// Restore feeds the payload to iptables-restore with kube-proxy's flags:
// --noflush keeps chains it does not mention, --counters keeps counters of
// chains it rewrites, -w waits for the xtables lock.
func (w *iptablesWriter) Restore(payload []byte) error {
	var stderr bytes.Buffer
	err := w.ns.Do(func() error {
		cmd := exec.Command(w.restore, "-w", "5", "--noflush", "--counters")
		cmd.Stdin = bytes.NewReader(payload)
		cmd.Stderr = &stderr
		return cmd.Run()
	})
	if err != nil {
		return fmt.Errorf("%s: %v: %s%s", w.restore, err, strings.TrimSpace(stderr.String()), contextLines(payload, stderr.String()))
	}
	return nil
}

func (w *iptablesWriter) Save(table string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	err := w.ns.Do(func() error {
		cmd := exec.Command(w.save, "-t", table)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		return cmd.Run()
	})
	if err != nil {
		return nil, fmt.Errorf("%s -t %s: %v: %s", w.save, table, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// contextLines shows the payload lines around the one iptables-restore
// complained about ("line 42 failed"), as kube-proxy logs them.
func contextLines(payload []byte, stderr string) string {
	var n int
	if i := strings.Index(stderr, "line "); i >= 0 {
		fmt.Sscanf(stderr[i:], "line %d", &n)
	}
	if n == 0 {
		return ""
	}
	lines := strings.Split(string(payload), "\n")
	var b strings.Builder
	for i := n - 2; i <= n; i++ {
		if i >= 1 && i <= len(lines) {
			fmt.Fprintf(&b, "\n  %d: %s", i, lines[i-1])
		}
	}
	return b.String()
}

// Run runs `iptables <args>` inside the node.
func (w *iptablesWriter) Run(args ...string) error {
	var stderr bytes.Buffer
	err := w.ns.Do(func() error {
		cmd := exec.Command(w.iptables, append([]string{"-w", "5"}, args...)...)
		cmd.Stderr = &stderr
		return cmd.Run()
	})
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", w.iptables, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
