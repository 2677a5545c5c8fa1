package dns

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// --- objects ---------------------------------------------------------------

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

type port struct {
	name  string
	proto corev1.Protocol
	port  int32
}

func clusterIPService(ns, name string, ips []string, ports ...port) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ips[0], ClusterIPs: ips},
	}
	for _, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.name, Protocol: p.proto, Port: p.port})
	}
	return svc
}

func headlessService(ns, name string, ports ...port) *corev1.Service {
	svc := clusterIPService(ns, name, []string{corev1.ClusterIPNone}, ports...)
	return svc
}

func externalNameService(ns, name, target string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target},
	}
}

// ep is an EndpointSlice endpoint: ready is "true", "false" or "" (unset).
type ep struct {
	ip, hostname, ready string
}

func slice(ns, svc, name string, family discoveryv1.AddressType, eps []ep, ports ...port) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: family,
	}
	for _, e := range eps {
		d := discoveryv1.Endpoint{Addresses: []string{e.ip}}
		if e.hostname != "" {
			d.Hostname = ptr(e.hostname)
		}
		if e.ready != "" {
			d.Conditions.Ready = ptr(e.ready == "true")
		}
		es.Endpoints = append(es.Endpoints, d)
	}
	for _, p := range ports {
		es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: ptr(p.name), Protocol: ptr(p.proto), Port: ptr(p.port)})
	}
	return es
}

func ptr[T any](v T) *T { return &v }

// fixture is the made-up cluster most tests query, modelled on the
// examples of dns.md.
func fixture() []runtime.Object {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	v4, v6 := discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6
	var big []ep
	for i := 1; i <= 40; i++ {
		big = append(big, ep{ip: fmt.Sprintf("10.244.5.%d", i), ready: "true"})
	}
	return []runtime.Object{
		namespace("default"), namespace("kube-system"), namespace("shop"), namespace("other"),
		clusterIPService("default", "kubernetes", []string{"10.96.0.1"}, port{"https", tcp, 443}),
		clusterIPService("kube-system", "kube-dns", []string{"10.96.0.10"}, port{"dns", udp, 53}, port{"dns-tcp", tcp, 53}, port{"metrics", tcp, 9153}),

		clusterIPService("shop", "web", []string{"10.96.0.50"}, port{"http", tcp, 80}, port{"https", tcp, 443}),
		slice("shop", "web", "web-abc", v4, []ep{
			{ip: "10.244.1.11", ready: "true"}, {ip: "10.244.2.12"}, {ip: "10.244.1.13", ready: "false"},
		}, port{"http", tcp, 8080}, port{"https", tcp, 8443}),
		clusterIPService("other", "web", []string{"10.96.0.80"}, port{"", tcp, 80}),
		slice("other", "web", "web-xyz", v4, []ep{{ip: "10.244.1.11", ready: "true"}}, port{"", tcp, 8080}),

		clusterIPService("shop", "dual", []string{"10.96.0.60", "fd00:10:96::60"}, port{"http", tcp, 80}),
		clusterIPService("shop", "svcempty", []string{"10.96.0.70"}, port{"http", tcp, 80}),

		headlessService("shop", "db", port{"mysql", tcp, 3306}),
		slice("shop", "db", "db-1", v4, []ep{
			{ip: "10.244.1.20", hostname: "db-0", ready: "true"},
			{ip: "10.244.2.21", hostname: "db-1", ready: "true"},
			{ip: "10.244.1.22", hostname: "db-2", ready: "false"},
		}, port{"mysql", tcp, 3306}),

		headlessService("shop", "dup", port{"http", tcp, 80}),
		slice("shop", "dup", "dup-a", v4, []ep{{ip: "10.244.3.30"}, {ip: "10.244.3.31"}}, port{"http", tcp, 80}),
		slice("shop", "dup", "dup-b", v4, []ep{{ip: "10.244.3.30"}}, port{"http", tcp, 80}),

		headlessService("shop", "empty", port{"http", tcp, 80}),
		slice("shop", "empty", "empty-a", v4, []ep{{ip: "10.244.1.50", ready: "false"}}, port{"http", tcp, 80}),

		headlessService("shop", "noports"),
		slice("shop", "noports", "noports-a", v4, []ep{{ip: "10.244.1.40"}}),

		headlessService("shop", "v6h", port{"http", tcp, 80}),
		slice("shop", "v6h", "v6h-a", v6, []ep{{ip: "fd00:10:244:1::3d"}}, port{"http", tcp, 80}),

		headlessService("shop", "big", port{"http", tcp, 80}),
		slice("shop", "big", "big-a", v4, big, port{"http", tcp, 80}),

		externalNameService("shop", "ext", "foo.example.com"),
		externalNameService("shop", "extnx", "nx.example.com"),
		externalNameService("shop", "extin", "web.shop.svc.cluster.local"),
		externalNameService("shop", "extip", "192.0.2.77"),
	}
}

// --- a server fed by fake informers ----------------------------------------

type testLab struct {
	client *fake.Clientset
	server *Server
}

func newTestLab(t testing.TB, cfg Config, objs ...runtime.Object) *testLab {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	s := New(cfg, factory)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	waitCtx, waitCancel := context.WithTimeout(ctx, 10*time.Second)
	defer waitCancel()
	if !cache.WaitForCacheSync(waitCtx.Done(), s.HasSynced) {
		t.Fatal("informers did not sync")
	}
	return &testLab{client: client, server: s}
}

// --- querying the handler --------------------------------------------------

// recorder is a dns.ResponseWriter that keeps the reply as it would go on
// the wire: packed, then unpacked again.
type recorder struct {
	remote net.Addr
	wire   []byte
	msg    *dns.Msg
	writes int
}

func (r *recorder) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(10, 244, 0, 2), Port: 53} }
func (r *recorder) RemoteAddr() net.Addr { return r.remote }
func (r *recorder) WriteMsg(m *dns.Msg) error {
	r.writes++
	b, err := m.Pack()
	if err != nil {
		return err
	}
	r.wire = b
	r.msg = new(dns.Msg)
	return r.msg.Unpack(b)
}
func (r *recorder) Write(b []byte) (int, error) { r.writes++; r.wire = b; return len(b), nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) TsigStatus() error           { return nil }
func (r *recorder) TsigTimersOnly(bool)         {}
func (r *recorder) Hijack()                     {}

// query describes one request.
type query struct {
	name  string
	qtype uint16
	tcp   bool
	edns  uint16 // 0: no OPT record
	do    bool
}

func (q query) msg() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype)
	if q.edns != 0 {
		m.SetEdns0(q.edns, q.do)
	}
	return m
}

func ask(t testing.TB, s *Server, q query) (*dns.Msg, int) {
	t.Helper()
	rec := &recorder{remote: &net.UDPAddr{IP: net.IPv4(10, 244, 1, 5), Port: 40000}}
	if q.tcp {
		rec.remote = &net.TCPAddr{IP: net.IPv4(10, 244, 1, 5), Port: 40000}
	}
	s.ServeDNS(rec, q.msg())
	if rec.writes != 1 || rec.msg == nil {
		t.Fatalf("%s %s: %d replies written (want exactly 1)", q.name, dns.TypeToString[q.qtype], rec.writes)
	}
	return rec.msg, len(rec.wire)
}

// rrStrings renders records in the one-line zone-file form with single
// spaces, sorted, so sections compare as sets.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	sort.Strings(out)
	return out
}

func sorted(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}
