package statefulset

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// rev is the revision name the controller must give the set's current
// template (the unit tests pin the algorithm to upstream's).
func (l *lab) rev(name string) string {
	l.t.Helper()
	r, err := revisionName(l.get(name))
	l.must(err)
	return r
}

func TestOrderedReadyCreatesOneAtATime(t *testing.T) {
	l := start(t)
	log := l.watchPods()
	set := l.create(newSet("web", 3))
	rev := l.rev("web")

	pods := l.waitForPods("web-0")
	p := pods["web-0"]
	wantLabels := map[string]string{
		"app":                                "nginx",
		"apps.kubernetes.io/pod-index":       "0",
		"statefulset.kubernetes.io/pod-name": "web-0",
		"controller-revision-hash":           rev,
	}
	if !reflect.DeepEqual(p.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", p.Labels, wantLabels)
	}
	if p.GenerateName != "web-" || p.Spec.Hostname != "web-0" || p.Spec.Subdomain != "nginx" {
		t.Errorf("generateName %q hostname %q subdomain %q, want web-, web-0, nginx", p.GenerateName, p.Spec.Hostname, p.Spec.Subdomain)
	}
	wantRefs := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: set.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	if !reflect.DeepEqual(p.OwnerReferences, wantRefs) {
		t.Errorf("ownerReferences %+v, want %+v", p.OwnerReferences, wantRefs)
	}
	wantVolumes := []corev1.Volume{{Name: "www", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "www-web-0"}}}}
	if got := p.Spec.Volumes; len(got) == 0 || !reflect.DeepEqual(got[:1], wantVolumes) {
		t.Errorf("volumes %+v, want first %+v", got, wantVolumes)
	}
	l.waitForEvent("web", corev1.EventTypeNormal, "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful")

	// web-1 waits for web-0 to be Running and Ready, not just Running.
	l.stillPods("web-0")
	l.setPodStatus("web-0", corev1.PodRunning, false)
	l.stillPods("web-0")
	l.ready("web-0")
	l.waitForPods("web-0 web-1")
	l.stillPods("web-0 web-1")
	if h := l.pod("web-1"); h.Spec.Hostname != "web-1" || h.Labels["apps.kubernetes.io/pod-index"] != "1" {
		t.Errorf("web-1: hostname %q, pod-index %q", h.Spec.Hostname, h.Labels["apps.kubernetes.io/pod-index"])
	}
	l.ready("web-1")
	l.waitForPods("web-0 web-1 web-2")
	l.ready("web-2")
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 1, Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3,
		CurrentRevision: rev, UpdateRevision: rev, CollisionCount: ptr.To(int32(0)),
	})
	l.waitForEvent("web", corev1.EventTypeNormal, "SuccessfulCreate", "create Pod web-2 in StatefulSet web successful")
	if got := log.String(); got != "+web-0 +web-1 +web-2" {
		t.Errorf("pods came as %q", got)
	}
}

func TestRecreatesDeletedAndFailedPodsUnderTheSameName(t *testing.T) {
	l := start(t)
	l.create(newSet("web", 2))
	l.waitForPods("web-0")
	l.ready("web-0")
	l.waitForPods("web-0 web-1")
	l.ready("web-1")
	old := l.pods()

	l.deletePod("web-0")
	var fresh *corev1.Pod
	l.waitFor("a new web-0", func() (bool, string) {
		pods := l.pods()
		fresh = pods["web-0"]
		return fresh != nil && fresh.UID != old["web-0"].UID, names(pods)
	})
	if fresh.Spec.Hostname != "web-0" || fresh.Labels["statefulset.kubernetes.io/pod-name"] != "web-0" {
		t.Errorf("recreated web-0 lost its identity: hostname %q, labels %v", fresh.Spec.Hostname, fresh.Labels)
	}
	l.waitForEvent("web", corev1.EventTypeNormal, "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful")
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 1, CurrentReplicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1,
		CurrentRevision: l.rev("web"), UpdateRevision: l.rev("web"), CollisionCount: ptr.To(int32(0)),
	})

	// A failed pod is deleted and comes back under its name.
	l.ready("web-0")
	l.setPodStatus("web-1", corev1.PodFailed, false)
	l.waitFor("a new web-1", func() (bool, string) {
		pods := l.pods()
		p := pods["web-1"]
		return p != nil && p.UID != old["web-1"].UID, names(pods)
	})
	l.waitForEvent("web", corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod web-1 in StatefulSet web successful")
}

