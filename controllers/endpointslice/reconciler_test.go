package endpointslice

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func unitTarget(limit int) *target {
	return &target{
		key: "ns/web", namespace: "ns", generateName: "web-",
		owner:        metav1.OwnerReference{APIVersion: "v1", Kind: "Service", Name: "web", UID: "svc-uid", Controller: ptr.To(true)},
		labels:       map[string]string{discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: controllerName},
		maxEndpoints: limit, placeholder: true,
	}
}

func ports(nums ...int32) []discoveryv1.EndpointPort {
	out := []discoveryv1.EndpointPort{}
	for _, n := range nums {
		out = append(out, discoveryv1.EndpointPort{Name: ptr.To(""), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(n)})
	}
	return out
}

func endpoint(ip string, ready bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "pod-" + ip},
	}
}

// wantGroups builds the wanted groups: port -> IPs (all ready).
func wantGroups(byPort map[int32][]string) groups {
	g := groups{}
	for port, ips := range byPort {
		for _, ip := range ips {
			g.add(discoveryv1.AddressTypeIPv4, ports(port), endpoint(ip, true))
		}
	}
	return g
}

func ips(n int, prefix string) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("%s.%d", prefix, i))
	}
	return out
}

// existingSlice is a slice as the API returned it earlier.
func existingSlice(t *target, name string, port []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	s := t.newSlice(discoveryv1.AddressTypeIPv4, port)
	s.Name, s.GenerateName, s.ResourceVersion, s.UID = name, "", "7", types.UID("uid-"+name)
	s.Endpoints = append(s.Endpoints, eps...)
	return s
}

// summary prints a plan as "create[n n] update[name:n] delete[name]".
func summary(p plan) string {
	var c, u, d []string
	for _, s := range p.create {
		c = append(c, fmt.Sprint(len(s.Endpoints)))
	}
	for _, s := range p.update {
		u = append(u, fmt.Sprintf("%s:%d", s.Name, len(s.Endpoints)))
	}
	for _, s := range p.delete {
		d = append(d, s.Name)
	}
	sort.Strings(u)
	sort.Strings(d)
	return fmt.Sprintf("create[%s] update[%s] delete[%s]", strings.Join(c, " "), strings.Join(u, " "), strings.Join(d, " "))
}

