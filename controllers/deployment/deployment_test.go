package deployment

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestCreatesReplicaSetAndPods(t *testing.T) {
	l := start(t)
	d := l.create(newDeployment("hello", 2))
	// The hash is of the template as stored, with the API server's defaults.
	hash := podTemplateHash(&d.Spec.Template, nil)
	rsName := "hello-" + hash

	var rs appsv1.ReplicaSet
	l.waitFor("the ReplicaSet", func() (bool, string) {
		list := l.replicaSets(d)
		if len(list) != 1 {
			return false, fmt.Sprintf("%d ReplicaSets", len(list))
		}
		rs = list[0]
		return true, ""
	})
	if rs.Name != rsName {
		t.Fatalf("ReplicaSet %s, want %s", rs.Name, rsName)
	}
	wantLabels := map[string]string{"app": "hello", "pod-template-hash": hash}
	for what, got := range map[string]map[string]string{
		"labels": rs.Labels, "selector": rs.Spec.Selector.MatchLabels, "template labels": rs.Spec.Template.Labels,
	} {
		if !reflect.DeepEqual(got, wantLabels) {
			t.Errorf("ReplicaSet %s %v, want %v", what, got, wantLabels)
		}
	}
	wantAnnotations := map[string]string{
		"deployment.kubernetes.io/desired-replicas": "2",
		"deployment.kubernetes.io/max-replicas":     "3", // 25% of 2 rounds up to 1
		"deployment.kubernetes.io/revision":         "1",
	}
	if !reflect.DeepEqual(rs.Annotations, wantAnnotations) {
		t.Errorf("ReplicaSet annotations %v, want %v", rs.Annotations, wantAnnotations)
	}
	wantOwner := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "hello", UID: d.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	if !reflect.DeepEqual(rs.OwnerReferences, wantOwner) || *rs.Spec.Replicas != 2 {
		t.Errorf("ReplicaSet owners %+v, replicas %d", rs.OwnerReferences, *rs.Spec.Replicas)
	}

	var pods []corev1.Pod
	l.waitFor("2 pods", func() (bool, string) {
		pods = l.pods(&rs)
		return len(pods) == 2, fmt.Sprintf("%d pods", len(pods))
	})
	for _, p := range pods {
		mustMatch(t, "pod name", "^"+rsName+"-[bcdfghjklmnpqrstvwxz2456789]{5}$", p.Name)
		if !reflect.DeepEqual(p.Labels, wantLabels) {
			t.Errorf("pod %s labels %v", p.Name, p.Labels)
		}
		if ref := p.OwnerReferences; len(ref) != 1 || ref[0].Kind != "ReplicaSet" || ref[0].Name != rsName || !*ref[0].Controller {
			t.Errorf("pod %s owners %+v", p.Name, ref)
		}
	}

	// Before the pods are ready: nothing available, and with maxUnavailable
	// 25% of 2 = 0, that is below the minimum.
	d = l.waitForStatus("hello", appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, UnavailableReplicas: 2})
	if got := condition(d, appsv1.DeploymentAvailable); got != "False MinimumReplicasUnavailable Deployment does not have minimum availability." {
		t.Errorf("Available: %s", got)
	}
	if got, want := condition(d, appsv1.DeploymentProgressing), fmt.Sprintf("True ReplicaSetUpdated ReplicaSet %q is progressing.", rsName); got != want {
		t.Errorf("Progressing: %s, want %s", got, want)
	}

	l.markReady(&rs)
	l.waitFor("a complete rollout", func() (bool, string) {
		d = l.get("hello")
		return strings.HasPrefix(condition(d, appsv1.DeploymentProgressing), "True NewReplicaSetAvailable"), fmt.Sprintf("%+v", d.Status)
	})
	d = l.waitForStatus("hello", appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2})
	if got := condition(d, appsv1.DeploymentAvailable); got != "True MinimumReplicasAvailable Deployment has minimum availability." {
		t.Errorf("Available: %s", got)
	}
	if got, want := condition(d, appsv1.DeploymentProgressing), fmt.Sprintf("True NewReplicaSetAvailable ReplicaSet %q has successfully progressed.", rsName); got != want {
		t.Errorf("Progressing: %s, want %s", got, want)
	}
	if types := []appsv1.DeploymentConditionType{d.Status.Conditions[0].Type, d.Status.Conditions[1].Type}; types[0] != appsv1.DeploymentAvailable || types[1] != appsv1.DeploymentProgressing {
		t.Errorf("condition order %v, want Available, Progressing as kube-controller-manager writes them", types)
	}
	l.waitFor("the revision annotation", func() (bool, string) {
		d = l.get("hello")
		return d.Annotations[revisionAnnotation] == "1", fmt.Sprint(d.Annotations)
	})

	l.waitForEvent("hello", "deployment-controller", "ScalingReplicaSet", "Scaled up replica set "+rsName+" from 0 to 2")
	for _, p := range pods {
		l.waitForEvent(rsName, "replicaset-controller", "SuccessfulCreate", "Created pod: "+p.Name)
	}

	if out, ok := l.kubectl("rollout", "status", "deployment/hello", "--timeout=10s"); ok && out != "deployment \"hello\" successfully rolled out\n" {
		t.Errorf("kubectl rollout status: %q", out)
	}
	if out, ok := l.kubectl("get", "deploy", "hello"); ok {
		mustMatch(t, "kubectl get deploy", `(?m)^NAME +READY +UP-TO-DATE +AVAILABLE +AGE\nhello +2/2 +2 +2 +\d+s\n$`, out)
	}
	if out, ok := l.kubectl("get", "rs"); ok {
		mustMatch(t, "kubectl get rs", `(?m)^`+regexp.QuoteMeta(rsName)+` +2 +2 +2 +\d+s$`, out)
	}
}

