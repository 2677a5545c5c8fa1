package tracer

import (
	"math"
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

// The testdata node: its addresses (192.168.99.11 is an externalIP that is
// also a node address) and the pod network of the fixtures.
var testNode = Node{
	IPs:         []netip.Addr{netip.MustParseAddr("192.168.0.2"), netip.MustParseAddr("192.168.1.2"), netip.MustParseAddr("192.168.99.11")},
	ClusterCIDR: netip.MustParsePrefix("10.0.0.0/8"),
}

func pkt(from Origin, src, dst string, proto string, port int32) Packet {
	p := Packet{Destination: netip.MustParseAddr(dst), Protocol: proto, Port: port, From: from}
	if src != "" {
		p.Source = netip.MustParseAddr(src)
	}
	return p
}

// want is the part of an Outcome a test pins down.
type want struct {
	endpoint    string
	probability float64
	masq        bool
	verdict     string
	verdictRule string // a substring of VerdictRule; "-" for none
}

func checkOutcomes(t *testing.T, got []Outcome, wants []want) {
	t.Helper()
	explain := func() string {
		var s []string
		for _, o := range got {
			s = append(s, o.Explain())
		}
		return strings.Join(s, "\n")
	}
	if len(got) != len(wants) {
		t.Fatalf("%d outcomes, want %d:\n%s", len(got), len(wants), explain())
	}
	for i, w := range wants {
		o := got[i]
		ruleOK := (w.verdictRule == "-" && o.VerdictRule == "") || (w.verdictRule != "-" && strings.Contains(o.VerdictRule, w.verdictRule))
		if o.Endpoint != w.endpoint || math.Abs(o.Probability-w.probability) > 1e-12 || o.Masquerade != w.masq || o.Verdict != w.verdict || !ruleOK {
			t.Errorf("outcome %d: got %s [%s], want %+v\n%s", i, o, o.VerdictRule, w, explain())
		}
	}
}

// TestTraceRealSave traces packets through what iptables-save printed, with
// the probabilities as the kernel stores them (0.33333333349, not 1/3).
func TestTraceRealSave(t *testing.T) {
	const p1 = 0.33333333349
	for _, path := range realSaves {
		rs := readSave(t, path)
		for _, tc := range []struct {
			name string
			p    Packet
			want []want
		}{
			{"pod to ClusterIP over UDP, three endpoints", pkt(FromPod, "10.0.0.2", "172.30.0.10", "udp", 53), []want{
				{"10.180.9.1:53", p1, false, "ACCEPT", "-"},
				{"10.180.9.2:53", (1 - p1) * 0.5, false, "ACCEPT", "-"},
				{"10.180.9.3:53", (1 - p1) * 0.5, false, "ACCEPT", "-"},
			}},
			{"allowed client to LB IP with source ranges and affinity", pkt(FromOutside, "203.0.113.2", "5.6.7.8", "tcp", 80), []want{
				{"10.180.0.3:80", 1, true, "ACCEPT", `"kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT`},
			}},
			{"blocked client to LB IP", pkt(FromOutside, "203.0.113.130", "5.6.7.8", "tcp", 80), []want{
				{"", 1, false, "DROP", "-A KUBE-PROXY-FIREWALL -d 5.6.7.8/32"},
			}},
			{"no endpoints", pkt(FromPod, "10.0.0.2", "172.30.0.46", "tcp", 80), []want{
				{"", 1, false, "REJECT", "--reject-with icmp-port-unreachable"},
			}},
			{"localhost NodePort", pkt(FromNode, "", "127.0.0.1", "tcp", 3003), []want{
				{"10.180.0.3:80", 1, true, "ACCEPT", "-"},
			}},
			{"health check node port", pkt(FromOutside, "203.0.113.2", "192.168.0.2", "tcp", 30000), []want{
				{"", 1, false, "ACCEPT", `"ns2/svc2:p80 health check node port"`},
			}},
			{"eTP Local NodePort without local endpoints", pkt(FromOutside, "203.0.113.2", "192.168.1.2", "tcp", 3001), []want{
				{"", 1, false, "DROP", `"ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL`},
			}},
			{"eTP Local NodePort from a pod is short-circuited", pkt(FromPod, "10.0.0.2", "192.168.1.2", "tcp", 3001), []want{
				{"10.180.0.2:80", 1, false, "ACCEPT", "-"},
			}},
			{"hairpin", pkt(FromPod, "10.180.0.1", "172.30.0.41", "tcp", 80), []want{
				{"10.180.0.1:80", 1, true, "ACCEPT", "kubernetes forwarding rules"},
			}},
		} {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				got, err := rs.Trace(testNode, tc.p)
				if err != nil {
					t.Fatal(err)
				}
				checkOutcomes(t, got, tc.want)
			})
		}
	}
}

