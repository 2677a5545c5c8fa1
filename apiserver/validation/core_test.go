package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNamespace(t *testing.T) {
	ns := namespace()
	ns.Spec.Finalizers = append(ns.Spec.Finalizers, "cleanup")
	// kube-apiserver reports spec.finalizers problems without an index.
	expectErrors(t, ValidateCreate(ns), `spec.finalizers: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified`)

	ns = namespace()
	ns.Namespace = "default"
	expectErrors(t, ValidateCreate(ns), `metadata.namespace: Forbidden: not allowed on this type`)

	ns = namespace()
	ns.Status.Phase = corev1.NamespaceTerminating
	expectErrors(t, ValidateStatusUpdate(ns, namespace()), "status.Phase: Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty")
}

func TestNode(t *testing.T) {
	taint := corev1.Taint{Key: "dedicated", Value: "lab", Effect: corev1.TaintEffectNoSchedule}
	cases := []struct {
		name   string
		mutate func(*corev1.Node)
		want   []string
	}{
		{"taint effect", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Effect: "Never"}} },
			[]string{`metadata.taints[0].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`}},
		{"duplicate taint", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{taint, taint} },
			[]string{`metadata.taints[1]: Duplicate value: core.Taint{Key:"dedicated", Value:"lab", Effect:"NoSchedule", TimeAdded:<nil>}: taints must be unique by key and effect pair`}},
		{"same key, other effect", func(n *corev1.Node) {
			other := taint
			other.Effect = corev1.TaintEffectNoExecute
			n.Spec.Taints = []corev1.Taint{taint, other}
		}, nil},
		{"pod CIDR", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/33"} },
			[]string{`spec.podCIDRs[0]: Invalid value: "10.244.1.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)`}},
		{"negative capacity", func(n *corev1.Node) { n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse("-1") },
			[]string{`status.capacity.cpu: Invalid value: "-1": must be greater than or equal to 0`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := node()
			tc.mutate(n)
			expectErrors(t, ValidateCreate(n), tc.want...)
		})
	}

	n := node()
	n.Spec.PodCIDRs = []string{"10.244.9.0/24"}
	expectErrors(t, ValidateUpdate(n, node()), `spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid`)

	n = node()
	n.Spec.Unschedulable = true // kubectl cordon
	expectErrors(t, ValidateUpdate(n, node()))
}

