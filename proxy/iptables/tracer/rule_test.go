package tracer

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Rule
	}{
		{`-A KUBE-SERVICES -d 172.30.0.41/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O`,
			Rule{Chain: "KUBE-SERVICES", Comment: "ns1/svc1:p80 cluster IP", Target: "KUBE-SVC-XPGD46QRK7WJZT7O",
				Matches: []Option{{Name: "-d", Value: "172.30.0.41/32"}, {Name: "-p", Value: "tcp"}, {Module: "tcp", Name: "--dport", Value: "80"}}}},
		{`-A KUBE-SVC-X ! -s 10.0.0.0/8 -d 172.30.0.44/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ`,
			Rule{Chain: "KUBE-SVC-X", Target: "KUBE-MARK-MASQ", Matches: []Option{
				{Name: "-s", Value: "10.0.0.0/8", Negated: true}, {Name: "-d", Value: "172.30.0.44/32"}, {Name: "-p", Value: "tcp"}, {Module: "tcp", Name: "--dport", Value: "80"}}}},
		{`-A KUBE-SVC-X -m comment --comment "a -> b" -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-Y --mask 255.255.255.255 --rsource -j KUBE-SEP-Y`,
			Rule{Chain: "KUBE-SVC-X", Comment: "a -> b", Target: "KUBE-SEP-Y", Matches: []Option{
				{Module: "recent", Name: "--rcheck"}, {Module: "recent", Name: "--seconds", Value: "10800"}, {Module: "recent", Name: "--reap"},
				{Module: "recent", Name: "--name", Value: "KUBE-SEP-Y"}, {Module: "recent", Name: "--mask", Value: "255.255.255.255"}, {Module: "recent", Name: "--rsource"}}}},
		{`-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN`,
			Rule{Chain: "KUBE-POSTROUTING", Target: "RETURN", Matches: []Option{{Module: "mark", Name: "--mark", Value: "0x4000/0x4000", Negated: true}}}},
		{`-A KUBE-SERVICES -d 172.30.0.46/32 -p tcp -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable`,
			Rule{Chain: "KUBE-SERVICES", Comment: "ns6/svc6:p80 has no endpoints", Target: "REJECT",
				Matches:       []Option{{Name: "-d", Value: "172.30.0.46/32"}, {Name: "-p", Value: "tcp"}, {Module: "tcp", Name: "--dport", Value: "80"}},
				TargetOptions: []Option{{Module: "REJECT", Name: "--reject-with", Value: "icmp-port-unreachable"}}}},
		{`-A X -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j LOG --log-prefix "new conn: "`,
			Rule{Chain: "X", Target: "LOG", Matches: []Option{{Name: "-p", Value: "tcp"}, {Module: "tcp", Name: "--tcp-flags", Value: "FIN,SYN,RST,ACK SYN"}},
				TargetOptions: []Option{{Module: "LOG", Name: "--log-prefix", Value: "new conn: "}}}},
		{`-A X -m comment --comment "say \"hi\"" -g Y`, Rule{Chain: "X", Comment: `say "hi"`, Target: "Y", Goto: true}},
		// Long option names and the implicit protocol module of hand-written input.
		{`--append X --source 1.2.3.4 --protocol udp --dport 53 --jump ACCEPT`,
			Rule{Chain: "X", Target: "ACCEPT", Matches: []Option{{Name: "-s", Value: "1.2.3.4"}, {Name: "-p", Value: "udp"}, {Module: "udp", Name: "--dport", Value: "53"}}}},
		{`-A KUBE-FW-X -m comment --comment "other traffic will be dropped"`, Rule{Chain: "KUBE-FW-X", Comment: "other traffic will be dropped"}},
	} {
		got, err := ParseRule(tc.line)
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if got.Chain != tc.want.Chain || got.Comment != tc.want.Comment || got.Target != tc.want.Target || got.Goto != tc.want.Goto ||
			!reflect.DeepEqual(got.Matches, tc.want.Matches) || !reflect.DeepEqual(got.TargetOptions, tc.want.TargetOptions) {
			t.Errorf("%s:\ngot  %+v %+v\nwant %+v %+v", tc.line, got.Matches, got.TargetOptions, tc.want.Matches, tc.want.TargetOptions)
		}
	}
}

func TestParseRuleErrors(t *testing.T) {
	for _, line := range []string{
		`-I X -j ACCEPT`,                            // not an -A line
		`-A X --dport 80 -j ACCEPT`,                 // no module, no protocol
		`-A X -m comment --comment "open -j ACCEPT`, // unterminated quote
		`-A X -s -j ACCEPT`,                         // -s without a value
		`-A X ! -j ACCEPT`,                          // negated target
		`-A X -s 1.2.3.4 !`,                         // dangling !
		`-A X -j DNAT`,                              // DNAT without a destination
		`-A X -j DNAT --to-destination nowhere`,
		`-A X -j MARK --set-xmark zero`,
		`-A X -d 1.2.3.4 junk -j ACCEPT`,
	} {
		if r, err := ParseRule(line); err == nil {
			t.Errorf("%s: parsed as %+v", line, r)
		}
	}
}

// TestUnsupported: rules the tracer cannot evaluate say so; the affinity
// check is understood (it deliberately never matches) and is not listed.
func TestUnsupported(t *testing.T) {
	for line, want := range map[string]string{
		`-A X -i eth0 -j DROP`: "-i eth0",
		`-A X -m statistic --mode nth --every 2 --packet 0 -j RETURN`:                        "-m statistic --mode nth, -m statistic --every 2, -m statistic --packet 0",
		`-A X -p tcp -m tcp --sport 80 -j RETURN`:                                            "-m tcp --sport 80",
		`-A X -m nfacct --nfacct-name x -j RETURN`:                                           "-m nfacct --nfacct-name x",
		`-A X -j LOG --log-prefix "x: "`:                                                     "-j LOG",
		`-A X -m recent --rcheck --seconds 10 --reap --name Y -j Y`:                          "",
		`-A X -m addrtype --dst-type LOCAL -m conntrack ! --ctstate DNAT -j RETURN`:          "",
		`-A X -m addrtype --dst-type BLACKHOLE -j RETURN`:                                    "-m addrtype --dst-type BLACKHOLE",
		`-A X -p udp -m multiport --dports 53,5353,6000:6010 -m state --state NEW -j ACCEPT`: "",
	} {
		r, err := ParseRule(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if got := strings.Join(r.Unsupported(), ", "); got != want {
			t.Errorf("%s: Unsupported() = %q, want %q", line, got, want)
		}
	}
}

func TestRuleString(t *testing.T) {
	line := `-A X -m comment --comment "say \"hi\"" -p tcp -m tcp --dport 80 -j ACCEPT`
	r, err := ParseRule(line)
	if err != nil {
		t.Fatal(err)
	}
	if r.String() != line {
		t.Errorf("String() = %q", r.String())
	}
	if got, want := r.describe(), `X: "say \"hi\"" -j ACCEPT`; got != want {
		t.Errorf("describe() = %q, want %q", got, want)
	}
	r, _ = ParseRule(`-A KUBE-SEP-X -s 10.1.2.3/32 -j KUBE-MARK-MASQ`)
	if got, want := r.describe(), `KUBE-SEP-X: -s 10.1.2.3/32 -j KUBE-MARK-MASQ`; got != want {
		t.Errorf("describe() = %q, want %q", got, want)
	}
}