func TestOrderedReadyScalesDownFromTheHighestOrdinal(t *testing.T) {
	l := start(t)
	l.create(newSet("web", 3))
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		l.waitFor(name, func() (bool, string) { return l.pods()[name] != nil, names(l.pods()) })
		l.ready(name)
	}
	l.setFinalizers("web-2", hold)
	log := l.watchPods()

	l.patchSet("web", `{"spec":{"replicas":1}}`)
	l.waitForPods("web-0 web-1 web-2(terminating)")
	// web-1 goes only once web-2 is gone.
	l.stillPods("web-0 web-1 web-2(terminating)")
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 2, UpdatedReplicas: 2, AvailableReplicas: 3,
		CurrentRevision: l.rev("web"), UpdateRevision: l.rev("web"), CollisionCount: ptr.To(int32(0)),
	})
	l.setFinalizers("web-2")
	l.waitForPods("web-0")
	l.waitForLog(log, "-web-2 -web-1")
	l.waitForEvent("web", corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful")
	l.waitForEvent("web", corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod web-1 in StatefulSet web successful")
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 2, Replicas: 1, ReadyReplicas: 1, CurrentReplicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1,
		CurrentRevision: l.rev("web"), UpdateRevision: l.rev("web"), CollisionCount: ptr.To(int32(0)),
	})
}

func TestOrderedReadyScaleDownWaitsForUnhealthyPods(t *testing.T) {
	l := start(t)
	l.create(newSet("web", 3))
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		l.waitFor(name, func() (bool, string) { return l.pods()[name] != nil, names(l.pods()) })
		l.ready(name)
	}
	l.setPodStatus("web-0", corev1.PodRunning, false)
	// Pods and StatefulSets come through separate watches: the scale-down
	// must reach a controller that already knows web-0 is unready, which
	// its status saying two ready replicas proves.
	l.waitFor("readyReplicas 2", func() (bool, string) {
		got := l.get("web").Status.ReadyReplicas
		return got == 2, fmt.Sprintf("readyReplicas %d", got)
	})
	l.patchSet("web", `{"spec":{"replicas":2}}`)
	l.stillPods("web-0 web-1 web-2")
	l.ready("web-0")
	l.waitForPods("web-0 web-1")
}

// rollingSet is a set of three Ready pods at the first image.
func rollingSet(t *testing.T, mutate func(*appsv1.StatefulSet)) (*lab, string) {
	l := start(t)
	set := newSet("web", 3)
	if mutate != nil {
		mutate(set)
	}
	l.create(set)
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		l.waitFor(name, func() (bool, string) { return l.pods()[name] != nil, names(l.pods()) })
		l.ready(name)
	}
	rev := l.rev("web")
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 1, Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3,
		CurrentRevision: rev, UpdateRevision: rev, CollisionCount: ptr.To(int32(0)),
	})
	return l, rev
}

// waitForRevision waits for the pod to exist at the revision and returns it.
func (l *lab) waitForRevision(name, revision string) *corev1.Pod {
	l.t.Helper()
	var p *corev1.Pod
	l.waitFor(name+" at "+revision, func() (bool, string) {
		p = l.pods()[name]
		if p == nil {
			return false, "no " + name
		}
		return revisionOf(p) == revision && p.DeletionTimestamp == nil, revisionOf(p)
	})
	return p
}

func (l *lab) revisions() map[string]string {
	out := map[string]string{}
	for name, p := range l.pods() {
		out[name] = revisionOf(p)
	}
	return out
}

