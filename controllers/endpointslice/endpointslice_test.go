package endpointslice

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// sliceWant is what one slice must hold.
type sliceWant struct {
	ports     []discoveryv1.EndpointPort
	endpoints []discoveryv1.Endpoint // any order
}

func tcp(name string, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}
}

// podEndpointFor is the endpoint the controller must write for pod.
func podEndpointFor(pod *corev1.Pod, ready, serving, terminating bool, zone string) discoveryv1.Endpoint {
	ep := discoveryv1.Endpoint{
		Addresses:  []string{pod.Status.PodIP},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(serving), Terminating: ptr.To(terminating)},
		NodeName:   ptr.To(pod.Spec.NodeName),
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if zone != "" {
		ep.Zone = ptr.To(zone)
	}
	return ep
}

func (l *lab) slicesOf(ns, service string) []discoveryv1.EndpointSlice {
	l.t.Helper()
	list, err := l.client.DiscoveryV1().EndpointSlices(ns).List(l.ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	l.must(err)
	return list.Items
}

func byAddress(eps []discoveryv1.Endpoint) []discoveryv1.Endpoint {
	out := append([]discoveryv1.Endpoint(nil), eps...)
	sort.Slice(out, func(i, j int) bool { return out[i].Addresses[0] < out[j].Addresses[0] })
	return out
}

// waitForSlices waits until the Service's slices hold exactly want (one
// slice per entry, matched by ports) and returns them.
func (l *lab) waitForSlices(ns, service string, want ...sliceWant) []discoveryv1.EndpointSlice {
	l.t.Helper()
	var slices []discoveryv1.EndpointSlice
	l.eventually(func() string {
		slices = l.slicesOf(ns, service)
		if msg := matchSlices(slices, want); msg != "" {
			got, _ := yaml.Marshal(slices)
			return fmt.Sprintf("slices of %s/%s: %s\n%s", ns, service, msg, got)
		}
		return ""
	})
	return slices
}

func matchSlices(slices []discoveryv1.EndpointSlice, want []sliceWant) string {
	if len(slices) != len(want) {
		return fmt.Sprintf("%d slices, want %d", len(slices), len(want))
	}
	used := map[int]bool{}
	for _, w := range want {
		found := false
		for i, s := range slices {
			if used[i] || !apiequality.Semantic.DeepEqual(s.Ports, w.ports) {
				continue
			}
			if !apiequality.Semantic.DeepEqual(byAddress(s.Endpoints), byAddress(w.endpoints)) {
				return fmt.Sprintf("slice %s has other endpoints", s.Name)
			}
			used[i], found = true, true
			break
		}
		if !found {
			return fmt.Sprintf("no slice with ports %s", describe(w.ports))
		}
	}
	return ""
}

func TestSlicesOfAService(t *testing.T) {
	l := startLab(t)
	l.createNode("minilab-worker", "zone-a")
	l.createNode("minilab-worker2", "")
	ns := "default"
	web := map[string]string{"app": "web"}
	http := func(n int32) []corev1.ContainerPort {
		return []corev1.ContainerPort{{Name: "http", ContainerPort: n, Protocol: corev1.ProtocolTCP}}
	}
	a := l.createPod(ns, testPod{name: "web-a", ip: "10.244.1.5", node: "minilab-worker", ready: true, labels: web, ports: http(8080)})
	b := l.createPod(ns, testPod{name: "web-b", ip: "10.244.2.5", node: "minilab-worker2", ready: false, labels: web, ports: http(8080)})
	c := l.createPod(ns, testPod{name: "web-c", ip: "10.244.2.6", node: "minilab-worker2", ready: true, labels: web, ports: http(9090)})
	l.createPod(ns, testPod{name: "web-pending", labels: web, ports: http(8080)})
	l.createPod(ns, testPod{name: "other", ip: "10.244.1.9", node: "minilab-worker", ready: true, labels: map[string]string{"app": "other"}})

	svc, err := l.client.CoreV1().Services(ns).Create(l.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{Selector: web, Ports: []corev1.ServicePort{
			{Port: 80, TargetPort: intstr.FromString("http")},
		}},
	}, metav1.CreateOptions{})
	l.must(err)

	// web-c's "http" is 9090: a slice has one list of ports, so it gets
	// its own slice. The unnamed port has name "" (never nil).
	slices := l.waitForSlices(ns, "web",
		sliceWant{ports: []discoveryv1.EndpointPort{tcp("", 8080)}, endpoints: []discoveryv1.Endpoint{
			podEndpointFor(a, true, true, false, "zone-a"),
			podEndpointFor(b, false, false, false, ""),
		}},
		sliceWant{ports: []discoveryv1.EndpointPort{tcp("", 9090)}, endpoints: []discoveryv1.Endpoint{
			podEndpointFor(c, true, true, false, ""),
		}},
	)
	wantLabels := map[string]string{"tier": "front", discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}
	wantOwner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: "web", UID: svc.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	for _, s := range slices {
		if !strings.HasPrefix(s.Name, "web-") || len(s.Name) != len("web-")+5 {
			t.Errorf("slice name %q, want web-<5 random characters>", s.Name)
		}
		if !apiequality.Semantic.DeepEqual(s.Labels, wantLabels) {
			t.Errorf("slice %s labels %v, want %v", s.Name, s.Labels, wantLabels)
		}
		if !apiequality.Semantic.DeepEqual(s.OwnerReferences, wantOwner) {
			t.Errorf("slice %s ownerReferences %s, want %s", s.Name, describe(s.OwnerReferences), describe(wantOwner))
		}
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			t.Errorf("slice %s addressType %s", s.Name, s.AddressType)
		}
		if _, ok := s.Annotations[corev1.EndpointsLastChangeTriggerTime]; !ok {
			t.Errorf("slice %s has no %s annotation", s.Name, corev1.EndpointsLastChangeTriggerTime)
		}
	}

	// A node that gets a zone label later: its endpoints get the zone.
	node, err := l.client.CoreV1().Nodes().Get(l.ctx, "minilab-worker2", metav1.GetOptions{})
	l.must(err)
	node.Labels[corev1.LabelTopologyZone] = "zone-b"
	_, err = l.client.CoreV1().Nodes().Update(l.ctx, node, metav1.UpdateOptions{})
	l.must(err)
	l.waitForSlices(ns, "web",
		sliceWant{ports: []discoveryv1.EndpointPort{tcp("", 8080)}, endpoints: []discoveryv1.Endpoint{
			podEndpointFor(a, true, true, false, "zone-a"),
			podEndpointFor(b, false, false, false, "zone-b"),
		}},
		sliceWant{ports: []discoveryv1.EndpointPort{tcp("", 9090)}, endpoints: []discoveryv1.Endpoint{
			podEndpointFor(c, true, true, false, "zone-b"),
		}},
	)

	// Deleting the Service deletes its slices.
	l.must(l.client.CoreV1().Services(ns).Delete(l.ctx, "web", metav1.DeleteOptions{}))
	l.waitForSlices(ns, "web")
}

