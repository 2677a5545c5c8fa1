package tracer

import (
	"os"
	"strings"
	"testing"
)

// The testdata saves are what iptables-save v1.8.9 printed, with the
// nf_tables and the legacy backend, after loading a minilab payload for
// every Service feature, kube-proxy's jump rules and canaries, and
// extra-rules.txt (other normalizations: protocol numbers, netmasks,
// --or/--and/--xor-mark, state, LOG) into a throwaway network namespace.
var realSaves = []string{"testdata/iptables-nft-save.txt", "testdata/iptables-legacy-save.txt"}

func readSave(t *testing.T, path string) *Ruleset {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rs
}

func TestParseRealSave(t *testing.T) {
	for _, path := range realSaves {
		t.Run(path, func(t *testing.T) {
			rs := readSave(t, path)
			if got := strings.Join(rs.Tables(), ","); got != "filter,mangle,nat" {
				t.Errorf("tables %s", got)
			}
			if n := rs.RuleCount("nat"); n != 110 {
				t.Errorf("%d nat rules, want 110", n)
			}
			if n := rs.RuleCount("filter"); n != 29 {
				t.Errorf("%d filter rules, want 29", n)
			}
			if !rs.HasChain("mangle", "KUBE-PROXY-CANARY") || rs.Policy("filter", "FORWARD") != "ACCEPT" {
				t.Error("canary or FORWARD policy missing")
			}
			// Everything but the extra rules meant to be unsupported is understood.
			var unsupported []string
			for _, table := range rs.Tables() {
				for _, c := range rs.Chains(table) {
					for _, r := range rs.Rules(table, c) {
						unsupported = append(unsupported, r.Unsupported()...)
					}
				}
			}
			want := "-j LOG, -i eth0, -m statistic --mode nth, -m statistic --every 2, -m statistic --packet 0"
			if got := strings.Join(unsupported, ", "); got != want {
				t.Errorf("unsupported: %s, want %s", got, want)
			}
			// The normalized forms.
			masq := rs.Rules("nat", "KUBE-MARK-MASQ")
			if len(masq) != 1 || masq[0].String() != "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000" {
				t.Errorf("KUBE-MARK-MASQ: %v", masq)
			}
			svc := rs.Rules("nat", "KUBE-SVC-ODTQNOY7TUKDORDX")
			if o, _ := svc[1].Get("--probability"); o.Value != "0.33333333349" {
				t.Errorf("probability %q", o.Value)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for name, input := range map[string]string{
		"nat only":          "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n",
		"unknown table":     "*filter\nCOMMIT\n*nat\nCOMMIT\n*bogus\nCOMMIT\n",
		"rule outside":      "-A INPUT -j ACCEPT\n",
		"missing COMMIT":    "*filter\nCOMMIT\n*nat\n",
		"bad policy":        "*filter\n:INPUT REJECT [0:0]\nCOMMIT\n*nat\nCOMMIT\n",
		"user chain policy": "*filter\n:X ACCEPT [0:0]\nCOMMIT\n*nat\nCOMMIT\n",
		"unknown command":   "*filter\n-Z INPUT\nCOMMIT\n*nat\nCOMMIT\n",
	} {
		if _, err := Parse([]byte(input)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestRestoreNoflush checks the semantics kube-proxy's partial syncs rely on.
func TestRestoreNoflush(t *testing.T) {
	rs := NewRuleset()
	load := func(payload string) error { return rs.Restore([]byte(payload)) }
	must := func(payload string) {
		t.Helper()
		if err := load(payload); err != nil {
			t.Fatal(err)
		}
	}
	rules := func(table, chain string) string {
		var s []string
		for _, r := range rs.Rules(table, chain) {
			s = append(s, r.String())
		}
		return strings.Join(s, "\n")
	}
	must("*nat\n:A - [0:0]\n:B - [0:0]\n:C - [0:0]\n-A A -j B\n-A B -j RETURN\n-A C -j RETURN\nCOMMIT\n")

	// A declaration flushes; chains not mentioned keep their rules.
	must("*nat\n:A - [0:0]\n-A A -j C\nCOMMIT\n")
	if got := rules("nat", "A"); got != "-A A -j C" {
		t.Errorf("A = %q", got)
	}
	if got := rules("nat", "B"); got != "-A B -j RETURN" {
		t.Errorf("B = %q", got)
	}

	// A jump to a chain that exists neither in the kernel nor in the input
	// fails the whole table, which stays as it was.
	err := load("*nat\n:A - [0:0]\n-A A -j GONE\nCOMMIT\n")
	if err == nil || !strings.Contains(err.Error(), "dangling jump") {
		t.Errorf("dangling jump: %v", err)
	}
	if got := rules("nat", "A"); got != "-A A -j C" {
		t.Errorf("A changed by a failed restore: %q", got)
	}
	// A table committed before the failing one stays applied.
	err = load("*filter\n:F - [0:0]\nCOMMIT\n*nat\n-A NOPE -j RETURN\nCOMMIT\n")
	if err == nil || !rs.HasChain("filter", "F") {
		t.Errorf("err %v, filter F exists: %v", err, rs.HasChain("filter", "F"))
	}

	// -X deletes only empty, unreferenced user chains.
	for payload, want := range map[string]string{
		"*nat\n-X B\nCOMMIT\n":             "not empty",
		"*nat\n:C - [0:0]\n-X C\nCOMMIT\n": "still referenced",
		"*nat\n-X PREROUTING\nCOMMIT\n":    "built-in",
		"*nat\n-X NONE\nCOMMIT\n":          "does not exist",
		"*nat\n-N B\nCOMMIT\n":             "already exists",
	} {
		if err := load(payload); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", payload, err, want)
		}
	}
	must("*nat\n:B - [0:0]\n-X B\n:A - [0:0]\nCOMMIT\n")
	if rs.HasChain("nat", "B") {
		t.Error("B not deleted")
	}

	// -I inserts (at the top, or at a position), -N creates, -F flushes, -P sets a policy.
	must("*filter\n-N G\n-A G -j RETURN\n-I G -s 1.1.1.1 -j RETURN\n-I G 2 -s 2.2.2.2 -j RETURN\n-P FORWARD DROP\n-F F\nCOMMIT\n")
	if got := rules("filter", "G"); got != "-A G -s 1.1.1.1 -j RETURN\n-A G -s 2.2.2.2 -j RETURN\n-A G -j RETURN" {
		t.Errorf("G = %q", got)
	}
	if rs.Policy("filter", "FORWARD") != "DROP" {
		t.Error("policy not set")
	}
	if err := load("*filter\n-I G 5 -j RETURN\nCOMMIT\n"); err == nil {
		t.Error("insert past the end accepted")
	}
}

// TestParseCounters: `iptables-save -c` prints counters before each rule.
func TestParseCounters(t *testing.T) {
	rs, err := Parse([]byte("*filter\n:INPUT ACCEPT [10:2000]\n[4:240] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n*nat\nCOMMIT\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := rs.Rules("filter", "INPUT"); len(r) != 1 || r[0].String() != "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" {
		t.Errorf("rules %v", r)
	}
}

// TestParseAndSave: Parse (iptables-restore without --noflush) starts every
// table it names from scratch, and Save prints a canonical form.
func TestParseAndSave(t *testing.T) {
	input := "*filter\n:INPUT DROP [3:120]\n:Z - [0:0]\n:A - [0:0]\n-A Z -j A\n-A INPUT -j Z\nCOMMIT\n*nat\nCOMMIT\n"
	rs, err := Parse([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	want := "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:A - [0:0]\n:Z - [0:0]\n-A INPUT -j Z\n-A Z -j A\nCOMMIT\n" +
		"*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n" +
		"*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
	if got := string(rs.Save()); got != want {
		t.Errorf("Save:\n%s\nwant\n%s", got, want)
	}
	// Saving and parsing again changes nothing.
	again, err := Parse(rs.Save())
	if err != nil || string(again.Save()) != want {
		t.Errorf("round trip: %v\n%s", err, again.Save())
	}
}