func TestRollingUpdateGoesFromTheHighestOrdinalDown(t *testing.T) {
	l, oldRev := rollingSet(t, nil)
	l.setImage("web", "registry.k8s.io/nginx-slim:0.24")
	newRev := l.rev("web")
	if newRev == oldRev {
		t.Fatal("a new image did not make a new revision")
	}
	for i, name := range []string{"web-2", "web-1", "web-0"} {
		p := l.waitForRevision(name, newRev)
		if img := p.Spec.Containers[0].Image; img != "registry.k8s.io/nginx-slim:0.24" {
			t.Errorf("%s image %s", name, img)
		}
		// Lower ordinals wait until this one is Ready.
		want := map[string]string{"web-0": oldRev, "web-1": oldRev, "web-2": oldRev}
		for _, done := range []string{"web-2", "web-1", "web-0"}[:i+1] {
			want[done] = newRev
		}
		l.stillPods("web-0 web-1 web-2")
		if got := l.revisions(); !reflect.DeepEqual(got, want) {
			t.Fatalf("after %s: revisions %v, want %v", name, got, want)
		}
		l.waitForEvent("web", corev1.EventTypeNormal, "SuccessfulDelete", fmt.Sprintf("delete Pod %s in StatefulSet web successful", name))
		if name == "web-2" {
			l.waitForStatus("web", appsv1.StatefulSetStatus{
				ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 2, CurrentReplicas: 2, UpdatedReplicas: 1, AvailableReplicas: 2,
				CurrentRevision: oldRev, UpdateRevision: newRev, CollisionCount: ptr.To(int32(0)),
			})
		}
		l.ready(name)
	}
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3,
		CurrentRevision: newRev, UpdateRevision: newRev, CollisionCount: ptr.To(int32(0)),
	})
}

// The tutorial's "staging an update": with a partition, pods below it keep
// the old template, even when deleted and recreated.
func TestRollingUpdateRespectsThePartition(t *testing.T) {
	l, oldRev := rollingSet(t, nil)
	l.patchSet("web", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}`)
	l.setImage("web", "registry.k8s.io/nginx-slim:0.24")
	newRev := l.rev("web")
	l.waitForRevision("web-2", newRev)
	l.ready("web-2")
	l.stillPods("web-0 web-1 web-2")
	if got, want := l.revisions(), map[string]string{"web-0": oldRev, "web-1": oldRev, "web-2": newRev}; !reflect.DeepEqual(got, want) {
		t.Fatalf("revisions %v, want %v", got, want)
	}

	uid := l.pod("web-0").UID
	l.deletePod("web-0")
	l.waitFor("web-0 back", func() (bool, string) {
		p := l.pods()["web-0"]
		return p != nil && p.UID != uid, names(l.pods())
	})
	p := l.pod("web-0")
	if revisionOf(p) != oldRev || p.Spec.Containers[0].Image != "registry.k8s.io/nginx-slim:0.21" {
		t.Fatalf("web-0 came back at %s with %s, want the old revision %s", revisionOf(p), p.Spec.Containers[0].Image, oldRev)
	}
	l.ready("web-0")

	l.patchSet("web", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`)
	l.waitForRevision("web-1", newRev)
	l.ready("web-1")
	l.waitForRevision("web-0", newRev)
	l.ready("web-0")
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 4, Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3,
		CurrentRevision: newRev, UpdateRevision: newRev, CollisionCount: ptr.To(int32(0)),
	})
}

func TestOnDeleteLeavesPodsUntilDeleted(t *testing.T) {
	l, oldRev := rollingSet(t, func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	})
	l.setImage("web", "registry.k8s.io/nginx-slim:0.24")
	newRev := l.rev("web")
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 0, AvailableReplicas: 3,
		CurrentRevision: oldRev, UpdateRevision: newRev, CollisionCount: ptr.To(int32(0)),
	})
	l.stillPods("web-0 web-1 web-2")
	l.deletePod("web-1")
	l.waitForRevision("web-1", newRev)
	l.ready("web-1")
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 2, UpdatedReplicas: 1, AvailableReplicas: 3,
		CurrentRevision: oldRev, UpdateRevision: newRev, CollisionCount: ptr.To(int32(0)),
	})
	if got, want := l.revisions(), map[string]string{"web-0": oldRev, "web-1": newRev, "web-2": oldRev}; !reflect.DeepEqual(got, want) {
		t.Fatalf("revisions %v, want %v", got, want)
	}
}