func TestComputePlan(t *testing.T) {
	tg := unitTarget(100)
	p80 := ports(80)
	a, b, c := endpoint("10.0.0.1", true), endpoint("10.0.0.2", true), endpoint("10.0.0.3", true)
	full := func(name string) *discoveryv1.EndpointSlice {
		var eps []discoveryv1.Endpoint
		for _, ip := range ips(100, "10.1") {
			eps = append(eps, endpoint(ip, true))
		}
		return existingSlice(tg, name, p80, eps...)
	}
	stranger := existingSlice(tg, "old", p80, a)
	stranger.OwnerReferences[0].UID = "an-earlier-service"
	relabelled := existingSlice(tg, "s1", p80, a)
	relabelled.Labels = map[string]string{"stale": "yes"}

	cases := []struct {
		name     string
		existing []*discoveryv1.EndpointSlice
		wanted   groups
		want     string
	}{
		{"nothing exists, nothing wanted: a placeholder", nil, groups{}, "create[0] update[] delete[]"},
		{"the placeholder stays", []*discoveryv1.EndpointSlice{existingSlice(tg, "ph", ports())}, groups{}, "create[] update[] delete[]"},
		{"the placeholder is reused for the first endpoints",
			[]*discoveryv1.EndpointSlice{existingSlice(tg, "ph", ports())},
			wantGroups(map[int32][]string{80: {"10.0.0.1"}}), "create[] update[ph:1] delete[]"},
		{"250 endpoints make slices of 100, 100 and 50", nil,
			wantGroups(map[int32][]string{80: ips(250, "10.2")}), "create[100 100 50] update[] delete[]"},
		{"an unchanged slice is not written",
			[]*discoveryv1.EndpointSlice{existingSlice(tg, "s1", p80, a, b)},
			wantGroups(map[int32][]string{80: {"10.0.0.1", "10.0.0.2"}}), "create[] update[] delete[]"},
		{"a changed condition is an update in place",
			[]*discoveryv1.EndpointSlice{existingSlice(tg, "s1", p80, a, endpoint("10.0.0.2", false))},
			wantGroups(map[int32][]string{80: {"10.0.0.1", "10.0.0.2"}}), "create[] update[s1:2] delete[]"},
		{"a new endpoint goes into the slice with room",
			[]*discoveryv1.EndpointSlice{existingSlice(tg, "s1", p80, a, b)},
			wantGroups(map[int32][]string{80: {"10.0.0.1", "10.0.0.2", "10.0.0.3"}}), "create[] update[s1:3] delete[]"},
		{"a new endpoint never overfills: full slices stay, a new one is made",
			[]*discoveryv1.EndpointSlice{full("s1")},
			wantGroups(map[int32][]string{80: append(ips(100, "10.1"), "10.0.0.1")}), "create[1] update[] delete[]"},
		{"a slice left empty goes, the placeholder takes its place by reuse",
			[]*discoveryv1.EndpointSlice{existingSlice(tg, "s1", p80, c)},
			groups{}, "create[] update[s1:0] delete[]"},
		{"a slice left empty is deleted when others remain",
			[]*discoveryv1.EndpointSlice{existingSlice(tg, "s1", p80, a), existingSlice(tg, "s2", p80, c)},
			wantGroups(map[int32][]string{80: {"10.0.0.1"}}), "create[] update[] delete[s2]"},
		{"new ports reuse the slice of the old ports",
			[]*discoveryv1.EndpointSlice{existingSlice(tg, "s1", p80, a)},
			wantGroups(map[int32][]string{8080: {"10.0.0.1"}}), "create[] update[s1:1] delete[]"},
		{"two port sets make two slices",
			nil, wantGroups(map[int32][]string{80: {"10.0.0.1"}, 9090: {"10.0.0.2"}}), "create[1 1] update[] delete[]"},
		{"a slice of an earlier Service of the same name is deleted, not reused",
			[]*discoveryv1.EndpointSlice{stranger},
			wantGroups(map[int32][]string{80: {"10.0.0.1"}}), "create[1] update[] delete[old]"},
		{"wrong labels are corrected",
			[]*discoveryv1.EndpointSlice{relabelled},
			wantGroups(map[int32][]string{80: {"10.0.0.1"}}), "create[] update[s1:1] delete[]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := computePlan(tg, tc.existing, tc.wanted)
			if got := summary(p); got != tc.want {
				t.Errorf("plan %s, want %s", got, tc.want)
			}
			for _, s := range append(p.create, p.update...) {
				if len(s.Endpoints) > tg.maxEndpoints {
					t.Errorf("slice with %d endpoints", len(s.Endpoints))
				}
				if s.Labels[discoveryv1.LabelManagedBy] != controllerName || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != "svc-uid" {
					t.Errorf("slice metadata %v %v", s.Labels, s.OwnerReferences)
				}
			}
		})
	}
}

func TestComputePlanKeepsEveryEndpointOnce(t *testing.T) {
	tg := unitTarget(3)
	var existing []*discoveryv1.EndpointSlice
	existing = append(existing,
		existingSlice(tg, "s1", ports(80), endpoint("10.0.0.1", true), endpoint("10.0.0.2", true), endpoint("10.0.0.9", true)),
		existingSlice(tg, "s2", ports(80), endpoint("10.0.0.3", true)))
	wanted := wantGroups(map[int32][]string{80: {"10.0.0.1", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7"}})
	p := computePlan(tg, existing, wanted)
	seen := map[string]int{}
	final := map[string]*discoveryv1.EndpointSlice{"s1": existing[0], "s2": existing[1]}
	for _, s := range p.update {
		final[s.Name] = s
	}
	for _, s := range p.delete {
		delete(final, s.Name)
	}
	for i, s := range p.create {
		final[fmt.Sprint("new", i)] = s
	}
	for _, s := range final {
		for _, ep := range s.Endpoints {
			seen[ep.Addresses[0]]++
		}
	}
	want := map[string]int{"10.0.0.1": 1, "10.0.0.3": 1, "10.0.0.4": 1, "10.0.0.5": 1, "10.0.0.6": 1, "10.0.0.7": 1}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("endpoints after the plan %v, want %v (plan %s)", seen, want, summary(p))
	}
	if got := summary(p); got != "create[] update[s1:3 s2:3] delete[]" {
		t.Errorf("plan %s", got)
	}
}