// TestDocumentationExample creates the Kubernetes documentation's
// nginx-deployment as a client would send it: with the API server's
// defaults, its ReplicaSet gets the name real clusters give it.
func TestDocumentationExample(t *testing.T) {
	l := start(t)
	d := l.create(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx-deployment", Labels: map[string]string{"app": "nginx"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nginx"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "nginx"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "nginx", Image: "nginx:1.14.2", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
				}}},
			},
		},
	})
	l.waitFor("the ReplicaSet", func() (bool, string) {
		got := names(l.replicaSets(d))
		return fmt.Sprint(got) == "[nginx-deployment-647677fc66@1]", fmt.Sprint(got)
	})
}

func TestScaleUpAndDown(t *testing.T) {
	l := start(t)
	d := l.create(newDeployment("web", 2))
	rsName := "web-" + podTemplateHash(&d.Spec.Template, nil)
	l.waitForStatus("web", appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, UnavailableReplicas: 2})

	l.update("web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(3)) })
	l.waitForEvent("web", "deployment-controller", "ScalingReplicaSet", "Scaled up replica set "+rsName+" from 2 to 3")
	d = l.waitForStatus("web", appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, UnavailableReplicas: 3})
	rs := l.replicaSets(d)
	if len(rs) != 1 || rs[0].Name != rsName || rs[0].Annotations[desiredReplicasAnnotation] != "3" || rs[0].Annotations[maxReplicasAnnotation] != "4" {
		t.Fatalf("ReplicaSets after scaling to 3: %+v", rs)
	}
	l.markReady(&rs[0])
	l.waitForStatus("web", appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3})

	l.update("web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(0)) })
	l.waitForEvent("web", "deployment-controller", "ScalingReplicaSet", "Scaled down replica set "+rsName+" from 3 to 0")
	d = l.waitForStatus("web", appsv1.DeploymentStatus{ObservedGeneration: 3})
	if n := len(l.pods(&rs[0])); n != 0 {
		t.Fatalf("%d pods left", n)
	}
	if got := condition(d, appsv1.DeploymentAvailable); got != "True MinimumReplicasAvailable Deployment has minimum availability." {
		t.Errorf("Available at 0 replicas: %s", got)
	}
	if rs := l.replicaSets(d); len(rs) != 1 {
		t.Fatalf("a resize made %d ReplicaSets", len(rs))
	}
}