func TestParallelCreatesAndDeletesAllAtOnce(t *testing.T) {
	l := start(t)
	set := newSet("web", 3)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	l.create(set)
	// No pod is Ready, yet all are there.
	l.waitForPods("web-0 web-1 web-2")
	rev := l.rev("web")
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 1, Replicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3,
		CurrentRevision: rev, UpdateRevision: rev, CollisionCount: ptr.To(int32(0)),
	})
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		l.setFinalizers(name, hold)
	}
	l.patchSet("web", `{"spec":{"replicas":0}}`)
	l.waitForPods("web-0(terminating) web-1(terminating) web-2(terminating)")
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		l.setFinalizers(name)
	}
	l.waitForPods("")
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 2, CurrentRevision: rev, UpdateRevision: rev, CollisionCount: ptr.To(int32(0)),
	})
}

func TestAdoptsOrphansByName(t *testing.T) {
	l := &lab{t: t, client: startAPIServer(t)}
	// Left behind by `kubectl delete statefulset web --cascade=orphan`.
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Labels: map[string]string{"app": "nginx"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx"}}},
	}
	stray := orphan.DeepCopy()
	stray.Name = "other-0"
	for _, p := range []*corev1.Pod{orphan, stray} {
		_, err := l.client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
		l.must(err)
	}
	uid := l.pod("web-0").UID
	runController(t, l.client)
	set := l.create(newSet("web", 1))
	l.waitFor("web-0 adopted", func() (bool, string) {
		p := l.pod("web-0")
		ref := metav1.GetControllerOf(p)
		return ref != nil && ref.UID == set.UID, fmt.Sprintf("%+v", p.OwnerReferences)
	})
	if l.pod("web-0").UID != uid {
		t.Fatal("web-0 was replaced, not adopted")
	}
	// The labels match but the name does not: not a member.
	l.stillPods("other-0 web-0")
	if refs := l.pod("other-0").OwnerReferences; len(refs) != 0 {
		t.Fatalf("other-0 was adopted: %+v", refs)
	}
}

// After a restart the controller no longer knows the old revision's
// template; like upstream when that ControllerRevision is gone, it takes
// the update revision as current and still rolls every pod over.
func TestRollingUpdateAfterARestart(t *testing.T) {
	l := &lab{t: t, client: startAPIServer(t)}
	stop := runController(t, l.client)
	l.create(newSet("web", 2))
	for _, name := range []string{"web-0", "web-1"} {
		l.waitFor(name, func() (bool, string) { return l.pods()[name] != nil, names(l.pods()) })
		l.ready(name)
	}
	oldRev := l.rev("web")
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2, CurrentReplicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2,
		CurrentRevision: oldRev, UpdateRevision: oldRev, CollisionCount: ptr.To(int32(0)),
	})
	stop()
	l.setImage("web", "registry.k8s.io/nginx-slim:0.24")
	newRev := l.rev("web")
	runController(t, l.client)

	l.waitForRevision("web-1", newRev)
	if got := revisionOf(l.pod("web-0")); got != oldRev {
		t.Fatalf("web-0 at %s before web-1 was Ready", got)
	}
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 2, Replicas: 2, ReadyReplicas: 1, CurrentReplicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1,
		CurrentRevision: newRev, UpdateRevision: newRev, CollisionCount: ptr.To(int32(0)),
	})
	l.ready("web-1")
	l.waitForRevision("web-0", newRev)
	l.ready("web-0")
	l.waitForStatus("web", appsv1.StatefulSetStatus{
		ObservedGeneration: 2, Replicas: 2, ReadyReplicas: 2, CurrentReplicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2,
		CurrentRevision: newRev, UpdateRevision: newRev, CollisionCount: ptr.To(int32(0)),
	})
}
