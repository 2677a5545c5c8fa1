package loadbalancer

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestParsePool(t *testing.T) {
	tests := []struct {
		in      string
		first   string
		last    string
		n       int
		wantErr string
	}{
		{in: "172.30.0.200-172.30.0.250", first: "172.30.0.200", last: "172.30.0.250", n: 51},
		{in: " 172.30.0.200 - 172.30.0.201 ", first: "172.30.0.200", last: "172.30.0.201", n: 2},
		{in: "172.30.0.200-172.30.0.200", first: "172.30.0.200", last: "172.30.0.200", n: 1},
		{in: "172.30.0.200", first: "172.30.0.200", last: "172.30.0.200", n: 1},
		{in: "172.30.0.192/27", first: "172.30.0.192", last: "172.30.0.223", n: 32},
		{in: "172.30.0.7/32", first: "172.30.0.7", last: "172.30.0.7", n: 1},
		{in: "10.1.0.0/16", first: "10.1.0.0", last: "10.1.255.255", n: 65536},
		{in: "10.0.0.255-10.0.1.1", first: "10.0.0.255", last: "10.0.1.1", n: 3},
		{in: "fd00::10-fd00::1f", first: "fd00::10", last: "fd00::1f", n: 16},
		{in: "fd00::/120", first: "fd00::", last: "fd00::ff", n: 256},
		{in: "", wantErr: "empty load-balancer pool: give a range like 172.30.0.200-172.30.0.250 or a CIDR like 172.30.0.192/27"},
		{in: "172.30.0.250-172.30.0.200", wantErr: `invalid load-balancer pool "172.30.0.250-172.30.0.200": the range ends before it starts; write it as 172.30.0.200-172.30.0.250`},
		{in: "172.30.0.200-", wantErr: `invalid load-balancer pool "172.30.0.200-": "" is not an IP address; give a range like 172.30.0.200-172.30.0.250 or a CIDR like 172.30.0.192/27`},
		{in: "172.30.0.300-172.30.0.301", wantErr: `invalid load-balancer pool "172.30.0.300-172.30.0.301": "172.30.0.300" is not an IP address; give a range like 172.30.0.200-172.30.0.250 or a CIDR like 172.30.0.192/27`},
		{in: "lb", wantErr: `invalid load-balancer pool "lb": "lb" is not an IP address; give a range like 172.30.0.200-172.30.0.250 or a CIDR like 172.30.0.192/27`},
		{in: "172.30.0.200-fd00::1", wantErr: `invalid load-balancer pool "172.30.0.200-fd00::1": the range mixes IPv4 and IPv6; use two addresses of one family`},
		{in: "172.30.0.200/27", wantErr: `invalid load-balancer pool "172.30.0.200/27": the address has bits set beyond the /27; did you mean 172.30.0.192/27?`},
		{in: "172.30.0.0/33", wantErr: `invalid load-balancer pool "172.30.0.0/33": not a CIDR; give a range like 172.30.0.200-172.30.0.250 or a CIDR like 172.30.0.192/27`},
		{in: "10.0.0.0/8", wantErr: `invalid load-balancer pool "10.0.0.0/8": more than 65536 addresses; use a smaller CIDR (at most /16)`},
		{in: "fd00::/64", wantErr: `invalid load-balancer pool "fd00::/64": more than 65536 addresses; use a smaller CIDR (at most /112)`},
		{in: "10.0.0.0-10.1.0.0", wantErr: `invalid load-balancer pool "10.0.0.0-10.1.0.0": more than 65536 addresses; use a smaller range`},
	}
	for _, tc := range tests {
		got, err := ParsePool(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParsePool(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePool(%q): %v", tc.in, err)
			continue
		}
		if len(got) != tc.n || got[0].String() != tc.first || got[len(got)-1].String() != tc.last {
			t.Errorf("ParsePool(%q) = %d addresses %v..%v, want %d %s..%s", tc.in, len(got), got[0], got[len(got)-1], tc.n, tc.first, tc.last)
		}
		if !slices.IsSortedFunc(got, netip.Addr.Compare) {
			t.Errorf("ParsePool(%q) is not in address order", tc.in)
		}
	}
}

func TestPoolDescription(t *testing.T) {
	tests := []struct {
		addrs []netip.Addr
		want  string
	}{
		{addrs("172.30.0.200", "172.30.0.201"), "172.30.0.200-172.30.0.201"},
		{addrs("172.30.0.201", "172.30.0.200", "172.30.0.200"), "172.30.0.200-172.30.0.201"},
		{addrs("172.30.0.200"), "172.30.0.200"},
		{addrs("172.30.0.200", "172.30.0.201", "172.30.0.205", "172.30.0.210", "172.30.0.211"), "172.30.0.200-172.30.0.201,172.30.0.205,172.30.0.210-172.30.0.211"},
		{nil, "(empty)"},
	}
	for _, tc := range tests {
		if got := newPool(tc.addrs).String(); got != tc.want {
			t.Errorf("pool of %v = %q, want %q", tc.addrs, got, tc.want)
		}
	}
}

func TestChoose(t *testing.T) {
	p := newPool(addrs("172.30.0.200", "172.30.0.201", "172.30.0.202"))
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	type cl = claimant
	tests := []struct {
		name    string
		svc     cl
		others  []cl
		want    string
		wantErr string
	}{
		{
			name: "lowest free address",
			svc:  cl{key: "default/a", created: at(0), competes: true},
			want: "172.30.0.200",
		},
		{
			name:   "skips held addresses",
			svc:    cl{key: "default/c", created: at(5), competes: true},
			others: []cl{{key: "default/a", created: at(0), competes: true, holds: addrs("172.30.0.200")}},
			want:   "172.30.0.201",
		},
		{
			name:   "skips requested addresses",
			svc:    cl{key: "default/c", created: at(0), competes: true},
			others: []cl{{key: "default/a", created: at(5), competes: true, requested: "172.30.0.200"}},
			want:   "172.30.0.201",
		},
		{
			name:   "a Service being released still holds its address",
			svc:    cl{key: "default/c", created: at(5), competes: true},
			others: []cl{{key: "default/a", created: at(0), holds: addrs("172.30.0.200")}},
			want:   "172.30.0.201",
		},
		{
			name:   "a Service being released requests nothing",
			svc:    cl{key: "default/c", created: at(5), competes: true},
			others: []cl{{key: "default/a", created: at(0), requested: "172.30.0.200"}},
			want:   "172.30.0.200",
		},
		{
			name: "older Services waiting take the lower addresses",
			svc:  cl{key: "default/c", created: at(2), competes: true},
			others: []cl{
				{key: "default/a", created: at(0), competes: true},
				{key: "default/b", created: at(1), competes: true},
			},
			want: "172.30.0.202",
		},
		{
			name: "same second: namespace/name decides",
			svc:  cl{key: "default/b", created: at(0), competes: true},
			others: []cl{
				{key: "default/a", created: at(0), competes: true},
				{key: "default/c", created: at(0), competes: true},
			},
			want: "172.30.0.201",
		},
		{
			name: "newer Services waiting do not count",
			svc:  cl{key: "default/a", created: at(0), competes: true},
			others: []cl{
				{key: "default/b", created: at(1), competes: true},
				{key: "default/c", created: at(2), competes: true},
			},
			want: "172.30.0.200",
		},
		{
			name: "pool exhausted",
			svc:  cl{key: "default/c", created: at(2), competes: true},
			others: []cl{
				{key: "default/a", created: at(0), competes: true, holds: addrs("172.30.0.200")},
				{key: "default/b", created: at(1), competes: true, holds: addrs("172.30.0.201")},
				{key: "default/x", created: at(1), competes: true},
			},
			wantErr: "no available IPs in pool 172.30.0.200-172.30.0.202",
		},
		{
			name:   "keeps the address it holds",
			svc:    cl{key: "default/b", created: at(1), competes: true, holds: addrs("172.30.0.202")},
			others: []cl{{key: "default/a", created: at(0), competes: true}},
			want:   "172.30.0.202",
		},
		{
			name:   "holding beats an older request",
			svc:    cl{key: "default/b", created: at(1), competes: true, holds: addrs("172.30.0.200")},
			others: []cl{{key: "default/a", created: at(0), competes: true, requested: "172.30.0.200"}},
			want:   "172.30.0.200",
		},
		{
			name:   "two holders: the older keeps it",
			svc:    cl{key: "default/b", created: at(1), competes: true, holds: addrs("172.30.0.200")},
			others: []cl{{key: "default/a", created: at(0), competes: true, holds: addrs("172.30.0.200")}},
			want:   "172.30.0.201",
		},
		{
			name: "the last given address comes before a stale status",
			svc:  cl{key: "default/a", created: at(0), competes: true, holds: addrs("172.30.0.201", "172.30.0.200")},
			want: "172.30.0.201",
		},
		{
			name: "requested address",
			svc:  cl{key: "default/a", created: at(0), competes: true, requested: "172.30.0.202"},
			want: "172.30.0.202",
		},
		{
			name: "requested address moves a Service off the one it holds",
			svc:  cl{key: "default/a", created: at(0), competes: true, requested: "172.30.0.202", holds: addrs("172.30.0.200")},
			want: "172.30.0.202",
		},
		{
			name:    "requested address outside the pool",
			svc:     cl{key: "default/a", created: at(0), competes: true, requested: "10.0.0.1"},
			wantErr: "requested loadBalancerIP 10.0.0.1 is not in pool 172.30.0.200-172.30.0.202",
		},
		{
			name:    "requested address not an IP",
			svc:     cl{key: "default/a", created: at(0), competes: true, requested: "lb"},
			wantErr: `spec.loadBalancerIP "lb" is not an IP address`,
		},
		{
			name:    "requested address held by another",
			svc:     cl{key: "default/a", created: at(0), competes: true, requested: "172.30.0.201"},
			others:  []cl{{key: "default/b", created: at(1), competes: true, holds: addrs("172.30.0.201")}},
			wantErr: "requested loadBalancerIP 172.30.0.201 is already in use by service default/b",
		},
		{
			name:    "requested address also requested by an older Service",
			svc:     cl{key: "other/b", created: at(1), competes: true, requested: "172.30.0.201"},
			others:  []cl{{key: "default/a", created: at(0), competes: true, requested: "172.30.0.201"}},
			wantErr: "requested loadBalancerIP 172.30.0.201 is also requested by service default/a, which came first",
		},
		{
			name:   "requested address also requested by a newer Service",
			svc:    cl{key: "default/a", created: at(0), competes: true, requested: "172.30.0.201"},
			others: []cl{{key: "default/b", created: at(1), competes: true, requested: "172.30.0.201"}},
			want:   "172.30.0.201",
		},
		{
			name:   "a request it holds beats an older request",
			svc:    cl{key: "default/b", created: at(1), competes: true, requested: "172.30.0.201", holds: addrs("172.30.0.201")},
			others: []cl{{key: "default/a", created: at(0), competes: true, requested: "172.30.0.201"}},
			want:   "172.30.0.201",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := tc.svc
			var others []*claimant
			for i := range tc.others {
				others = append(others, &tc.others[i])
			}
			got, err := p.choose(&svc, others)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("choose = %v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("choose = %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestEqualLoadBalancerStatus(t *testing.T) {
	want := ingressStatus(netip.MustParseAddr("172.30.0.200"))
	tests := []struct {
		name string
		got  corev1.LoadBalancerStatus
		same bool
	}{
		{"same", corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "172.30.0.200", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP), Ports: []corev1.PortStatus{}}}}, true},
		{"no ipMode", corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "172.30.0.200"}}}, false},
		{"Proxy", corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "172.30.0.200", IPMode: ptr.To(corev1.LoadBalancerIPModeProxy)}}}, false},
		{"other address", corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "172.30.0.201", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}}, false},
		{"empty", corev1.LoadBalancerStatus{}, false},
	}
	for _, tc := range tests {
		if got := equalLoadBalancerStatus(&tc.got, &want); got != tc.same {
			t.Errorf("%s: equal = %v, want %v", tc.name, got, tc.same)
		}
	}
	if !equalLoadBalancerStatus(&corev1.LoadBalancerStatus{}, &corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{}}) {
		t.Error("an empty ingress list differs from none")
	}
}
