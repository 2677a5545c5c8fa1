package daemonset

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// wantTolerations are the tolerations every DaemonSet pod gets, in
// upstream's order, after those of the template.
func wantTolerations(template ...corev1.Toleration) []corev1.Toleration {
	return append(template,
		corev1.Toleration{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute"},
		corev1.Toleration{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: "NoExecute"},
		corev1.Toleration{Key: "node.kubernetes.io/disk-pressure", Operator: "Exists", Effect: "NoSchedule"},
		corev1.Toleration{Key: "node.kubernetes.io/memory-pressure", Operator: "Exists", Effect: "NoSchedule"},
		corev1.Toleration{Key: "node.kubernetes.io/pid-pressure", Operator: "Exists", Effect: "NoSchedule"},
		corev1.Toleration{Key: "node.kubernetes.io/unschedulable", Operator: "Exists", Effect: "NoSchedule"},
	)
}

func pinnedTo(node string) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{node}}},
		}}},
	}}
}

func TestOnePodPerQualifyingNode(t *testing.T) {
	l := start(t, node(controlPlane), node(worker), node(worker2))
	ds := l.create(newDaemonSet("fluentd"))
	hash := templateHash(l.get("fluentd"))

	// The control plane's NoSchedule taint keeps the pod off it.
	pods := l.waitForNodes(worker, worker2)
	for n, p := range pods {
		if p.GenerateName != "fluentd-" || !regexp.MustCompile(`^fluentd-[bcdfghjklmnpqrstvwxz2456789]{5}$`).MatchString(p.Name) {
			t.Errorf("pod name %q (generateName %q), want fluentd-xxxxx", p.Name, p.GenerateName)
		}
		if want := map[string]string{"name": "fluentd", "controller-revision-hash": hash}; !reflect.DeepEqual(p.Labels, want) {
			t.Errorf("%s: labels %v, want %v", p.Name, p.Labels, want)
		}
		wantRefs := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "fluentd", UID: ds.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
		if !reflect.DeepEqual(p.OwnerReferences, wantRefs) {
			t.Errorf("%s: ownerReferences %+v", p.Name, p.OwnerReferences)
		}
		if !reflect.DeepEqual(p.Spec.Affinity, pinnedTo(n)) {
			t.Errorf("%s: affinity %+v, want matchFields metadata.name In [%s]", p.Name, p.Spec.Affinity, n)
		}
		if !reflect.DeepEqual(p.Spec.Tolerations, wantTolerations()) {
			t.Errorf("%s: tolerations %+v", p.Name, p.Spec.Tolerations)
		}
		if p.Spec.NodeName != "" {
			t.Errorf("%s: bound to %s by the controller; the scheduler binds", p.Name, p.Spec.NodeName)
		}
		l.waitForEvent("fluentd", corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: "+p.Name)
	}
	l.waitForStatus("fluentd", appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberUnavailable: 2, ObservedGeneration: 1,
	})
	l.stillNodes(pods)

	l.ready(pods[worker], pods[worker2])
	l.waitForStatus("fluentd", appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2, ObservedGeneration: 1,
	})
}

func TestControlPlaneTakesPodsThatTolerateItsTaint(t *testing.T) {
	l := start(t, node(controlPlane), node(worker))
	ds := newDaemonSet("kube-proxy")
	toleration := corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{toleration}
	ds.Spec.Template.Spec.HostNetwork = true
	l.create(ds)
	pods := l.waitForNodes(controlPlane, worker)
	want := append(wantTolerations(toleration), corev1.Toleration{Key: "node.kubernetes.io/network-unavailable", Operator: "Exists", Effect: "NoSchedule"})
	if got := pods[controlPlane].Spec.Tolerations; !reflect.DeepEqual(got, want) {
		t.Errorf("tolerations %+v, want %+v", got, want)
	}
	l.waitForStatus("kube-proxy", appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberUnavailable: 2, ObservedGeneration: 1,
	})
}

func TestNodesComingAndGoing(t *testing.T) {
	l := start(t, node(worker), node(worker2))
	l.create(newDaemonSet("fluentd"))
	l.waitForNodes(worker, worker2)

	l.createNode(node(worker3))
	pods := l.waitForNodes(worker, worker2, worker3)
	l.waitForStatus("fluentd", appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberUnavailable: 3, ObservedGeneration: 1,
	})

	gone := pods[worker3]
	l.deleteNode(worker3)
	l.waitForNodes(worker, worker2)
	l.waitForEvent("fluentd", corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: "+gone.Name)
	l.waitForStatus("fluentd", appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberUnavailable: 2, ObservedGeneration: 1,
	})
}