func TestRollingUpdate(t *testing.T) {
	l := start(t)
	d := l.create(newDeployment("api", 4)) // maxSurge 25% = 1, maxUnavailable 25% = 1
	var old appsv1.ReplicaSet
	l.waitFor("the first ReplicaSet", func() (bool, string) {
		list := l.replicaSets(d)
		if len(list) == 1 {
			old = list[0]
		}
		return len(list) == 1, fmt.Sprintf("%d ReplicaSets", len(list))
	})
	l.waitFor("4 pods", func() (bool, string) { n := len(l.pods(&old)); return n == 4, fmt.Sprint(n) })
	l.markReady(&old)
	l.waitForStatus("api", appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 4, UpdatedReplicas: 4, ReadyReplicas: 4, AvailableReplicas: 4})

	d = l.update("api", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28" })
	newName := "api-" + podTemplateHash(&d.Spec.Template, nil)
	if newName == old.Name {
		t.Fatal("a new image did not change the hash")
	}
	// Step the rollout as kubelets would, checking the bounds at every look:
	// never more than replicas+maxSurge pods wanted, never fewer than
	// replicas-maxUnavailable ready.
	l.waitFor("the rollout", func() (bool, string) {
		rsList := l.replicaSets(d)
		var wanted, ready int32
		for i := range rsList {
			wanted += *rsList[i].Spec.Replicas
			for _, p := range l.pods(&rsList[i]) {
				if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
					ready++
				}
			}
		}
		if wanted > 5 || ready < 3 {
			t.Fatalf("%d pods wanted (max 5), %d ready (min 3)", wanted, ready)
		}
		for i := range rsList {
			if rsList[i].Name == newName {
				l.markReady(&rsList[i])
			}
		}
		cur := l.get("api")
		done := cur.Status.ObservedGeneration == 2 && cur.Status.UpdatedReplicas == 4 && cur.Status.AvailableReplicas == 4 && cur.Status.Replicas == 4
		return done, fmt.Sprintf("%+v", cur.Status)
	})
	d = l.waitForStatus("api", appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 4, ReadyReplicas: 4, AvailableReplicas: 4})
	rsList := l.replicaSets(d)
	if len(rsList) != 2 || rsList[0].Name != old.Name || rsList[1].Name != newName {
		t.Fatalf("ReplicaSets %v, want the old one kept at 0 and %s", names(rsList), newName)
	}
	if *rsList[0].Spec.Replicas != 0 || rsList[0].Annotations[revisionAnnotation] != "1" || rsList[1].Annotations[revisionAnnotation] != "2" {
		t.Fatalf("old: %d replicas revision %s; new: revision %s", *rsList[0].Spec.Replicas, rsList[0].Annotations[revisionAnnotation], rsList[1].Annotations[revisionAnnotation])
	}
	l.waitFor("the Deployment's revision 2", func() (bool, string) {
		d = l.get("api")
		return d.Annotations[revisionAnnotation] == "2" && strings.HasPrefix(condition(d, appsv1.DeploymentProgressing), "True NewReplicaSetAvailable ReplicaSet \""+newName+"\""), condition(d, appsv1.DeploymentProgressing)
	})
	checkRollingSteps(t, l.waitForRolledOutSteps("api", old.Name, newName, 4), old.Name, newName, 4, 1, 1)

	if out, ok := l.kubectl("rollout", "status", "deployment/api", "--timeout=10s"); ok && out != "deployment \"api\" successfully rolled out\n" {
		t.Errorf("kubectl rollout status: %q", out)
	}

	// Back to the first template: the old ReplicaSet is the new one again,
	// with the next revision, and remembers its first one.
	d = l.update("api", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.27" })
	l.waitFor("the rollback", func() (bool, string) {
		rsList := l.replicaSets(d)
		for i := range rsList {
			l.markReady(&rsList[i])
		}
		cur := l.get("api")
		// The status must be of the rollback (generation 3), not the one
		// the rollout left, which has the same counts.
		rsList = l.replicaSets(d)
		first := rsList[len(rsList)-1]
		ok := len(rsList) == 2 && first.Name == old.Name && first.Annotations[revisionAnnotation] == "3" && first.Annotations[revisionHistoryAnnotation] == "1" &&
			cur.Status.ObservedGeneration == d.Generation && deploymentComplete(cur, &cur.Status)
		return ok, fmt.Sprintf("%v %+v", names(rsList), cur.Status)
	})
}

