package deployment

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// nginxTemplate is the pod template of the Kubernetes documentation's
// nginx-deployment example, as the API server stores it (with the
// defaults of v1.33).
func nginxTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "nginx"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "nginx", Image: "nginx:1.14.2",
				Ports:                    []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
				TerminationMessagePath:   "/dev/termination-log",
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				ImagePullPolicy:          corev1.PullIfNotPresent,
			}},
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr.To(int64(30)),
			DNSPolicy:                     corev1.DNSClusterFirst,
			SecurityContext:               &corev1.PodSecurityContext{},
			SchedulerName:                 "default-scheduler",
		},
	}
}

func TestPodTemplateHash(t *testing.T) {
	base := nginxTemplate()
	hash := podTemplateHash(&base, nil)
	// Real clusters name this ReplicaSet nginx-deployment-647677fc66: the
	// value appears in many published `kubectl get rs` / `get pods` outputs
	// of the documentation's example. The hash would move if k8s.io/api
	// added a field to PodTemplateSpec (upstream's moves with it).
	if hash != "647677fc66" {
		t.Errorf("hash %s, want 647677fc66 as kube-controller-manager computes it", hash)
	}
	if !regexp.MustCompile("^[bcdfghjklmnpqrstvwxz2456789]{1,10}$").MatchString(hash) {
		t.Errorf("hash %q is not rand.SafeEncodeString of a decimal uint32", hash)
	}
	copyOf := base.DeepCopy()
	if got := podTemplateHash(copyOf, nil); got != hash {
		t.Errorf("the same template hashes to %s and %s", hash, got)
	}
	// Pointers are followed, not compared by address.
	copyOf.Spec.TerminationGracePeriodSeconds = ptr.To(int64(30))
	if got := podTemplateHash(copyOf, nil); got != hash {
		t.Errorf("an equal pointer value changed the hash: %s", got)
	}

	changes := map[string]func(*corev1.PodTemplateSpec){
		"image":        func(p *corev1.PodTemplateSpec) { p.Spec.Containers[0].Image = "nginx:1.16.1" },
		"label":        func(p *corev1.PodTemplateSpec) { p.Labels["tier"] = "web" },
		"grace period": func(p *corev1.PodTemplateSpec) { p.Spec.TerminationGracePeriodSeconds = ptr.To(int64(5)) },
		"env":          func(p *corev1.PodTemplateSpec) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "1"}} },
	}
	seen := map[string]string{hash: "base"}
	for name, change := range changes {
		changed := nginxTemplate()
		change(&changed)
		got := podTemplateHash(&changed, nil)
		if other, dup := seen[got]; dup {
			t.Errorf("%s: hash %s, the same as %s", name, got, other)
		}
		seen[got] = name
	}
	for _, n := range []int32{0, 1, 2} {
		got := podTemplateHash(&base, ptr.To(n))
		if other, dup := seen[got]; dup {
			t.Errorf("collisionCount %d: hash %s, the same as %s", n, got, other)
		}
		seen[got] = fmt.Sprint("collisionCount ", n)
	}
	// Map order never matters (dump.ForHash sorts keys).
	a, b := nginxTemplate(), nginxTemplate()
	a.Labels = map[string]string{"a": "1", "b": "2", "c": "3"}
	b.Labels = map[string]string{"c": "3", "b": "2", "a": "1"}
	for i := 0; i < 20; i++ {
		if podTemplateHash(&a, nil) != podTemplateHash(&b, nil) {
			t.Fatal("label order changed the hash")
		}
	}
}