// TestTracePath checks that a trace explains itself.
func TestTracePath(t *testing.T) {
	rs := readSave(t, realSaves[0])
	got, err := rs.Trace(testNode, pkt(FromOutside, "203.0.113.2", "5.6.7.8", "tcp", 80))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"nat PREROUTING",
		`PREROUTING: "kubernetes service portals" -j KUBE-SERVICES`,
		`KUBE-SERVICES: "ns5/svc5:p80 loadbalancer IP" -j KUBE-FW-NUKIZ6OKUXPJNT4C`,
		`KUBE-FW-NUKIZ6OKUXPJNT4C: "ns5/svc5:p80 loadbalancer IP" -j KUBE-EXT-NUKIZ6OKUXPJNT4C`,
		`KUBE-EXT-NUKIZ6OKUXPJNT4C: "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ`,
		`KUBE-MARK-MASQ: -j MARK --set-xmark 0x4000/0x4000`,
		`KUBE-EXT-NUKIZ6OKUXPJNT4C: -j KUBE-SVC-NUKIZ6OKUXPJNT4C`,
		`KUBE-SVC-NUKIZ6OKUXPJNT4C: "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN: skipped: session affinity (-m recent --rcheck) matches only a client recorded in list KUBE-SEP-I77PXRDZVX7PMWMN within the last 10800s; traced as a new client`,
		`KUBE-SVC-NUKIZ6OKUXPJNT4C: "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN`,
		`KUBE-SEP-I77PXRDZVX7PMWMN: "ns5/svc5:p80" -j DNAT --to-destination 10.180.0.3:80`,
		"filter FORWARD",
		`FORWARD: "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
		`FORWARD: "kubernetes forwarding rules" -j KUBE-FORWARD`,
		`KUBE-FORWARD: "kubernetes forwarding rules" -j ACCEPT`,
		"nat POSTROUTING",
		`POSTROUTING: "kubernetes postrouting rules" -j KUBE-POSTROUTING`,
		`KUBE-POSTROUTING: -j MARK --set-xmark 0x4000/0x0`,
		`KUBE-POSTROUTING: "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`,
	}
	if len(got) != 1 || strings.Join(got[0].Path, "\n") != strings.Join(want, "\n") {
		t.Errorf("path:\n%s\nwant:\n%s", strings.Join(got[0].Path, "\n"), strings.Join(want, "\n"))
	}
	if len(got[0].Rules) != 14 || !strings.HasPrefix(got[0].Rules[0], "-A PREROUTING ") {
		t.Errorf("rules: %q", got[0].Rules)
	}
}