// waitForRolledOutSteps waits until the deployment controller's events
// show the rolling update from oldName to newName done (the old
// ReplicaSet scaled to 0, the new one to replicas) and returns every
// ScalingReplicaSet step it recorded on the Deployment, oldest first.
func (l *lab) waitForRolledOutSteps(deployment, oldName, newName string, replicas int32) []scalingStep {
	l.t.Helper()
	var steps []scalingStep
	l.waitFor(fmt.Sprintf("events scaling %s to 0 and %s to %d", oldName, newName, replicas), func() (bool, string) {
		steps = l.scalingSteps(deployment)
		var oldDone, newDone bool
		for _, s := range steps {
			oldDone = oldDone || s.RS == oldName && s.To == 0
			newDone = newDone || s.RS == newName && s.To == replicas
		}
		return oldDone && newDone, fmt.Sprint(steps)
	})
	return steps
}

// checkRollingSteps checks the ScalingReplicaSet steps of a Deployment
// created with replicas pods of oldName and rolled out once to newName.
// How many steps the rollout takes, and of what size, depends on how soon
// pods become ready (here: how soon the test marks them), so no sequence
// is fixed. What every rollout has in common is checked instead:
//   - the first step creates oldName "from 0 to replicas";
//   - the rollout's first step creates newName "from 0 to maxSurge": the
//     new ReplicaSet starts with as many pods as the surge allows;
//   - the old ReplicaSet's first step is "from replicas to
//     replicas-maxUnavailable": it happens in the sync that created the
//     new ReplicaSet, whose pods cannot be available yet, so only
//     maxUnavailable of the old pods may go;
//   - each step starts where the one before it left that ReplicaSet (no
//     event missing or out of order), newName only grows, oldName only
//     shrinks, and after each step the ReplicaSets want together at most
//     replicas+maxSurge pods and at least replicas-maxUnavailable;
//   - at the end oldName is at 0 and newName at replicas.
func checkRollingSteps(t *testing.T, steps []scalingStep, oldName, newName string, replicas, maxSurge, maxUnavailable int32) {
	t.Helper()
	if len(steps) < 3 {
		t.Fatalf("scaling steps %v: fewer than 3", steps)
	}
	if want := (scalingStep{"up", oldName, 0, replicas}); steps[0] != want {
		t.Fatalf("first scaling step %v, want %v; all: %v", steps[0], want, steps)
	}
	if want := (scalingStep{"up", newName, 0, maxSurge}); steps[1] != want {
		t.Fatalf("first step of the rollout %v, want %v; all: %v", steps[1], want, steps)
	}
	size := map[string]int32{}
	firstOldDown := true
	for i, s := range steps {
		if s.From != size[s.RS] {
			t.Fatalf("step %d %v starts from %d, but the steps before left %s at %d; all: %v", i, s, s.From, s.RS, size[s.RS], steps)
		}
		if (s.Direction == "up") != (s.To > s.From) {
			t.Fatalf("step %d %v: direction does not match the sizes; all: %v", i, s, steps)
		}
		size[s.RS] = s.To
		if i == 0 {
			continue // the Deployment's creation, before the rollout
		}
		switch {
		case s.RS == newName && s.Direction == "up":
		case s.RS == oldName && s.Direction == "down":
			if firstOldDown {
				firstOldDown = false
				if want := (scalingStep{"down", oldName, replicas, replicas - maxUnavailable}); s != want {
					t.Fatalf("first scale-down of the old ReplicaSet %v, want %v; all: %v", s, want, steps)
				}
			}
		default:
			t.Fatalf("step %d %v: a rolling update only scales %s up and %s down; all: %v", i, s, newName, oldName, steps)
		}
		if total := size[oldName] + size[newName]; total > replicas+maxSurge || total < replicas-maxUnavailable {
			t.Fatalf("after step %d %v the ReplicaSets want %d pods, outside [%d, %d]; all: %v", i, s, total, replicas-maxUnavailable, replicas+maxSurge, steps)
		}
	}
	if size[oldName] != 0 || size[newName] != replicas {
		t.Fatalf("steps end with %s at %d and %s at %d, want 0 and %d; all: %v", oldName, size[oldName], newName, size[newName], replicas, steps)
	}
}