func TestResolveFenceposts(t *testing.T) {
	pct := intstr.FromString
	num := intstr.FromInt32
	for _, tc := range []struct {
		surge, unavailable intstr.IntOrString
		desired            int32
		wantSurge, wantUn  int32
	}{
		{pct("25%"), pct("25%"), 2, 1, 0}, // surge rounds up, unavailable down
		{pct("25%"), pct("25%"), 4, 1, 1},
		{pct("25%"), pct("25%"), 10, 3, 2},
		{pct("25%"), pct("25%"), 1, 1, 0},
		{pct("0%"), pct("0%"), 3, 0, 1}, // both 0: one may be unavailable
		{num(0), num(0), 3, 0, 1},
		{num(2), num(0), 3, 2, 0},
		{pct("50%"), pct("50%"), 5, 3, 2},
		{pct("100%"), num(0), 3, 3, 0},
	} {
		s, u, err := resolveFenceposts(&tc.surge, &tc.unavailable, tc.desired)
		if err != nil || s != tc.wantSurge || u != tc.wantUn {
			t.Errorf("maxSurge %s maxUnavailable %s of %d: %d, %d (%v), want %d, %d", tc.surge.String(), tc.unavailable.String(), tc.desired, s, u, err, tc.wantSurge, tc.wantUn)
		}
	}
}

func rollingDeployment(replicas int32, surge, unavailable string) *appsv1.Deployment {
	s, u := intstr.Parse(surge), intstr.Parse(unavailable)
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(replicas),
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}},
	}}
}

func rsOf(name string, replicas, available int32, age time.Duration) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: k8stypes.UID("uid-" + name),
		CreationTimestamp: metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(-age))}}
	rs.Spec.Replicas = ptr.To(replicas)
	rs.Status.Replicas, rs.Status.AvailableReplicas = replicas, available
	return rs
}

func TestNewRSNewReplicas(t *testing.T) {
	for _, tc := range []struct {
		d          *appsv1.Deployment
		old, new   int32
		wantNewMax int32
	}{
		{rollingDeployment(4, "25%", "25%"), 4, 0, 1}, // room for one surge pod
		{rollingDeployment(4, "25%", "25%"), 3, 1, 2},
		{rollingDeployment(4, "25%", "25%"), 4, 1, 1}, // at 5 already: no room
		{rollingDeployment(4, "100%", "0"), 4, 0, 4},  // never beyond replicas
		{rollingDeployment(2, "0", "1"), 1, 0, 1},
	} {
		oldRS, newRS := rsOf("old", tc.old, tc.old, time.Hour), rsOf("new", tc.new, 0, 0)
		got, err := newRSNewReplicas(tc.d, []*appsv1.ReplicaSet{oldRS, newRS}, newRS)
		if err != nil || got != tc.wantNewMax {
			t.Errorf("%d replicas, old %d, new %d: %d (%v), want %d", *tc.d.Spec.Replicas, tc.old, tc.new, got, err, tc.wantNewMax)
		}
	}
	recreate := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(3)), Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}
	if got, _ := newRSNewReplicas(recreate, nil, rsOf("new", 0, 0, 0)); got != 3 {
		t.Errorf("Recreate: %d, want all 3 at once", got)
	}
}

func TestNewReplicaSetAnnotations(t *testing.T) {
	d := rollingDeployment(4, "25%", "25%")
	d.Annotations = map[string]string{
		"team":                             "blue",
		corev1.LastAppliedConfigAnnotation: "{}",
		revisionAnnotation:                 "7",
		"kubernetes.io/change-cause":       "kubectl set image",
	}
	rs := rsOf("new", 0, 0, 0)
	if !setNewReplicaSetAnnotations(d, rs, "3", false) {
		t.Fatal("no change reported")
	}
	want := map[string]string{"team": "blue", "kubernetes.io/change-cause": "kubectl set image",
		revisionAnnotation: "3", desiredReplicasAnnotation: "4", maxReplicasAnnotation: "5"}
	if fmt.Sprint(rs.Annotations) != fmt.Sprint(want) {
		t.Fatalf("annotations %v, want %v", rs.Annotations, want)
	}
	if setNewReplicaSetAnnotations(d, rs, "3", true) {
		t.Fatal("a second call changed something")
	}
	// Rolled back to: the old revisions go to revision-history.
	setNewReplicaSetAnnotations(d, rs, "5", true)
	setNewReplicaSetAnnotations(d, rs, "8", true)
	if rs.Annotations[revisionAnnotation] != "8" || rs.Annotations[revisionHistoryAnnotation] != "3,5" {
		t.Fatalf("revision %s history %s", rs.Annotations[revisionAnnotation], rs.Annotations[revisionHistoryAnnotation])
	}
	if setNewReplicaSetAnnotations(d, rs, "6", true) || rs.Annotations[revisionAnnotation] != "8" {
		t.Fatal("a lower revision replaced a higher one")
	}
}