// parseOrFail parses a small ruleset, adding the filter or nat table if
// it is missing (a second *filter section would flush the first).
func parseOrFail(t *testing.T, tables string) *Ruleset {
	t.Helper()
	for _, table := range []string{"filter", "nat"} {
		if !strings.Contains(tables, "*"+table+"\n") {
			tables += "*" + table + "\nCOMMIT\n"
		}
	}
	rs, err := Parse([]byte(tables))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestTraceTargets(t *testing.T) {
	fromPod := pkt(FromPod, "10.0.0.2", "10.96.0.1", "tcp", 80)
	for _, tc := range []struct {
		name, rules string
		p           Packet
		want        []want
	}{
		{"goto returns to the caller's caller", `*nat
:A - [0:0]
:B - [0:0]
-A PREROUTING -j A
-A PREROUTING -p tcp -j DNAT --to-destination 10.9.9.1:80
-A A -g B
-A A -j DNAT --to-destination 10.9.9.2:80
-A B -j RETURN
COMMIT
`, fromPod, []want{{"10.9.9.1:80", 1, false, "ACCEPT", "-"}}},
		{"DNAT without a port keeps it", "*nat\n-A PREROUTING -j DNAT --to-destination 10.9.9.1\nCOMMIT\n", fromPod,
			[]want{{"10.9.9.1:80", 1, false, "ACCEPT", "-"}}},
		{"MARK arithmetic as iptables-save prints it", `*nat
-A PREROUTING -j MARK --set-xmark 0x4001/0xffffffff
-A PREROUTING -j MARK --set-xmark 0x0/0xffffff00
-A PREROUTING -m mark --mark 0x4000/0x4000 -j DNAT --to-destination 10.9.9.2:80
-A PREROUTING -m mark --mark 0x1 -j DNAT --to-destination 10.9.9.1:80
COMMIT
`, fromPod, []want{{"10.9.9.1:80", 1, false, "ACCEPT", "-"}}},
		{"statistic branches multiply", `*nat
-A PREROUTING -m statistic --mode random --probability 0.25 -j DNAT --to-destination 10.9.9.1:80
-A PREROUTING -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.9.9.2:80
COMMIT
`, fromPod, []want{{"10.9.9.1:80", 0.25, false, "ACCEPT", "-"}, {"10.9.9.2:80", 0.375, false, "ACCEPT", "-"}, {"", 0.375, false, "ACCEPT", "-"}}},
		{"policy DROP", "*filter\n:FORWARD DROP [0:0]\nCOMMIT\n", fromPod, []want{{"", 1, false, "DROP", "-"}}},
		{"unmodelled targets: LOG goes on, NFQUEUE ends the trace", `*filter
-A FORWARD -j LOG --log-prefix "fwd: "
-A FORWARD -j NFQUEUE --queue-num 1
COMMIT
`, fromPod, []want{{"", 1, false, "NFQUEUE", "-j NFQUEUE"}}},
		{"unsupported matches never match", `*filter
-A FORWARD -i eth0 -j DROP
-A FORWARD ! -i eth0 -j DROP
COMMIT
`, fromPod, []want{{"", 1, false, "ACCEPT", "-"}}},
		{"tcp flags, multiport, state", `*filter
-A FORWARD -p tcp -m tcp --tcp-flags SYN,ACK ACK -j DROP
-A FORWARD -p tcp -m multiport --dports 443,8000:8100 -j DROP
-A FORWARD -p tcp -m state --state ESTABLISHED -j DROP
-A FORWARD -p tcp -m multiport --dports 53,70:90 -m state --state NEW -m tcp --syn -j ACCEPT
COMMIT
`, fromPod, []want{{"", 1, false, "ACCEPT", "--syn -j ACCEPT"}}},
		{"protocol numbers and netmasks", `*filter
-A FORWARD -p 17 -j DROP
-A FORWARD -s 10.0.0.0/255.255.0.0 -p 6 -j REJECT
COMMIT
`, fromPod, []want{{"", 1, false, "REJECT", "-p 6 -j REJECT"}}},
		{"ACCEPT in nat is not the verdict rule", "*nat\n-A PREROUTING -j ACCEPT\nCOMMIT\n", fromPod,
			[]want{{"", 1, false, "ACCEPT", "-"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOrFail(t, tc.rules).Trace(testNode, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			checkOutcomes(t, got, tc.want)
		})
	}
}

// TestTraceNotes: what the tracer did not follow is in the Path.
func TestTraceNotes(t *testing.T) {
	rs := parseOrFail(t, `*filter
-A FORWARD -i eth0 -j DROP
-A FORWARD -j LOG --log-prefix "fwd: "
COMMIT
`)
	got, err := rs.Trace(testNode, pkt(FromPod, "10.0.0.2", "10.96.0.1", "tcp", 80))
	if err != nil {
		t.Fatal(err)
	}
	path := strings.Join(got[0].Path, "\n")
	for _, s := range []string{
		"FORWARD: -i eth0 -j DROP: skipped: cannot evaluate -i eth0; the tracer treats this rule as not matching",
		"FORWARD: the tracer does not model -j LOG; going on",
	} {
		if !strings.Contains(path, s) {
			t.Errorf("path lacks %q:\n%s", s, path)
		}
	}
}

// TestTraceHooks: a counting rule in every built-in chain shows the hooks
// each kind of packet passes, in order.
func TestTraceHooks(t *testing.T) {
	var b strings.Builder
	for _, table := range []string{"raw", "mangle", "filter", "nat"} {
		b.WriteString("*" + table + "\n")
		for _, c := range builtinChains[table] {
			b.WriteString("-A " + c + " -m comment --comment seen\n")
		}
		if table == "nat" {
			// Send the node's traffic to 10.96.0.2 to a local address.
			b.WriteString("-A OUTPUT -d 10.96.0.2 -j DNAT --to-destination 192.168.0.2\n")
		}
		b.WriteString("COMMIT\n")
	}
	rs, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	hookLine := regexp.MustCompile(`^(raw|mangle|filter|nat) [A-Z]+$`)
	for _, tc := range []struct {
		p    Packet
		want string
	}{
		{pkt(FromPod, "10.0.0.2", "10.0.0.3", "tcp", 80), "raw PREROUTING, mangle PREROUTING, nat PREROUTING, mangle FORWARD, filter FORWARD, mangle POSTROUTING, nat POSTROUTING"},
		{pkt(FromOutside, "203.0.113.2", "192.168.0.2", "tcp", 22), "raw PREROUTING, mangle PREROUTING, nat PREROUTING, mangle INPUT, filter INPUT, nat INPUT"},
		{pkt(FromNode, "", "10.0.0.3", "udp", 53), "raw OUTPUT, mangle OUTPUT, nat OUTPUT, filter OUTPUT, mangle POSTROUTING, nat POSTROUTING"},
		{pkt(FromNode, "", "10.96.0.2", "tcp", 80), "raw OUTPUT, mangle OUTPUT, nat OUTPUT, filter OUTPUT, mangle POSTROUTING, nat POSTROUTING, mangle INPUT, filter INPUT"},
	} {
		got, err := rs.Trace(testNode, tc.p)
		if err != nil {
			t.Fatal(err)
		}
		var hooks []string
		for _, s := range got[0].Path {
			if hookLine.MatchString(s) {
				hooks = append(hooks, s)
			}
		}
		if strings.Join(hooks, ", ") != tc.want {
			t.Errorf("%s: hooks %s, want %s", tc.p, strings.Join(hooks, ", "), tc.want)
		}
	}
}

func TestTracePacketChecks(t *testing.T) {
	rs := NewRuleset()
	for _, tc := range []struct {
		p    Packet
		want string
	}{
		{pkt(FromPod, "192.0.2.1", "10.96.0.1", "tcp", 80), "cluster CIDR"},
		{pkt(FromOutside, "192.168.0.2", "10.96.0.1", "tcp", 80), "use FromNode"},
		{pkt(FromNode, "203.0.113.2", "10.96.0.1", "tcp", 80), "not one of its addresses"},
		{pkt(0, "203.0.113.2", "10.96.0.1", "tcp", 80), "not set"},
		{pkt(FromPod, "10.0.0.2", "10.96.0.1", "icmp", 80), "protocol"},
		{pkt(FromPod, "10.0.0.2", "10.96.0.1", "tcp", 0), "port"},
		{pkt(FromPod, "10.0.0.2", "fd00::1", "tcp", 80), "families"},
		{pkt(FromOutside, "", "10.96.0.1", "tcp", 80), "no source"},
	} {
		if _, err := rs.Trace(testNode, tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.p, err, tc.want)
		}
	}
	// Defaults: TCP, and the node's own source address.
	got, err := rs.Trace(testNode, Packet{Destination: netip.MustParseAddr("10.0.0.3"), Port: 80, From: FromNode})
	if err != nil || len(got) != 1 || got[0].Verdict != "ACCEPT" {
		t.Errorf("defaults: %v %v", got, err)
	}
}

func TestTraceLoop(t *testing.T) {
	rs := NewRuleset()
	// An emulated table can hold a loop the kernel would refuse.
	if err := rs.Restore([]byte("*nat\n:A - [0:0]\n:B - [0:0]\n-A PREROUTING -j A\n-A A -j B\n-A B -j A\nCOMMIT\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Trace(testNode, pkt(FromPod, "10.0.0.2", "10.0.0.3", "tcp", 80)); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Errorf("err %v", err)
	}
}

func TestOutcomeString(t *testing.T) {
	for _, tc := range []struct {
		o    Outcome
		want string
	}{
		{Outcome{Endpoint: "10.244.1.5:8080", Probability: 0.5, Masquerade: true, Verdict: "ACCEPT"}, "10.244.1.5:8080, masqueraded, ACCEPT (probability 0.5)"},
		{Outcome{Probability: 1, Verdict: "REJECT"}, "not DNATed, REJECT (probability 1)"},
		{Outcome{Endpoint: "10.244.1.5:53", Probability: 1.0 / 3, Verdict: "ACCEPT"}, "10.244.1.5:53, ACCEPT (probability 0.333333)"},
	} {
		if got := tc.o.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	o := Outcome{Probability: 1, Verdict: "DROP", Path: []string{"filter FORWARD", "FORWARD: -j DROP"}}
	if got, want := o.Explain(), "not DNATed, DROP (probability 1)\n  filter FORWARD\n  FORWARD: -j DROP"; got != want {
		t.Errorf("Explain() = %q, want %q", got, want)
	}
}
