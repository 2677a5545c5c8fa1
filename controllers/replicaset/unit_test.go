package replicaset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func testPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0)}}
	p.Spec.NodeName = "node-a"
	p.Status.Phase = corev1.PodRunning
	for _, o := range opts {
		o(p)
	}
	return p
}

func unscheduled(p *corev1.Pod) { p.Spec.NodeName = "" }
func onNode(n string) podOpt    { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func readyAt(t time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t)}}
	}
}
func createdAt(t time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t) }
}
func cost(c string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{podDeletionCostAnnotation: c} }
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: n}} }
}

func TestPodsToDeleteOrder(t *testing.T) {
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		owned   []*corev1.Pod
		related []*corev1.Pod // default: owned
		want    string        // the pod deleted first
	}{
		{"unscheduled first", []*corev1.Pod{testPod("scheduled"), testPod("pending", unscheduled, phase(corev1.PodPending))}, nil, "pending"},
		{"pending before running", []*corev1.Pod{testPod("running"), testPod("pending", phase(corev1.PodPending))}, nil, "pending"},
		{"unknown before running", []*corev1.Pod{testPod("running"), testPod("unknown", phase(corev1.PodUnknown))}, nil, "unknown"},
		{"not ready before ready", []*corev1.Pod{testPod("ready", readyAt(t0)), testPod("notready")}, nil, "notready"},
		{"lower deletion cost first", []*corev1.Pod{testPod("cheap", cost("-5")), testPod("dear", cost("10"))}, nil, "cheap"},
		{"invalid cost counts as 0", []*corev1.Pod{testPod("bad", cost("x")), testPod("one", cost("1"))}, nil, "bad"},
		{"crowded node first", []*corev1.Pod{testPod("alone", onNode("b")), testPod("crowded", onNode("a"))},
			[]*corev1.Pod{testPod("alone", onNode("b")), testPod("crowded", onNode("a")), testPod("sibling", onNode("a"))}, "crowded"},
		{"ready more recently first", []*corev1.Pod{testPod("long", readyAt(t0)), testPod("short", readyAt(now.Add(-time.Second)))}, nil, "short"},
		{"more restarts first", []*corev1.Pod{testPod("calm"), testPod("flappy", restarts(3))}, nil, "flappy"},
		{"newer first", []*corev1.Pod{testPod("old", createdAt(t0)), testPod("new", createdAt(now.Add(-time.Second)))}, nil, "new"},
		{"same log bucket: by UID", []*corev1.Pod{testPod("b", createdAt(t0.Add(time.Second))), testPod("a", createdAt(t0))}, nil, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			related := tc.related
			if related == nil {
				related = tc.owned
			}
			got := podsToDelete(tc.owned, related, 1, now)
			if len(got) != 1 || got[0].Name != tc.want {
				t.Fatalf("deleted %s first, want %s", got[0].Name, tc.want)
			}
		})
	}
}

func TestPodsToDeleteAll(t *testing.T) {
	owned := []*corev1.Pod{testPod("a"), testPod("b")}
	if got := podsToDelete(owned, owned, 5, t0); len(got) != 2 {
		t.Fatalf("got %d pods, want both", len(got))
	}
}

func TestCalculateStatus(t *testing.T) {
	now := t0.Add(time.Minute)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Generation: 4}}
	rs.Spec.Replicas = ptr.To(int32(4))
	rs.Spec.Template.Labels = map[string]string{"app": "x", "pod-template-hash": "h"}
	rs.Spec.MinReadySeconds = 30
	labelled := func(p *corev1.Pod) { p.Labels = map[string]string{"app": "x", "pod-template-hash": "h"} }
	pods := []*corev1.Pod{
		testPod("a", labelled, readyAt(now.Add(-time.Minute))),    // available
		testPod("b", labelled, readyAt(now.Add(-10*time.Second))), // ready, not yet available
		testPod("c", labelled),
		testPod("d"), // adopted without the template's labels
	}
	got := calculateStatus(rs, pods, nil, now)
	want := appsv1.ReplicaSetStatus{Replicas: 4, FullyLabeledReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 1}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("status %+v, want %+v", got, want)
	}
	if d := nextAvailable(rs, pods, now); d != 20*time.Second+100*time.Millisecond {
		t.Fatalf("next check in %v, want 20.1s (when b has been ready 30s)", d)
	}

	rs.Spec.MinReadySeconds = 0
	if got := calculateStatus(rs, pods, nil, now); got.AvailableReplicas != 2 {
		t.Fatalf("minReadySeconds 0: %d available, want every ready pod", got.AvailableReplicas)
	}

	failed := calculateStatus(rs, pods[:1], errors.New("quota exceeded"), now)
	if len(failed.Conditions) != 1 || failed.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure ||
		failed.Conditions[0].Reason != "FailedCreate" || failed.Conditions[0].Message != "quota exceeded" {
		t.Fatalf("conditions %+v", failed.Conditions)
	}
	rs.Status = failed
	if got := calculateStatus(rs, pods, nil, now); len(got.Conditions) != 0 {
		t.Fatalf("a successful sync keeps %+v", got.Conditions)
	}
}