func names(list []appsv1.ReplicaSet) []string {
	var out []string
	for _, rs := range list {
		out = append(out, rs.Name+"@"+rs.Annotations[revisionAnnotation])
	}
	return out
}

func TestRecreate(t *testing.T) {
	l := start(t)
	spec := newDeployment("db", 2)
	spec.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	d := l.create(spec)
	oldName := "db-" + podTemplateHash(&d.Spec.Template, nil)
	l.waitForStatus("db", appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, UnavailableReplicas: 2})
	old := l.replicaSets(d)[0]
	l.markReady(&old)
	l.waitForStatus("db", appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2})

	d = l.update("db", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28" })
	newName := "db-" + podTemplateHash(&d.Spec.Template, nil)
	l.waitFor("the new ReplicaSet", func() (bool, string) {
		rsList := l.replicaSets(d)
		if len(rsList) < 2 {
			return false, fmt.Sprint(names(rsList))
		}
		// By the time the new ReplicaSet exists, the old pods are gone.
		if n := len(l.pods(&old)); n != 0 || *rsList[0].Spec.Replicas != 0 {
			t.Fatalf("new ReplicaSet created while the old one has %d pods, %d wanted", n, *rsList[0].Spec.Replicas)
		}
		return rsList[1].Name == newName, fmt.Sprint(names(rsList))
	})
	l.waitForStatus("db", appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, UnavailableReplicas: 2})
	l.waitForEvent("db", "deployment-controller", "ScalingReplicaSet", "Scaled up replica set "+newName+" from 0 to 2")
	events := strings.Join(l.events("db"), "\n")
	down := strings.Index(events, "Scaled down replica set "+oldName+" from 2 to 0")
	up := strings.Index(events, "Scaled up replica set "+newName+" from 0 to 2")
	if down < 0 || up < down {
		t.Fatalf("events out of order:\n%s", events)
	}
}

func TestRevisionHistoryLimit(t *testing.T) {
	l := start(t)
	spec := newDeployment("hist", 1)
	spec.Spec.RevisionHistoryLimit = ptr.To(int32(1))
	d := l.create(spec)
	rollOut := func(image string) {
		t.Helper()
		gen := d.Generation
		l.waitFor("rollout of "+image, func() (bool, string) {
			rsList := l.replicaSets(d)
			for j := range rsList {
				l.markReady(&rsList[j])
			}
			cur := l.get("hist")
			return cur.Status.ObservedGeneration == gen && deploymentComplete(cur, &cur.Status), fmt.Sprintf("%v %+v", names(rsList), cur.Status)
		})
	}
	// The first template gets its ReplicaSet only if the controller sees
	// it before the next one: a sync reads the Deployment as it is by then.
	rollOut("nginx:1.27")
	for _, image := range []string{"nginx:1.25", "nginx:1.26", "nginx:1.28"} {
		d = l.update("hist", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image })
		rollOut(image)
	}
	// Revisions 1 (nginx:1.27) to 4 (nginx:1.28): of the old ones only the
	// newest, 3, stays.
	l.waitFor("the cleanup", func() (bool, string) {
		rsList := l.replicaSets(d)
		got := names(rsList)
		want := []string{"hist-" + podTemplateHash(&l.get("hist").Spec.Template, nil)}
		return len(rsList) == 2 && rsList[0].Annotations[revisionAnnotation] == "3" && rsList[1].Name == want[0] && rsList[1].Annotations[revisionAnnotation] == "4", fmt.Sprint(got)
	})
}