func TestSetCondition(t *testing.T) {
	t1, t2 := metav1.NewTime(time.Unix(100, 0)), metav1.NewTime(time.Unix(200, 0))
	status := appsv1.DeploymentStatus{}
	setCondition(&status, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reasonNewReplicaSet, LastUpdateTime: t1, LastTransitionTime: t1})
	setCondition(&status, appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: reasonMinimumUnavailable, LastUpdateTime: t1, LastTransitionTime: t1})
	// Same status, new reason: replaced, transition time kept, moved last.
	setCondition(&status, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reasonReplicaSetUpdated, LastUpdateTime: t2, LastTransitionTime: t2})
	// Same status and reason: nothing changes.
	setCondition(&status, appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: reasonMinimumUnavailable, LastUpdateTime: t2, LastTransitionTime: t2})
	c0, c1 := status.Conditions[0], status.Conditions[1]
	got := fmt.Sprintf("%s@%d %s %s@%d/%d", c0.Type, c0.LastUpdateTime.Unix(), c1.Type, c1.Reason, c1.LastUpdateTime.Unix(), c1.LastTransitionTime.Unix())
	if got != "Available@100 Progressing ReplicaSetUpdated@200/100" {
		t.Fatalf("conditions: %s", got)
	}
}

func TestProgressChecks(t *testing.T) {
	d := rollingDeployment(3, "25%", "25%")
	d.Generation = 2
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3}
	for _, tc := range []struct {
		status                appsv1.DeploymentStatus
		complete, progressing bool
	}{
		{appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3}, false, false},
		{appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 2, ReadyReplicas: 3, AvailableReplicas: 3}, false, true},
		{appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3}, false, true},
		{appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 4, AvailableReplicas: 3}, false, true},
		{appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}, true, true},
		{appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}, false, true},
	} {
		if got := deploymentComplete(d, &tc.status); got != tc.complete {
			t.Errorf("%+v: complete %v", tc.status, got)
		}
		if got := deploymentProgressing(d, &tc.status); got != tc.progressing {
			t.Errorf("%+v: progressing %v", tc.status, got)
		}
	}

	c := &Controller{now: func() time.Time { return time.Unix(1000, 0) }}
	d.Spec.ProgressDeadlineSeconds = ptr.To(int32(600))
	for _, tc := range []struct {
		reason   string
		updated  int64
		timedOut bool
	}{
		{reasonReplicaSetUpdated, 300, true},
		{reasonReplicaSetUpdated, 500, false},
		{reasonNewRSAvailable, 0, false},
		{reasonTimedOut, 900, true},
	} {
		status := appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: tc.reason, LastUpdateTime: metav1.NewTime(time.Unix(tc.updated, 0))}}}
		if got := c.deploymentTimedOut(d, &status); got != tc.timedOut {
			t.Errorf("%s updated at %d: timed out %v", tc.reason, tc.updated, got)
		}
	}
}

