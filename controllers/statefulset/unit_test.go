package statefulset

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// upstreamTemplate is the template of the StatefulSet in upstream's
// statefulset compatibility test data (testdata/compatibility_set_1.33.0.json),
// as v1.33 stores it; its ControllerRevision is test-c77f6d978 and holds
// upstreamPatch.
const (
	upstreamTemplate = `{"metadata":{"annotations":{"test":"value"},"creationTimestamp":null,"labels":{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}`
	upstreamPatch    = `{"spec":{"template":{"$patch":"replace","metadata":{"annotations":{"test":"value"},"creationTimestamp":null,"labels":{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}`
)

func TestRevisionNameMatchesUpstream(t *testing.T) {
	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "test"}}
	if err := json.Unmarshal([]byte(upstreamTemplate), &set.Spec.Template); err != nil {
		t.Fatal(err)
	}
	patch, err := templatePatch(&set.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	if string(patch) != upstreamPatch {
		t.Errorf("patch\n%s\nwant\n%s", patch, upstreamPatch)
	}
	for _, tc := range []struct {
		collisions *int32
		want       string
	}{
		{nil, "test-c77f6d978"},
		{ptr.To(int32(0)), "test-c77f6d978"},
	} {
		set.Status.CollisionCount = tc.collisions
		if got, _ := revisionName(set); got != tc.want {
			t.Errorf("collisionCount %v: revision %s, want %s", tc.collisions, got, tc.want)
		}
	}
	set.Status.CollisionCount = ptr.To(int32(1))
	if got, _ := revisionName(set); got == "test-c77f6d978" {
		t.Error("a collision count did not change the revision name")
	}
	set.Status.CollisionCount = nil
	set.Spec.Template.Spec.Containers[0].Image = "test:2"
	if got, _ := revisionName(set); got == "test-c77f6d978" {
		t.Error("a new image did not change the revision name")
	}
}

func TestParentAndOrdinal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		parent  string
		ordinal int
	}{
		{"web-0", "web", 0},
		{"web-12", "web", 12},
		{"my-web-3", "my-web", 3},
		{"web", "", -1},
		{"web-", "", -1},
		{"web-x1", "", -1},
		{"web-99999999999", "", -1}, // beyond int32
	} {
		parent, ordinal := parentAndOrdinal(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name}})
		if parent != tc.parent || ordinal != tc.ordinal {
			t.Errorf("%s: (%q, %d), want (%q, %d)", tc.name, parent, ordinal, tc.parent, tc.ordinal)
		}
	}
}

func TestNewVersionedPod(t *testing.T) {
	set := newSet("web", 4)
	set.UID = "set-uid"
	set.Spec.Template.Spec.Volumes = []corev1.Volume{
		{Name: "www", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "config", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	old := set.Spec.Template.DeepCopy()
	old.Spec.Containers[0].Image = "old"
	revs := revisions{current: "web-old", currentTemplate: old, update: "web-new", updateTemplate: &set.Spec.Template}

	for _, tc := range []struct {
		name     string
		strategy appsv1.StatefulSetUpdateStrategy
		current  int32
		ordinal  int
		want     string
	}{
		{"partition: below", partitioned(2), 0, 1, "web-old"},
		{"partition: at", partitioned(2), 0, 2, "web-new"},
		{"no rollingUpdate: below currentReplicas", appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}, 2, 1, "web-old"},
		{"no rollingUpdate: at currentReplicas", appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}, 2, 2, "web-new"},
		{"OnDelete", appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}, 4, 0, "web-new"},
	} {
		s := set.DeepCopy()
		s.Spec.UpdateStrategy = tc.strategy
		s.Status.CurrentReplicas = tc.current
		pod := newVersionedPod(s, revs, tc.ordinal)
		if got := revisionOf(pod); got != tc.want {
			t.Errorf("%s: revision %s, want %s", tc.name, got, tc.want)
		}
		wantImage := map[string]string{"web-old": "old", "web-new": "registry.k8s.io/nginx-slim:0.21"}[tc.want]
		if img := pod.Spec.Containers[0].Image; img != wantImage {
			t.Errorf("%s: image %s, want %s", tc.name, img, wantImage)
		}
	}

	pod := newVersionedPod(set, revs, 3)
	wantVolumes := []corev1.Volume{
		{Name: "www", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "www-web-3"}}},
		{Name: "config", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if !reflect.DeepEqual(pod.Spec.Volumes, wantVolumes) {
		t.Errorf("volumes %+v, want the claim's replacing the template's www", pod.Spec.Volumes)
	}
	if pod.Name != "web-3" || pod.Namespace != ns || pod.GenerateName != "web-" || pod.Spec.Hostname != "web-3" || pod.Spec.Subdomain != "nginx" {
		t.Errorf("identity: name %s/%s generateName %s hostname %s subdomain %s", pod.Namespace, pod.Name, pod.GenerateName, pod.Spec.Hostname, pod.Spec.Subdomain)
	}
	if len(set.Spec.Template.Labels) != 1 {
		t.Errorf("building a pod changed the template's labels: %v", set.Spec.Template.Labels)
	}
}

func partitioned(p int32) appsv1.StatefulSetUpdateStrategy {
	return appsv1.StatefulSetUpdateStrategy{
		Type:          appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(p)},
	}
}

func TestCountReplicasAndCompleteRollingUpdate(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	pod := func(name, revision string, phase corev1.PodPhase, readySince time.Time, terminating bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{appsv1.StatefulSetRevisionLabel: revision}}}
		p.Status.Phase = phase
		if !readySince.IsZero() {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(readySince)}}
		}
		if terminating {
			p.DeletionTimestamp = &metav1.Time{Time: now}
		}
		return p
	}
	revs := revisions{current: "a", update: "b"}
	pods := []*corev1.Pod{
		pod("web-0", "a", corev1.PodRunning, now.Add(-time.Minute), false),
		pod("web-1", "b", corev1.PodRunning, now.Add(-time.Second), false), // ready, not yet available
		pod("web-2", "b", corev1.PodPending, time.Time{}, false),
		pod("web-3", "a", corev1.PodRunning, now.Add(-time.Minute), true), // terminating: no revision counted
		pod("web-4", "b", "", time.Time{}, false),                         // placeholder, not created
	}
	status := &appsv1.StatefulSetStatus{CurrentRevision: "a", UpdateRevision: "b"}
	countReplicas(status, 10, now, revs, pods)
	want := appsv1.StatefulSetStatus{Replicas: 4, ReadyReplicas: 3, AvailableReplicas: 2, CurrentReplicas: 1, UpdatedReplicas: 2, CurrentRevision: "a", UpdateRevision: "b"}
	if !reflect.DeepEqual(*status, want) {
		t.Fatalf("status %+v, want %+v", *status, want)
	}

	set := newSet("web", 2)
	set.Spec.UpdateStrategy = partitioned(0)
	done := &appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2, UpdatedReplicas: 2, CurrentReplicas: 0, CurrentRevision: "a", UpdateRevision: "b"}
	completeRollingUpdate(set, done)
	if done.CurrentRevision != "b" || done.CurrentReplicas != 2 {
		t.Errorf("a finished rollout left current %s/%d", done.CurrentRevision, done.CurrentReplicas)
	}
	halfway := &appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 1, UpdatedReplicas: 2, CurrentRevision: "a", UpdateRevision: "b"}
	completeRollingUpdate(set, halfway)
	if halfway.CurrentRevision != "a" {
		t.Error("a rollout with an unready pod was completed")
	}
}