func TestNodeSelectorAndTaints(t *testing.T) {
	ssd := func(n *corev1.Node) { n.Labels["disktype"] = "ssd" }
	l := start(t, node(worker, ssd), node(worker2), node(worker3, ssd))
	ds := newDaemonSet("cache")
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"disktype": "ssd"}
	l.create(ds)
	pods := l.waitForNodes(worker, worker3)

	// A node that gains the label gains a pod; one that loses it, loses it.
	l.patchNode(worker2, `{"metadata":{"labels":{"disktype":"ssd"}}}`)
	pods = l.waitForNodes(worker, worker2, worker3)
	l.patchNode(worker, `{"metadata":{"labels":{"disktype":null}}}`)
	l.waitForNodes(worker2, worker3)
	l.waitForEvent("cache", corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: "+pods[worker].Name)

	// A NoSchedule taint keeps a running pod (it is misscheduled then);
	// a NoExecute one evicts it.
	l.patchNode(worker2, `{"spec":{"taints":[{"key":"dedicated","value":"db","effect":"NoSchedule"}]}}`)
	l.waitForStatus("cache", appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 1, CurrentNumberScheduled: 1, NumberMisscheduled: 1, UpdatedNumberScheduled: 1, NumberUnavailable: 1, ObservedGeneration: 1,
	})
	l.stillNodes(map[string]*corev1.Pod{worker2: pods[worker2], worker3: pods[worker3]})
	l.patchNode(worker2, `{"spec":{"taints":[{"key":"dedicated","value":"db","effect":"NoExecute"}]}}`)
	l.waitForNodes(worker3)
	l.waitForStatus("cache", appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 1, CurrentNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberUnavailable: 1, ObservedGeneration: 1,
	})
}

func TestRollingUpdateReplacesOneNodeAtATime(t *testing.T) {
	l := start(t, node(worker), node(worker2), node(worker3))
	l.create(newDaemonSet("fluentd"))
	pods := l.waitForNodes(worker, worker2, worker3)
	l.ready(pods[worker], pods[worker2], pods[worker3])
	oldHash := templateHash(l.get("fluentd"))
	l.waitForStatus("fluentd", appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberReady: 3, NumberAvailable: 3, ObservedGeneration: 1,
	})

	_, err := l.client.AppsV1().DaemonSets(ns).Patch(context.Background(), "fluentd", "application/merge-patch+json",
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"fluentd","image":"quay.io/fluentd_elasticsearch/fluentd:v5.0.2"}]}}}}`), metav1.PatchOptions{})
	l.must(err)
	newHash := templateHash(l.get("fluentd"))
	if newHash == oldHash {
		t.Fatal("a new image did not change the hash")
	}
	order := []string{worker, worker2, worker3}
	for i, n := range order {
		var fresh *corev1.Pod
		l.waitFor("the new pod on "+n, func() (bool, string) {
			fresh = l.podsByNode()[n]
			return fresh != nil && fresh.Labels["controller-revision-hash"] == newHash, fmt.Sprint(nodesOf(l.podsByNode()))
		})
		l.waitForEvent("fluentd", corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: "+pods[n].Name)
		// maxUnavailable 1: the other nodes keep their old pods until the
		// new one is Ready.
		now := l.podsByNode()
		l.stillNodes(now)
		for _, other := range order[i+1:] {
			if now[other].UID != pods[other].UID {
				t.Fatalf("the pod on %s was replaced while %s's new pod was not ready", other, n)
			}
		}
		l.ready(fresh)
	}
	l.waitForStatus("fluentd", appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberReady: 3, NumberAvailable: 3, ObservedGeneration: 2,
	})
}

func TestOnDeleteKeepsOldPods(t *testing.T) {
	l := start(t, node(worker), node(worker2))
	ds := newDaemonSet("fluentd")
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	l.create(ds)
	pods := l.waitForNodes(worker, worker2)
	l.ready(pods[worker], pods[worker2])
	_, err := l.client.AppsV1().DaemonSets(ns).Patch(context.Background(), "fluentd", "application/merge-patch+json",
		[]byte(`{"spec":{"template":{"metadata":{"labels":{"release":"2"}}}}}`), metav1.PatchOptions{})
	l.must(err)
	l.waitForStatus("fluentd", appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2, ObservedGeneration: 2,
	})
	l.stillNodes(pods)
	l.must(l.client.CoreV1().Pods(ns).Delete(context.Background(), pods[worker].Name, metav1.DeleteOptions{}))
	l.waitFor("a new pod on "+worker, func() (bool, string) {
		p := l.podsByNode()[worker]
		return p != nil && p.Labels["release"] == "2", nodesOf(l.podsByNode())
	})
	l.waitForStatus("fluentd", appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, UpdatedNumberScheduled: 1, NumberReady: 1, NumberAvailable: 1, NumberUnavailable: 1, ObservedGeneration: 2,
	})
}

func TestFailedPodsAreReplaced(t *testing.T) {
	l := start(t, node(worker))
	l.create(newDaemonSet("fluentd"))
	failed := l.waitForNodes(worker)[worker]
	l.setPodStatus(failed, corev1.PodFailed, false)
	l.waitFor("a new pod", func() (bool, string) {
		p := l.podsByNode()[worker]
		return p != nil && p.UID != failed.UID, nodesOf(l.podsByNode())
	})
	l.waitForEvent("fluentd", corev1.EventTypeWarning, "FailedDaemonPod",
		fmt.Sprintf("Found failed daemon pod default/%s on node %s, will try to kill it", failed.Name, worker))
	l.waitForEvent("fluentd", corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: "+failed.Name)
}