// TestProportionalScaling resizes a Deployment in the middle of a rolling
// update: the ReplicaSets grow and shrink in proportion (a fake clientset
// holds them; the integration tests cover the API server).
func TestProportionalScaling(t *testing.T) {
	d := rollingDeployment(20, "25%", "25%")
	d.Name, d.Namespace, d.UID = "web", "default", "d-uid"
	oldRS, newRS := rsOf("web-old", 5, 5, time.Hour), rsOf("web-new", 8, 0, 0)
	for _, rs := range []*appsv1.ReplicaSet{oldRS, newRS} {
		// Both sized while the Deployment had 10 replicas (max 13).
		setReplicasAnnotations(rs, 10, 13)
	}
	client := fake.NewSimpleClientset(oldRS, newRS)
	recorder := record.NewFakeRecorder(10)
	c := NewController(client, informers.NewSharedInformerFactory(client, 0), recorder)

	sizes := func() string {
		var out []string
		for _, name := range []string{"web-old", "web-new"} {
			rs, err := client.AppsV1().ReplicaSets("default").Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s=%d/%s", name, *rs.Spec.Replicas, rs.Annotations[maxReplicasAnnotation]))
		}
		return fmt.Sprint(out)
	}
	// 10 -> 20: 25 allowed (surge 5), 12 to add: new 8*25/13 = 15.4 -> +7, old 5*25/13 = 9.6 -> +5.
	if err := c.scale(context.Background(), d, newRS, []*appsv1.ReplicaSet{oldRS}); err != nil {
		t.Fatal(err)
	}
	if got := sizes(); got != "[web-old=10/25 web-new=15/25]" {
		t.Fatalf("after scaling to 20: %s", got)
	}
	var events []string
	for len(recorder.Events) > 0 {
		events = append(events, <-recorder.Events)
	}
	sort.Strings(events)
	want := []string{
		"Normal ScalingReplicaSet Scaled up replica set web-new from 8 to 15",
		"Normal ScalingReplicaSet Scaled up replica set web-old from 5 to 10",
	}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Fatalf("events %q, want %q", events, want)
	}

	// 20 -> 5: 7 allowed (surge 2), 18 to remove: new 15*7/25 = 4.2 -> -11, old the remaining -7.
	d.Spec.Replicas = ptr.To(int32(5))
	oldRS, _ = client.AppsV1().ReplicaSets("default").Get(context.Background(), "web-old", metav1.GetOptions{})
	newRS, _ = client.AppsV1().ReplicaSets("default").Get(context.Background(), "web-new", metav1.GetOptions{})
	if err := c.scale(context.Background(), d, newRS, []*appsv1.ReplicaSet{oldRS}); err != nil {
		t.Fatal(err)
	}
	if got := sizes(); got != "[web-old=3/7 web-new=4/7]" {
		t.Fatalf("after scaling to 5: %s", got)
	}
}

func TestFindActiveOrLatest(t *testing.T) {
	older, newer := rsOf("older", 0, 0, 2*time.Hour), rsOf("newer", 0, 0, time.Hour)
	active := rsOf("active", 3, 3, 3*time.Hour)
	for _, tc := range []struct {
		newRS *appsv1.ReplicaSet
		old   []*appsv1.ReplicaSet
		want  string
	}{
		{nil, []*appsv1.ReplicaSet{older, newer}, "newer"}, // none active: the newest
		{rsOf("new", 0, 0, 0), []*appsv1.ReplicaSet{older}, "new"},
		{nil, []*appsv1.ReplicaSet{older, active}, "active"}, // the only active one
		{rsOf("new", 1, 0, 0), []*appsv1.ReplicaSet{active}, "<nil>"},
	} {
		got := "<nil>"
		if rs := findActiveOrLatest(tc.newRS, tc.old); rs != nil {
			got = rs.Name
		}
		if got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

// TestScaleDownWithLaggingStatus: right after a scale-down the ReplicaSet
// controller's status still counts the pods being deleted. Those must not
// be scaled down a second time, or fewer than replicas-maxUnavailable
// pods stay available.
func TestScaleDownWithLaggingStatus(t *testing.T) {
	d := rollingDeployment(4, "25%", "25%") // at least 3 available
	d.Name, d.Namespace, d.UID = "api", "default", "d-uid"
	// Old: just scaled 3 -> 2, status still of 3 available pods. New: 3
	// wanted, 2 available. Really available once the deletion is done:
	// 2 + 2 = 4, so one old pod may go, not two.
	oldRS, newRS := rsOf("api-old", 2, 3, time.Hour), rsOf("api-new", 3, 2, 0)
	oldRS.Status.Replicas = 3
	client := fake.NewSimpleClientset(oldRS, newRS)
	c := NewController(client, informers.NewSharedInformerFactory(client, 0), record.NewFakeRecorder(10))
	all := []*appsv1.ReplicaSet{oldRS, newRS}
	if _, err := c.reconcileOldReplicaSets(context.Background(), all, []*appsv1.ReplicaSet{oldRS}, newRS, d); err != nil {
		t.Fatal(err)
	}
	got, err := client.AppsV1().ReplicaSets("default").Get(context.Background(), "api-old", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Spec.Replicas != 1 {
		t.Fatalf("old ReplicaSet scaled to %d, want 1", *got.Spec.Replicas)
	}
}