func TestEvent(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.Event)
		want   []string
	}{
		{"event in another namespace than its object", func(e *corev1.Event) { e.InvolvedObject.Namespace = "kube-system" },
			[]string{`involvedObject.namespace: Invalid value: "kube-system": does not match event.namespace`}},
		{"events about nodes live in default", func(e *corev1.Event) {
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "minilab-worker"}
		}, nil},
		{"new-style events need a reporter", func(e *corev1.Event) { e.EventTime = metav1.NowMicro() },
			[]string{`reportingController: Required value`,
				`reportingController: Invalid value: "": name part must be non-empty`,
				`reportingController: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
				`reportingInstance: Required value`, `action: Required value`}},
		{"events need a namespace", func(e *corev1.Event) { e.Namespace = "" },
			[]string{`involvedObject.namespace: Invalid value: "default": does not match event.namespace`,
				`namespace: Invalid value: "": ` + dns1123SubdomainMsg}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := event()
			tc.mutate(e)
			expectErrors(t, ValidateCreate(e), tc.want...)
		})
	}
}

func TestConfigMap(t *testing.T) {
	cm := configMap()
	cm.Data["bad key"] = "x"
	cm.BinaryData = map[string][]byte{"APP_MODE": []byte("lab")}
	expectErrors(t, ValidateCreate(cm),
		`data[APP_MODE]: Invalid value: "APP_MODE": duplicate of key present in binaryData`,
		`data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`)

	cm = configMap()
	cm.Data["big"] = strings.Repeat("x", 1024*1024)
	// The error is about the whole object, which kubectl shows as "[]".
	expectErrors(t, ValidateCreate(cm), `[]: Too long: may not be more than 1048576 bytes`)

	old := configMap()
	old.Immutable = ptrTo(true)
	cm = old.DeepCopy()
	cm.Data["APP_MODE"] = "prod"
	cm.Immutable = nil
	expectErrors(t, ValidateUpdate(cm, old),
		"immutable: Forbidden: field is immutable when `immutable` is set",
		"data: Forbidden: field is immutable when `immutable` is set")
}

func TestServiceAccount(t *testing.T) {
	sa := serviceAccount()
	sa.Name = "Builder"
	expectErrors(t, ValidateCreate(sa), `metadata.name: Invalid value: "Builder": `+dns1123SubdomainMsg)
}

func TestEndpoints(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.Endpoints)
		want   []string
	}{
		{"subset without addresses", func(e *corev1.Endpoints) { e.Subsets[0].Addresses = nil },
			[]string{"subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"}},
		{"not-ready addresses only", func(e *corev1.Endpoints) {
			e.Subsets[0].NotReadyAddresses, e.Subsets[0].Addresses = e.Subsets[0].Addresses, nil
		}, nil},
		{"invalid address", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "10.244.1" },
			[]string{`subsets[0].addresses[0].ip: Invalid value: "10.244.1": ` + ipMsg}},
		{"loopback address", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "127.0.0.1" },
			[]string{`subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)`}},
		{"link-local address", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "169.254.169.254" },
			[]string{`subsets[0].addresses[0].ip: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)`}},
		{"second port needs a name", func(e *corev1.Endpoints) {
			e.Subsets[0].Ports = append(e.Subsets[0].Ports, corev1.EndpointPort{Port: 8443, Protocol: corev1.ProtocolTCP})
		}, []string{`subsets[0].ports[1].name: Required value`}},
		{"port protocol", func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Protocol = "" },
			[]string{`subsets[0].ports[0].protocol: Required value`}},
		{"hostname", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].Hostname = "web_0" },
			[]string{`subsets[0].addresses[0].hostname: Invalid value: "web_0": ` + dns1123LabelMsg}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := endpoints()
			tc.mutate(e)
			expectErrors(t, ValidateCreate(e), tc.want...)
		})
	}
}

func TestEndpointSlice(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*discoveryv1.EndpointSlice)
		want   []string
	}{
		{"unknown address type", func(s *discoveryv1.EndpointSlice) { s.AddressType = "IP" },
			[]string{`addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"`}},
		{"IPv6 address in an IPv4 slice", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"fd00:10:244::5"} },
			[]string{`endpoints[0].addresses[0]: Invalid value: "fd00:10:244::5": must be an IPv4 address`}},
		{"IPv6 slice", func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeIPv6
			s.Endpoints[0].Addresses = []string{"fd00:10:244::5"}
		}, nil},
		{"unspecified address", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"0.0.0.0"} },
			[]string{`endpoints[0].addresses[0]: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)`}},
		{"endpoint without address", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil },
			[]string{`endpoints[0].addresses: Required value: must contain at least 1 address`}},
		{"too many endpoints", func(s *discoveryv1.EndpointSlice) {
			for len(s.Endpoints) <= 1000 {
				s.Endpoints = append(s.Endpoints, s.Endpoints[0])
			}
		}, []string{`endpoints: Too many: 1001: must have at most 1000 items`}},
		{"hostname is a DNS label", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Hostname = ptrTo("web.0") },
			[]string{`endpoints[0].hostname: Invalid value: "web.0": must not contain dots`}},
		{"port protocol required", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = nil },
			[]string{`ports[0].protocol: Required value`}},
		{"duplicate port names", func(s *discoveryv1.EndpointSlice) { s.Ports = append(s.Ports, s.Ports[0]) },
			[]string{`ports[1].name: Duplicate value: "http"`}},
		{"port names are DNS labels", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Name = ptrTo("HTTP") },
			[]string{`ports[0].name: Invalid value: "HTTP": ` + dns1123LabelMsg}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := endpointSlice()
			tc.mutate(s)
			expectErrors(t, ValidateCreate(s), tc.want...)
		})
	}

	s := endpointSlice()
	s.AddressType = discoveryv1.AddressTypeIPv6
	s.Endpoints[0].Addresses = []string{"fd00:10:244::5"}
	expectErrors(t, ValidateUpdate(s, endpointSlice()), `addressType: Invalid value: "IPv6": field is immutable`)
}

func TestParseIPSloppy(t *testing.T) {
	cases := map[string]string{
		"10.96.0.1":       "10.96.0.1",
		"010.096.000.001": "10.96.0.1",
		"fd00::1":         "fd00::1",
		"10.96.0":         "<nil>",
		"10.96.0.256":     "<nil>",
		"":                "<nil>",
	}
	for in, want := range cases {
		if got := parseIPSloppy(in).String(); got != want {
			t.Errorf("parseIPSloppy(%q) = %s, want %s", in, got, want)
		}
	}
}