func TestSliceEndpointLifecycle(t *testing.T) {
	l := startLab(t)
	l.createNode("minilab-worker", "")
	ns := "default"
	app := map[string]string{"app": "hello"}
	mk := func(name string, selector map[string]string) {
		_, err := l.client.CoreV1().Services(ns).Create(l.ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
		}, metav1.CreateOptions{})
		l.must(err)
	}
	mk("hello", app)
	port := []discoveryv1.EndpointPort{tcp("http", 8080)}

	// No pod yet: one placeholder slice without endpoints or ports.
	placeholder := l.waitForSlices(ns, "hello", sliceWant{ports: []discoveryv1.EndpointPort{}, endpoints: nil})[0]

	// A pod that is not ready yet, on the same (reused) slice.
	p := l.createPod(ns, testPod{name: "hello-1", ip: "10.244.1.20", node: "minilab-worker", labels: app, finalizers: []string{"minilab.test/hold"}})
	s := l.waitForSlices(ns, "hello", sliceWant{ports: port, endpoints: []discoveryv1.Endpoint{podEndpointFor(p, false, false, false, "")}})[0]
	if s.Name != placeholder.Name {
		t.Errorf("the placeholder %s was replaced by %s instead of reused", placeholder.Name, s.Name)
	}
	p = l.setStatus(p, "10.244.1.20", true)
	s = l.waitForSlices(ns, "hello", sliceWant{ports: port, endpoints: []discoveryv1.Endpoint{podEndpointFor(p, true, true, false, "")}})[0]

	// No-op changes write nothing. The barrier Service's pod is queued
	// after the annotation change; with one worker, once its slice shows
	// it, the change was handled.
	p.Annotations = map[string]string{"touched": "yes"}
	p, err := l.client.CoreV1().Pods(ns).Update(l.ctx, p, metav1.UpdateOptions{})
	l.must(err)
	barrier := map[string]string{"app": "barrier"}
	mk("barrier", barrier)
	b := l.createPod(ns, testPod{name: "barrier-1", ip: "10.244.1.21", node: "minilab-worker", ready: true, labels: barrier})
	l.waitForSlices(ns, "barrier", sliceWant{ports: port, endpoints: []discoveryv1.Endpoint{podEndpointFor(b, true, true, false, "")}})
	if again := l.slicesOf(ns, "hello")[0]; again.ResourceVersion != s.ResourceVersion {
		t.Errorf("a pod annotation change rewrote the slice: resourceVersion %s -> %s", s.ResourceVersion, again.ResourceVersion)
	}

	// Terminating: still listed, serving, not ready, terminating.
	l.must(l.client.CoreV1().Pods(ns).Delete(l.ctx, "hello-1", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
	l.waitForSlices(ns, "hello", sliceWant{ports: port, endpoints: []discoveryv1.Endpoint{podEndpointFor(p, false, true, true, "")}})

	// Gone: back to the placeholder, still the same slice.
	p, err = l.client.CoreV1().Pods(ns).Get(l.ctx, "hello-1", metav1.GetOptions{})
	l.must(err)
	p.Finalizers = nil
	_, err = l.client.CoreV1().Pods(ns).Update(l.ctx, p, metav1.UpdateOptions{})
	l.must(err)
	s = l.waitForSlices(ns, "hello", sliceWant{ports: []discoveryv1.EndpointPort{}, endpoints: nil})[0]
	if s.Name != placeholder.Name {
		t.Errorf("the slice %s was replaced by %s instead of reused", placeholder.Name, s.Name)
	}

	// A slice someone deletes comes back.
	l.must(l.client.DiscoveryV1().EndpointSlices(ns).Delete(l.ctx, s.Name, metav1.DeleteOptions{}))
	l.eventually(func() string {
		if got := l.slicesOf(ns, "hello"); len(got) != 1 || got[0].Name == s.Name {
			return fmt.Sprintf("slices after a deletion: %s", describe(got))
		}
		return ""
	})
}

func TestHeadlessSlices(t *testing.T) {
	l := startLab(t)
	l.createNode("minilab-worker", "")
	ns := "default"
	db := map[string]string{"app": "db"}
	_, err := l.client.CoreV1().Services(ns).Create(l.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: db, Ports: []corev1.ServicePort{{Port: 5432}}},
	}, metav1.CreateOptions{})
	l.must(err)
	p := l.createPod(ns, testPod{name: "db-0", ip: "10.244.1.30", node: "minilab-worker", ready: true, labels: db, hostname: "db-0", subdomain: "db"})
	want := podEndpointFor(p, true, true, false, "")
	want.Hostname = ptr.To("db-0")
	s := l.waitForSlices(ns, "db", sliceWant{ports: []discoveryv1.EndpointPort{tcp("", 5432)}, endpoints: []discoveryv1.Endpoint{want}})[0]
	if v, ok := s.Labels[corev1.IsHeadlessService]; !ok || v != "" {
		t.Errorf("labels %v lack %s", s.Labels, corev1.IsHeadlessService)
	}
}