func TestPausedDeploymentIsNotRolledOut(t *testing.T) {
	l := start(t)
	d := l.create(newDeployment("paused", 1))
	l.waitForStatus("paused", appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, UnavailableReplicas: 1})
	d = l.update("paused", func(d *appsv1.Deployment) {
		d.Spec.Paused = true
		d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	})
	l.waitFor("the paused condition", func() (bool, string) {
		cur := l.get("paused")
		return condition(cur, appsv1.DeploymentProgressing) == "Unknown DeploymentPaused Deployment is paused" && cur.Status.ObservedGeneration == 2, fmt.Sprintf("%+v", cur.Status)
	})
	// Paused, it still scales, but the template change waits.
	l.update("paused", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(2)) })
	l.waitForStatus("paused", appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UnavailableReplicas: 2})
	if rs := l.replicaSets(d); len(rs) != 1 {
		t.Fatalf("a paused Deployment rolled out: %v", names(rs))
	}

	l.update("paused", func(d *appsv1.Deployment) { d.Spec.Paused = false })
	l.waitFor("the resumed rollout", func() (bool, string) {
		rsList := l.replicaSets(d)
		for i := range rsList {
			l.markReady(&rsList[i])
		}
		cur := l.get("paused")
		return len(rsList) == 2 && deploymentComplete(cur, &cur.Status), fmt.Sprintf("%v %+v", names(rsList), cur.Status)
	})
}

func TestMaxSurgeZero(t *testing.T) {
	// maxSurge 0: old pods must go before new ones come; maxUnavailable 1.
	l := start(t)
	spec := newDeployment("nosurge", 2)
	zero, one := intstr.FromInt32(0), intstr.FromInt32(1)
	spec.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &zero, MaxUnavailable: &one}}
	d := l.create(spec)
	l.waitFor("ready pods", func() (bool, string) {
		rsList := l.replicaSets(d)
		for i := range rsList {
			l.markReady(&rsList[i])
		}
		cur := l.get("nosurge")
		return deploymentComplete(cur, &cur.Status), fmt.Sprintf("%+v", cur.Status)
	})
	d = l.update("nosurge", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28" })
	l.waitFor("the rollout", func() (bool, string) {
		rsList := l.replicaSets(d)
		var wanted int32
		for i := range rsList {
			wanted += *rsList[i].Spec.Replicas
			l.markReady(&rsList[i])
		}
		if wanted > 2 {
			t.Fatalf("%d pods wanted with maxSurge 0", wanted)
		}
		cur := l.get("nosurge")
		return cur.Status.ObservedGeneration == 2 && deploymentComplete(cur, &cur.Status) && cur.Status.Replicas == 2, fmt.Sprintf("%+v", cur.Status)
	})
}

// TestAdoptsOrphanReplicaSet: a ReplicaSet left behind (say by `kubectl
// delete deployment --cascade=orphan`) is adopted by a Deployment that
// selects it, and is its new ReplicaSet when the templates match.
func TestAdoptsOrphanReplicaSet(t *testing.T) {
	l := start(t)
	spec := newDeployment("orphan", 2)
	template := spec.Spec.Template.DeepCopy()
	template.Labels = map[string]string{"app": "orphan", "pod-template-hash": "left"}
	orphan := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan-left", Labels: template.Labels},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: template.Labels},
			Template: *template,
		},
	}
	orphan, err := l.client.AppsV1().ReplicaSets(ns).Create(context.Background(), orphan, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// As in kube-controller-manager, the controller finds ReplicaSets in
	// its cache: a Deployment it saw before the orphan would get a new
	// ReplicaSet (and adopt the orphan only later, as an old one).
	l.waitForCachedReplicaSet(orphan)
	d := l.create(spec)
	l.waitFor("the adoption", func() (bool, string) {
		rsList := l.replicaSets(d)
		return len(rsList) == 1 && *rsList[0].Spec.Replicas == 2, fmt.Sprint(names(rsList))
	})
	rs := l.replicaSets(d)[0]
	if rs.Name != "orphan-left" || rs.Annotations[revisionAnnotation] != "1" {
		t.Fatalf("ReplicaSet %s revision %q, want the orphan at revision 1", rs.Name, rs.Annotations[revisionAnnotation])
	}
	l.waitForEvent("orphan", "deployment-controller", "ScalingReplicaSet", "Scaled up replica set orphan-left from 1 to 2")
}
