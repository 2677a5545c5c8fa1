package apiserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/minilab/minilab/apiserver/apiservertest"
)

var bg = context.Background()

func TestDiscoveryContentTypes(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{})
	for _, tc := range []struct{ path, accept, wantType, wantBody string }{
		{"/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
			"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", `"apiVersion":"apidiscovery.k8s.io/v2"`},
		{"/api", "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
			"application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", `"apiVersion":"apidiscovery.k8s.io/v2beta1"`},
		{"/apis", "application/json", "application/json", `"kind":"APIGroupList"`},
		{"/api", "", "application/json", `"versions":["v1"]`},
		{"/api/v1", "application/json", "application/json", `"shortNames":["svc"]`},
		{"/apis/apps/v1", "application/json", "application/json", `"name":"deployments/scale"`},
		{"/apis/apps", "application/json", "application/json", `"preferredVersion":{"groupVersion":"apps/v1"`},
	} {
		resp, body := lab.Do("GET", tc.path, map[string]string{"Accept": tc.accept}, "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.wantType || !strings.Contains(string(body), tc.wantBody) {
			t.Errorf("GET %s (Accept %s): %d %q\n%.300s", tc.path, tc.accept, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	// Every served resource is in the aggregated document, with short names.
	_, body := lab.Do("GET", "/api", map[string]string{"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}, "")
	for _, want := range []string{`"resource":"pods"`, `"resource":"services"`, `"resource":"endpoints"`, `"resource":"events"`,
		`"resource":"configmaps"`, `"resource":"serviceaccounts"`, `"resource":"namespaces"`, `"resource":"nodes"`, `"categories":["all"]`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("aggregated /api lacks %s", want)
		}
	}
	if resp, _ := lab.Do("GET", "/apis/metrics.k8s.io/v1beta1", nil, ""); resp.StatusCode != 404 {
		t.Errorf("an unserved group answered %d", resp.StatusCode)
	}
}

func TestWatchFromListVersionAndFromZero(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{})
	c := lab.Client()
	cms := c.CoreV1().ConfigMaps("default")
	mk := func(name string, labels map[string]string) {
		t.Helper()
		if _, err := cms.Create(bg, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("one", map[string]string{"app": "a"})
	list, err := cms.List(bg, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// From the list's version: only what happens afterwards.
	fromList, err := cms.Watch(bg, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer fromList.Stop()
	// From "0": the current objects first, as synthetic ADDED events.
	fromZero, err := cms.Watch(bg, metav1.ListOptions{ResourceVersion: "0", LabelSelector: "app=a"})
	if err != nil {
		t.Fatal(err)
	}
	defer fromZero.Stop()
	expectEvent(t, fromZero, watch.Added, "one")

	mk("two", map[string]string{"app": "b"})
	expectEvent(t, fromList, watch.Added, "two")
	// Selectors apply to the old and new state: leaving the selection is a
	// DELETED for that watcher, entering it an ADDED.
	patch := func(name, app string) {
		t.Helper()
		if _, err := cms.Patch(bg, name, types.MergePatchType, []byte(`{"metadata":{"labels":{"app":"`+app+`"}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	patch("two", "a")
	expectEvent(t, fromZero, watch.Added, "two")
	patch("one", "b")
	expectEvent(t, fromZero, watch.Deleted, "one")
	if err := cms.Delete(bg, "two", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, fromZero, watch.Deleted, "two")
	expectEvent(t, fromList, watch.Modified, "two")
	expectEvent(t, fromList, watch.Modified, "one")
	ev := expectEvent(t, fromList, watch.Deleted, "two")
	// The deleted object carries the revision of its deletion.
	if rv := ev.Object.(*corev1.ConfigMap).ResourceVersion; rv == "" || rv == list.ResourceVersion {
		t.Errorf("DELETED event resourceVersion %q", rv)
	}
}

func TestWatchTooOldAndStreamingLists(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{HistoryLimit: 20})
	cms := lab.Client().CoreV1().ConfigMaps("default")
	first, _ := cms.List(bg, metav1.ListOptions{})
	for i := 0; i < 40; i++ {
		if _, err := cms.Create(bg, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := cms.Watch(bg, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Fatalf("a watch from a compacted revision: %v, want 410 Gone", err)
	}
	if st := errorStatusOf(err); st.Code != 410 || !strings.Contains(st.Message, "too old resource version") {
		t.Fatalf("410 status: %+v", st)
	}

	// sendInitialEvents (client-go's streaming list): every object, then a
	// bookmark marking the end of the initial state.
	w, err := cms.Watch(bg, metav1.ListOptions{SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	added := 0
	for {
		select {
		case ev := <-w.ResultChan():
			switch ev.Type {
			case watch.Added:
				added++
			case watch.Bookmark:
				m := ev.Object.(*corev1.ConfigMap)
				if m.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
					t.Fatalf("bookmark without the initial-events-end annotation: %+v", m.ObjectMeta)
				}
				if added != 41 { // 40 + kube-root-ca.crt
					t.Fatalf("initial events: %d ADDED before the bookmark, want 41", added)
				}
				return
			default:
				t.Fatalf("unexpected %s", ev.Type)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no end-of-initial-events bookmark after %d events", added)
		}
	}
}

func errorStatusOf(err error) metav1.Status {
	if st, ok := err.(apierrors.APIStatus); ok {
		return st.Status()
	}
	return metav1.Status{}
}

func expectEvent(t *testing.T, w watch.Interface, typ watch.EventType, name string) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatalf("watch closed, waiting for %s %s", typ, name)
		}
		m, _ := ev.Object.(metav1.Object)
		if ev.Type != typ || m == nil || m.GetName() != name {
			got := ""
			if m != nil {
				got = m.GetName()
			}
			t.Fatalf("got %s %s, want %s %s", ev.Type, got, typ, name)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s %s within 10s", typ, name)
	}
	return watch.Event{}
}

func TestPagedListsAreConsistent(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{})
	cms := lab.Client().CoreV1().ConfigMaps("default")
	for i := 0; i < 25; i++ {
		cms.Create(bg, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%02d", i)}}, metav1.CreateOptions{})
	}
	page, err := cms.List(bg, metav1.ListOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 10 || page.Continue == "" || page.RemainingItemCount == nil || *page.RemainingItemCount != 16 {
		t.Fatalf("first page: %d items, continue %q, remaining %v", len(page.Items), page.Continue, page.RemainingItemCount)
	}
	// Changes after the first page do not show in later pages.
	cms.Create(bg, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "p-99"}}, metav1.CreateOptions{})
	cms.Delete(bg, "p-20", metav1.DeleteOptions{})
	names := []string{}
	for _, cm := range page.Items {
		names = append(names, cm.Name)
	}
	for page.Continue != "" {
		if page, err = cms.List(bg, metav1.ListOptions{Limit: 10, Continue: page.Continue}); err != nil {
			t.Fatal(err)
		}
		for _, cm := range page.Items {
			names = append(names, cm.Name)
		}
	}
	if len(names) != 26 || !contains(names, "p-20") || contains(names, "p-99") {
		t.Fatalf("paged list is not the snapshot of the first page: %v", names)
	}
	if _, err := cms.List(bg, metav1.ListOptions{Continue: "garbage"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("bad continue token: %v", err)
	}
	if _, err := cms.List(bg, metav1.ListOptions{FieldSelector: "spec.bogus=1"}); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "field label not supported: spec.bogus") {
		t.Fatalf("unsupported field selector: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ownedTree creates a Deployment owning a ReplicaSet owning a Pod, linked
// the way the deployment and replicaset controllers link them (labels
// matching the owners' selectors, or the controllers release them).
func ownedTree(t *testing.T, c kubernetes.Interface, name string) (*appsv1.Deployment, *appsv1.ReplicaSet, *corev1.Pod) {
	t.Helper()
	labels := map[string]string{"app": name}
	template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}
	d, err := c.AppsV1().Deployments("default").Create(bg, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owner := func(apiVersion, kind, name string, uid types.UID) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	}
	rs, err := c.AppsV1().ReplicaSets("default").Create(bg, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-abc", Labels: labels, OwnerReferences: owner("apps/v1", "Deployment", d.Name, d.UID)},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := c.CoreV1().Pods("default").Create(bg, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-abc-xyz", Labels: labels, OwnerReferences: owner("apps/v1", "ReplicaSet", rs.Name, rs.UID)},
		Spec:       template.Spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d, rs, pod
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGarbageCollectionPolicies(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{})
	c := lab.Client()
	gone := func(get func() error) func() bool { return func() bool { return apierrors.IsNotFound(get()) } }
	rsGone := func(name string) func() bool {
		return gone(func() error {
			_, err := c.AppsV1().ReplicaSets("default").Get(bg, name, metav1.GetOptions{})
			return err
		})
	}
	podGone := func(name string) func() bool {
		return gone(func() error { _, err := c.CoreV1().Pods("default").Get(bg, name, metav1.GetOptions{}); return err })
	}

	// Background (kubectl's default): the owner goes at once, then its tree.
	d, rs, pod := ownedTree(t, c, "bg")
	if err := c.AppsV1().Deployments("default").Delete(bg, d.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppsV1().Deployments("default").Get(bg, d.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("background delete: owner still there: %v", err)
	}
	eventually(t, "replicaset collected", rsGone(rs.Name))
	eventually(t, "pod collected", podGone(pod.Name))

	// Foreground: the owner lingers with the foregroundDeletion finalizer
	// until its dependents are gone.
	d, rs, pod = ownedTree(t, c, "fg")
	if err := c.AppsV1().Deployments("default").Delete(bg, d.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod collected", podGone(pod.Name))
	eventually(t, "replicaset collected", rsGone(rs.Name))
	eventually(t, "deployment deleted after its dependents", gone(func() error {
		_, err := c.AppsV1().Deployments("default").Get(bg, d.Name, metav1.GetOptions{})
		return err
	}))

	// Orphan: dependents stay, without the reference to their owner.
	d, rs, _ = ownedTree(t, c, "orphan")
	if err := c.AppsV1().Deployments("default").Delete(bg, d.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deployment deleted", gone(func() error {
		_, err := c.AppsV1().Deployments("default").Get(bg, d.Name, metav1.GetOptions{})
		return err
	}))
	eventually(t, "replicaset orphaned", func() bool {
		got, err := c.AppsV1().ReplicaSets("default").Get(bg, rs.Name, metav1.GetOptions{})
		return err == nil && len(got.OwnerReferences) == 0
	})
	time.Sleep(200 * time.Millisecond)
	if _, err := c.AppsV1().ReplicaSets("default").Get(bg, rs.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("orphaned replicaset was deleted: %v", err)
	}
}

func TestNamespaceLifecycle(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{})
	c := lab.Client()
	_, err := c.CoreV1().ConfigMaps("nowhere").Create(bg, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `namespaces "nowhere" not found`) {
		t.Fatalf("create in a missing namespace: %v", err)
	}
	if _, err := c.CoreV1().Namespaces().Create(bg, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lab"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "default serviceaccount and kube-root-ca.crt", func() bool {
		_, e1 := c.CoreV1().ServiceAccounts("lab").Get(bg, "default", metav1.GetOptions{})
		cm, e2 := c.CoreV1().ConfigMaps("lab").Get(bg, "kube-root-ca.crt", metav1.GetOptions{})
		return e1 == nil && e2 == nil && strings.Contains(cm.Data["ca.crt"], "BEGIN CERTIFICATE")
	})
	// A pod with a finalizer keeps the namespace Terminating until removed.
	_, err = c.CoreV1().ConfigMaps("lab").Create(bg, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Namespaces().Delete(bg, "lab", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, _ := c.CoreV1().Namespaces().Get(bg, "lab", metav1.GetOptions{})
	if ns.Status.Phase != corev1.NamespaceTerminating || ns.DeletionTimestamp == nil {
		t.Fatalf("deleted namespace: phase %s", ns.Status.Phase)
	}
	_, err = c.CoreV1().ConfigMaps("lab").Create(bg, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "unable to create new content in namespace lab because it is being terminated") {
		t.Fatalf("create in a terminating namespace: %v", err)
	}
	eventually(t, "held configmap marked for deletion", func() bool {
		cm, err := c.CoreV1().ConfigMaps("lab").Get(bg, "held", metav1.GetOptions{})
		return err == nil && cm.DeletionTimestamp != nil
	})
	time.Sleep(100 * time.Millisecond)
	if _, err := c.CoreV1().Namespaces().Get(bg, "lab", metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace went away while an object in it had a finalizer: %v", err)
	}
	if _, err := c.CoreV1().ConfigMaps("lab").Patch(bg, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace gone", func() bool {
		_, err := c.CoreV1().Namespaces().Get(bg, "lab", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if err := c.CoreV1().Namespaces().Delete(bg, "kube-system", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("deleting kube-system: %v", err)
	}
}

func TestWritesSemantics(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{})
	c := lab.Client()
	svcs := c.CoreV1().Services("default")
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}}

	// Dry run: validated and defaulted, not stored.
	dry, err := svcs.Create(bg, svc, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || dry.Spec.ClusterIP == "" || dry.UID == "" {
		t.Fatalf("dry-run create: %v %+v", err, dry)
	}
	if _, err := svcs.Get(bg, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run stored the object: %v", err)
	}

	created, err := svcs.Create(bg, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Spec.Ports[0].TargetPort != intstr.FromInt32(80) || created.Spec.SessionAffinity != corev1.ServiceAffinityNone {
		t.Fatalf("defaults: %+v", created.Spec)
	}
	if _, err := svcs.Create(bg, svc, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: %v", err)
	}

	// Optimistic concurrency: a stale resourceVersion is a 409.
	stale := created.DeepCopy()
	created.Labels = map[string]string{"v": "1"}
	if _, err := svcs.Update(bg, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stale.Labels = map[string]string{"v": "2"}
	if _, err := svcs.Update(bg, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) ||
		!strings.Contains(err.Error(), `Operation cannot be fulfilled on services "web": the object has been modified; please apply your changes to the latest version and try again`) {
		t.Fatalf("stale update: %v", err)
	}

	// A no-op update does not bump the resourceVersion.
	cur, _ := svcs.Get(bg, "web", metav1.GetOptions{})
	same, err := svcs.Update(bg, cur, metav1.UpdateOptions{})
	if err != nil || same.ResourceVersion != cur.ResourceVersion {
		t.Fatalf("no-op update moved resourceVersion %s → %s (%v)", cur.ResourceVersion, same.ResourceVersion, err)
	}

	// The main resource cannot change status; /status cannot change spec.
	lb, err := svcs.Create(bg, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lb.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "172.30.0.200"}}
	afterMain, _ := svcs.Update(bg, lb, metav1.UpdateOptions{})
	if len(afterMain.Status.LoadBalancer.Ingress) != 0 {
		t.Fatalf("status changed through the main resource")
	}
	afterMain.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "172.30.0.200"}}
	afterMain.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	afterStatus, err := svcs.UpdateStatus(bg, afterMain, metav1.UpdateOptions{})
	if err != nil || len(afterStatus.Status.LoadBalancer.Ingress) != 1 || afterStatus.Spec.SessionAffinity != corev1.ServiceAffinityNone {
		t.Fatalf("status update: %v %+v", err, afterStatus)
	}
	if ing := afterStatus.Status.LoadBalancer.Ingress[0]; ing.IPMode == nil || *ing.IPMode != corev1.LoadBalancerIPModeVIP {
		t.Fatalf("ingress ipMode not defaulted to VIP: %+v", ing)
	}

	// Type changes as kube-apiserver: NodePort → ClusterIP drops node ports.
	np, err := svcs.Patch(bg, "web", types.StrategicMergePatchType, []byte(`{"spec":{"type":"NodePort"}}`), metav1.PatchOptions{})
	if err != nil || np.Spec.Ports[0].NodePort == 0 {
		t.Fatalf("to NodePort: %v %+v", err, np)
	}
	// Requesting a node port that is taken is refused.
	_, err = svcs.Create(bg, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "clash"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, NodePort: np.Spec.Ports[0].NodePort}}}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), fmt.Sprintf("spec.ports[0].nodePort: Invalid value: %d: provided port is already allocated", np.Spec.Ports[0].NodePort)) {
		t.Fatalf("taken node port: %v", err)
	}
	back, err := svcs.Patch(bg, "web", types.StrategicMergePatchType, []byte(`{"spec":{"type":"ClusterIP"}}`), metav1.PatchOptions{})
	if err != nil || back.Spec.Ports[0].NodePort != 0 || back.Spec.ClusterIP != np.Spec.ClusterIP {
		t.Fatalf("back to ClusterIP: %v %+v", err, back)
	}
	ext, err := svcs.Patch(bg, "web", types.MergePatchType, []byte(`{"spec":{"type":"ExternalName","externalName":"example.com"}}`), metav1.PatchOptions{})
	if err != nil || ext.Spec.ClusterIP != "" || len(ext.Spec.ClusterIPs) != 0 || ext.Spec.IPFamilyPolicy != nil {
		t.Fatalf("to ExternalName: %v %+v", err, ext)
	}

	// JSON patch, and generateName.
	if _, err := svcs.Patch(bg, "web", types.JSONPatchType, []byte(`[{"op":"add","path":"/metadata/labels/patched","value":"yes"}]`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	gen, err := c.CoreV1().ConfigMaps("default").Create(bg, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "cfg-"}}, metav1.CreateOptions{})
	if err != nil || !strings.HasPrefix(gen.Name, "cfg-") || len(gen.Name) != 9 {
		t.Fatalf("generateName: %v %q", err, gen.Name)
	}

	// Generation follows spec changes of workloads, not metadata changes.
	d, _, _ := ownedTree(t, c, "gen")
	if d.Generation != 1 {
		t.Fatalf("new deployment generation %d", d.Generation)
	}
	d2, _ := c.AppsV1().Deployments("default").Patch(bg, "gen", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
	d3, _ := c.AppsV1().Deployments("default").Patch(bg, "gen", types.MergePatchType, []byte(`{"spec":{"replicas":5}}`), metav1.PatchOptions{})
	if d2.Generation != 1 || d3.Generation != 2 {
		t.Fatalf("generation: after a label %d, after replicas %d", d2.Generation, d3.Generation)
	}
	scale, err := c.AppsV1().Deployments("default").GetScale(bg, "gen", metav1.GetOptions{})
	if err != nil || scale.Spec.Replicas != 5 || scale.Status.Selector != "app=gen" {
		t.Fatalf("scale: %v %+v", err, scale)
	}
}

// kubectl 1.32+ creates objects with protobuf bodies.
func TestProtobufRequestBodies(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{})
	cfg := lab.RESTConfig()
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := c.CoreV1().Namespaces().Create(bg, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "proto"}}, metav1.CreateOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceActive {
		t.Fatalf("protobuf create: %v %+v", err, ns)
	}
	d, _, _ := ownedTree(t, c, "proto")
	if d.Spec.Template.Spec.Containers[0].TerminationMessagePath != "/dev/termination-log" {
		t.Fatalf("protobuf deployment not defaulted: %+v", d.Spec.Template.Spec.Containers[0])
	}
	if err := c.AppsV1().Deployments("default").Delete(bg, "proto", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatalf("protobuf DeleteOptions: %v", err)
	}
	raw, _ := json.Marshal(d)
	if len(raw) == 0 {
		t.Fatal("empty")
	}
}

// Paths kubectl does not take but curl users and other clients do.
func TestRawRequests(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{})
	post := func(ct, query, body string) (int, string, string) {
		resp, data := lab.Do("POST", "/api/v1/namespaces/default/configmaps"+query, map[string]string{"Content-Type": ct}, body)
		return resp.StatusCode, resp.Header.Get("Warning"), string(data)
	}
	// Without fieldValidation the server warns about unknown fields.
	code, warning, body := post("application/json", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"warned"},"bogus":1}`)
	if code != 201 || warning != `299 - "unknown field \"bogus\""` {
		t.Errorf("Warn: %d %q %s", code, warning, body)
	}
	// YAML bodies are accepted.
	if code, _, body := post("application/yaml", "", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n"); code != 201 {
		t.Errorf("YAML body: %d %s", code, body)
	}
	// An unknown body format is a 415.
	if code, _, body := post("text/plain", "", "hello"); code != 415 || !strings.Contains(body, `"reason":"UnsupportedMediaType"`) {
		t.Errorf("text/plain body: %d %s", code, body)
	}
	// A kind that does not belong to the URL is refused.
	if code, _, body := post("application/json", "", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`); code != 400 || !strings.Contains(body, "does not match the expected kind") {
		t.Errorf("wrong kind: %d %s", code, body)
	}
	// Invalid objects are 422 with field causes.
	resp, data := lab.Do("POST", "/api/v1/namespaces/default/services", map[string]string{"Content-Type": "application/json"},
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"bad"},"spec":{"ports":[{"port":0,"targetPort":80}]}}`)
	var st metav1.Status
	json.Unmarshal(data, &st)
	if resp.StatusCode != 422 || st.Reason != metav1.StatusReasonInvalid || st.Details == nil || len(st.Details.Causes) != 1 ||
		st.Details.Causes[0].Field != "spec.ports[0].port" || st.Details.Causes[0].Type != metav1.CauseTypeFieldValueInvalid {
		t.Errorf("invalid service: %d %s", resp.StatusCode, data)
	}
	// A watch with timeoutSeconds ends by itself.
	start := time.Now()
	resp, _ = lab.Do("GET", "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&resourceVersion=0", nil, "")
	if resp.StatusCode != 200 || time.Since(start) > 5*time.Second || time.Since(start) < time.Second {
		t.Errorf("watch with timeoutSeconds=1 took %v (%d)", time.Since(start), resp.StatusCode)
	}
	// A Table watch sends column definitions once, in the first event.
	resp, data = lab.Do("GET", "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&resourceVersion=0",
		map[string]string{"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}, "")
	if resp.Header.Get("Content-Type") != "application/json;as=Table;v=v1;g=meta.k8s.io" || strings.Count(string(data), `"columnDefinitions":[{`) != 1 ||
		strings.Count(string(data), `"type":"ADDED"`) != 3 {
		t.Errorf("Table watch: %s\n%s", resp.Header.Get("Content-Type"), data)
	}
	// Unknown resources and paths are 404 Status objects.
	for _, path := range []string{"/api/v1/namespaces/default/secrets", "/apis/apps/v1/deployments/x", "/nope"} {
		if resp, data := lab.Do("GET", path, nil, ""); resp.StatusCode != 404 || !strings.Contains(string(data), `"kind":"Status"`) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, data)
		}
	}
}

// The scheduler places pods through pods/binding, once.
func TestPodBinding(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{})
	pods := lab.Client().CoreV1().Pods("default")
	pod, err := pods.Create(bg, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bind := func(node string) error {
		return pods.Bind(bg, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: pod.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
	}
	if err := bind("w1"); err != nil {
		t.Fatal(err)
	}
	got, _ := pods.Get(bg, "p", metav1.GetOptions{})
	if got.Spec.NodeName != "w1" || len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Type != corev1.PodScheduled {
		t.Fatalf("bound pod: %+v %+v", got.Spec.NodeName, got.Status.Conditions)
	}
	if err := bind("w2"); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `pod p is already assigned to node "w1"`) {
		t.Fatalf("second binding: %v", err)
	}
	// spec.nodeName cannot be changed by an update.
	got.Spec.NodeName = "w2"
	if _, err := pods.Update(bg, got, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("changing nodeName through an update: %v", err)
	}
}