func TestMirroring(t *testing.T) {
	l := startLab(t)
	ns := "default"
	for _, name := range []string{"external", "skipped", "selected"} {
		spec := corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}
		if name == "selected" {
			spec.Selector = map[string]string{"app": "selected"}
		}
		_, err := l.client.CoreV1().Services(ns).Create(l.ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{})
		l.must(err)
	}
	endpoints := func(name string, labels map[string]string, ready ...string) *corev1.Endpoints {
		var addrs []corev1.EndpointAddress
		for _, ip := range ready {
			addrs = append(addrs, corev1.EndpointAddress{IP: ip})
		}
		ep := &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{"note": "by hand"}},
			Subsets: []corev1.EndpointSubset{{
				Addresses:         addrs,
				NotReadyAddresses: []corev1.EndpointAddress{{IP: "172.30.0.101", NodeName: ptr.To("minilab-worker")}},
				Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080}},
			}},
		}
		created, err := l.client.CoreV1().Endpoints(ns).Create(l.ctx, ep, metav1.CreateOptions{})
		l.must(err)
		return created
	}
	// Queued before "external": with one worker, once external's slice
	// exists these were handled.
	endpoints("skipped", map[string]string{discoveryv1.LabelSkipMirror: "true"}, "172.30.0.110")
	endpoints("selected", nil, "172.30.0.120")
	ep := endpoints("external", map[string]string{"team": "net"}, "172.30.0.100")

	mirrored := func(ip string, ready bool, node string) discoveryv1.Endpoint {
		e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}
		if node != "" {
			e.NodeName = ptr.To(node)
		}
		return e
	}
	port := []discoveryv1.EndpointPort{tcp("http", 8080)}
	s := l.waitForSlices(ns, "external", sliceWant{ports: port, endpoints: []discoveryv1.Endpoint{
		mirrored("172.30.0.100", true, ""), mirrored("172.30.0.101", false, "minilab-worker"),
	}})[0]
	wantLabels := map[string]string{"team": "net", discoveryv1.LabelServiceName: "external", discoveryv1.LabelManagedBy: "endpointslicemirroring-controller.k8s.io"}
	wantOwner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Endpoints", Name: "external", UID: ep.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	switch {
	case !strings.HasPrefix(s.Name, "external-"):
		t.Errorf("mirrored slice name %q", s.Name)
	case !apiequality.Semantic.DeepEqual(s.Labels, wantLabels):
		t.Errorf("mirrored slice labels %v, want %v", s.Labels, wantLabels)
	case !apiequality.Semantic.DeepEqual(s.Annotations, map[string]string{"note": "by hand"}):
		t.Errorf("mirrored slice annotations %v", s.Annotations)
	case !apiequality.Semantic.DeepEqual(s.OwnerReferences, wantOwner):
		t.Errorf("mirrored slice owner %s", describe(s.OwnerReferences))
	}
	for _, name := range []string{"skipped", "kubernetes"} {
		for _, got := range l.slicesOf(ns, name) {
			if got.Labels[discoveryv1.LabelManagedBy] == mirrorControllerName {
				t.Errorf("Endpoints %s labelled skip-mirror were mirrored into %s", name, got.Name)
			}
		}
	}
	for _, got := range l.slicesOf(ns, "selected") {
		if got.Labels[discoveryv1.LabelManagedBy] == mirrorControllerName {
			t.Errorf("the Endpoints of a Service with a selector were mirrored into %s", got.Name)
		}
	}

	// An edit is mirrored into the same slice.
	ep.Subsets[0].Addresses = append(ep.Subsets[0].Addresses, corev1.EndpointAddress{IP: "172.30.0.102", Hostname: "box",
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "box", UID: types.UID("box-uid")}})
	_, err := l.client.CoreV1().Endpoints(ns).Update(l.ctx, ep, metav1.UpdateOptions{})
	l.must(err)
	box := mirrored("172.30.0.102", true, "")
	box.Hostname = ptr.To("box")
	box.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "box", UID: types.UID("box-uid")}
	edited := l.waitForSlices(ns, "external", sliceWant{ports: port, endpoints: []discoveryv1.Endpoint{
		mirrored("172.30.0.100", true, ""), mirrored("172.30.0.101", false, "minilab-worker"), box,
	}})[0]
	if edited.Name != s.Name {
		t.Errorf("the mirrored slice %s was replaced by %s", s.Name, edited.Name)
	}

	// Deleting the Endpoints deletes the mirrored slice.
	l.must(l.client.CoreV1().Endpoints(ns).Delete(l.ctx, "external", metav1.DeleteOptions{}))
	l.waitForSlices(ns, "external")
}