func TestExpectations(t *testing.T) {
	e := newExpectations()
	now := t0
	e.now = func() time.Time { return now }
	if !e.satisfied("ns/rs") {
		t.Fatal("nothing recorded: satisfied")
	}
	e.expectCreations("ns/rs", 2)
	e.creationObserved("ns/rs")
	if e.satisfied("ns/rs") {
		t.Fatal("one creation outstanding: not satisfied")
	}
	e.creationObserved("ns/rs")
	if !e.satisfied("ns/rs") {
		t.Fatal("all creations seen: satisfied")
	}
	e.expectDeletions("ns/rs", []string{"ns/a", "ns/b"})
	e.deletionObserved("ns/rs", "ns/a")
	e.deletionObserved("ns/rs", "ns/a") // a repeated observation counts once
	if e.satisfied("ns/rs") {
		t.Fatal("ns/b outstanding: not satisfied")
	}
	now = now.Add(expectationsTimeout + time.Second)
	if !e.satisfied("ns/rs") {
		t.Fatal("expired: satisfied")
	}
	e.forget("ns/rs")
	if !e.satisfied("ns/rs") {
		t.Fatal("forgotten: satisfied")
	}
}

func TestSlowStartBatch(t *testing.T) {
	for _, tc := range []struct {
		n, failFrom   int // calls numbered from 1; failFrom 0: none fail
		wantOK, calls int
	}{
		{n: 0, wantOK: 0, calls: 0},
		{n: 10, wantOK: 10, calls: 10},
		{n: 10, failFrom: 1, wantOK: 0, calls: 1},         // the first batch of 1 fails: stop
		{n: 10, failFrom: 4, wantOK: 3, calls: 7},         // batches 1, 2, 4: the third fails
		{n: 100, failFrom: 1000, wantOK: 100, calls: 100}, // never fails
	} {
		var calls atomic.Int32
		ok, err := slowStartBatch(tc.n, func() error {
			if i := int(calls.Add(1)); tc.failFrom > 0 && i >= tc.failFrom {
				return errors.New("no")
			}
			return nil
		})
		if ok != tc.wantOK || int(calls.Load()) != tc.calls || (err != nil) != (tc.wantOK < tc.n) {
			t.Errorf("n=%d failFrom=%d: ok %d calls %d err %v, want ok %d calls %d", tc.n, tc.failFrom, ok, calls.Load(), err, tc.wantOK, tc.calls)
		}
	}
}

func TestPodFromTemplate(t *testing.T) {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-5d4f8c7b9", UID: "rs-uid"}}
	rs.Spec.Template.Labels = map[string]string{"app": "web"}
	rs.Spec.Template.Annotations = map[string]string{"note": "x"}
	rs.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "nginx"}}
	pod := podFromTemplate(rs)
	if pod.GenerateName != "web-5d4f8c7b9-" || pod.Name != "" || pod.Labels["app"] != "web" || pod.Annotations["note"] != "x" || pod.Spec.Containers[0].Image != "nginx" {
		t.Fatalf("pod %+v", pod)
	}
	ref := pod.OwnerReferences[0]
	if ref.APIVersion != "apps/v1" || ref.Kind != "ReplicaSet" || ref.Name != rs.Name || ref.UID != "rs-uid" || !*ref.Controller || !*ref.BlockOwnerDeletion {
		t.Fatalf("ownerReference %+v", ref)
	}
	pod.Labels["app"] = "changed"
	if rs.Spec.Template.Labels["app"] != "web" {
		t.Fatal("the pod shares the template's label map")
	}
}

// TestFailedCreate uses a fake clientset that refuses pods, which the real
// API server cannot be made to do for a valid template.
func TestFailedCreate(t *testing.T) {
	client := fake.NewSimpleClientset()
	var creates atomic.Int32
	client.PrependReactor("create", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		creates.Add(1)
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New(`exceeded quota: pods`))
	})
	recorder := record.NewFakeRecorder(10)
	c := NewController(client, informers.NewSharedInformerFactory(client, 0), recorder)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u"}}
	rs.Spec.Replicas = ptr.To(int32(5))
	rs.Spec.Template.Labels = map[string]string{"app": "web"}

	err := c.manageReplicas(context.Background(), rs, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "exceeded quota") {
		t.Fatalf("error %v", err)
	}
	if creates.Load() != 1 {
		t.Fatalf("%d creates, want 1 (slow start stops after the first batch)", creates.Load())
	}
	if ev := <-recorder.Events; ev != `Warning FailedCreate Error creating: pods is forbidden: exceeded quota: pods` {
		t.Fatalf("event %q", ev)
	}
	if !c.expectations.satisfied("default/web") {
		t.Fatal("creations that failed or never ran are still expected")
	}
}
