package daemonset

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestNodeShouldRunDaemonPod(t *testing.T) {
	taint := func(key string, effect corev1.TaintEffect) func(*corev1.Node) {
		return func(n *corev1.Node) {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: "x", Effect: effect})
		}
	}
	labelled := func(k, v string) func(*corev1.Node) { return func(n *corev1.Node) { n.Labels[k] = v } }
	notReady := func(n *corev1.Node) {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}
	}
	term := func(reqs ...corev1.NodeSelectorRequirement) func(*corev1.PodSpec) {
		return func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: reqs}},
			}}}
		}
	}
	for _, tc := range []struct {
		name           string
		node           *corev1.Node
		spec           func(*corev1.PodSpec)
		run, continues bool
	}{
		{"plain worker", node(worker), nil, true, true},
		{"NotReady worker: conditions do not matter", node(worker, notReady), nil, true, true},
		{"control plane", node(controlPlane), nil, false, true},
		{"control plane, tolerated", node(controlPlane), func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		}, true, true},
		{"NoExecute taint", node(worker, taint("dedicated", corev1.TaintEffectNoExecute)), nil, false, false},
		{"PreferNoSchedule taint", node(worker, taint("dedicated", corev1.TaintEffectPreferNoSchedule)), nil, true, true},
		{"not-ready NoExecute taint: tolerated by every daemon pod", node(worker, taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)), nil, true, true},
		{"cordoned: the unschedulable taint is tolerated", node(worker, taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule), func(n *corev1.Node) { n.Spec.Unschedulable = true }), nil, true, true},
		{"network-unavailable: only hostNetwork pods", node(worker, taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), nil, false, true},
		{"network-unavailable, hostNetwork", node(worker, taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), func(s *corev1.PodSpec) { s.HostNetwork = true }, true, true},
		{"nodeSelector matches", node(worker, labelled("disktype", "ssd")), func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"disktype": "ssd"} }, true, true},
		{"nodeSelector does not match", node(worker), func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"disktype": "ssd"} }, false, false},
		{"affinity In", node(worker, labelled("zone", "a")), term(corev1.NodeSelectorRequirement{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}), true, true},
		{"affinity NotIn", node(worker, labelled("zone", "a")), term(corev1.NodeSelectorRequirement{Key: "zone", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"a"}}), false, false},
		{"affinity Gt", node(worker, labelled("cores", "8")), term(corev1.NodeSelectorRequirement{Key: "cores", Operator: corev1.NodeSelectorOpGt, Values: []string{"4"}}), true, true},
		{"affinity DoesNotExist", node(controlPlane), term(corev1.NodeSelectorRequirement{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.NodeSelectorOpDoesNotExist}), false, false},
		{"empty term matches nothing", node(worker), term(), false, false},
		{"spec.nodeName elsewhere", node(worker), func(s *corev1.PodSpec) { s.NodeName = worker2 }, false, false},
		{"spec.nodeName here", node(worker), func(s *corev1.PodSpec) { s.NodeName = worker }, true, true},
	} {
		ds := newDaemonSet("ds")
		if tc.spec != nil {
			tc.spec(&ds.Spec.Template.Spec)
		}
		run, continues := nodeShouldRunDaemonPod(tc.node, ds)
		if run != tc.run || continues != tc.continues {
			t.Errorf("%s: (shouldRun %v, shouldContinueRunning %v), want (%v, %v)", tc.name, run, continues, tc.run, tc.continues)
		}
	}
}

func TestAddDaemonTolerations(t *testing.T) {
	// A toleration the pod already has is replaced in place (losing its
	// tolerationSeconds), the others kept in front.
	own := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}
	spec := &corev1.PodSpec{Tolerations: []corev1.Toleration{
		own,
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(300))},
	}}
	addDaemonTolerations(spec)
	want := []corev1.Toleration{
		own,
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if !reflect.DeepEqual(spec.Tolerations, want) {
		t.Errorf("tolerations\n%+v\nwant\n%+v", spec.Tolerations, want)
	}
	if len(daemonTolerations) != 6 {
		t.Error("adding the hostNetwork toleration changed the shared list")
	}
}

// nginxTemplate is the pod template of the Kubernetes documentation's
// nginx-deployment example with v1.33's defaults; kube-controller-manager
// hashes it to 647677fc66 (the name of its ReplicaSet in published
// outputs), and ComputeHash is what DaemonSets use too.
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

func TestTemplateHash(t *testing.T) {
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: nginxTemplate()}}
	if got := templateHash(ds); got != "647677fc66" {
		t.Errorf("hash %s, want 647677fc66", got)
	}
	ds.Status.CollisionCount = ptr.To(int32(1))
	if got := templateHash(ds); got == "647677fc66" {
		t.Error("collisionCount did not change the hash")
	}
}

func TestPodTemplate(t *testing.T) {
	ds := newDaemonSet("fluentd")
	ds.Annotations = map[string]string{appsv1.DeprecatedTemplateGeneration: "3"}
	tpl := podTemplate(ds, "abc")
	want := map[string]string{"name": "fluentd", "controller-revision-hash": "abc", "pod-template-generation": "3"}
	if !reflect.DeepEqual(tpl.Labels, want) {
		t.Errorf("labels %v, want %v", tpl.Labels, want)
	}
	if len(ds.Spec.Template.Labels) != 1 || len(ds.Spec.Template.Spec.Tolerations) != 0 {
		t.Error("building the pod template changed the DaemonSet's")
	}
}

func TestPinToNodeAndTargetNode(t *testing.T) {
	preferred := []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: corev1.NodeSelectorTerm{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}},
	}}}
	affinity := &corev1.Affinity{
		NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disktype", Operator: corev1.NodeSelectorOpExists}},
			}}},
			PreferredDuringSchedulingIgnoredDuringExecution: preferred,
		},
		PodAntiAffinity: &corev1.PodAntiAffinity{},
	}
	got := pinToNode(affinity, worker)
	want := pinnedTo(worker)
	want.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = preferred
	want.PodAntiAffinity = &corev1.PodAntiAffinity{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("affinity %+v, want %+v", got, want)
	}

	for _, tc := range []struct {
		pod  corev1.Pod
		node string
		ok   bool
	}{
		{corev1.Pod{Spec: corev1.PodSpec{Affinity: pinnedTo(worker)}}, worker, true},
		{corev1.Pod{Spec: corev1.PodSpec{Affinity: pinnedTo(worker), NodeName: worker2}}, worker2, true},
		{corev1.Pod{}, "", false},
	} {
		node, ok := targetNode(&tc.pod)
		if node != tc.node || ok != tc.ok {
			t.Errorf("targetNode: (%q, %v), want (%q, %v)", node, ok, tc.node, tc.ok)
		}
	}
}

func TestCalculateStatusLooksAtTheOldestPod(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	ds := newDaemonSet("fluentd")
	ds.Spec.MinReadySeconds = 10
	pod := func(name, hash string, created time.Time, readySince time.Time) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created), Labels: map[string]string{"controller-revision-hash": hash}}}
		if !readySince.IsZero() {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(readySince)}}
		}
		return p
	}
	nodes := []*corev1.Node{node(controlPlane), node(worker), node(worker2), node(worker3)}
	byNode := map[string][]*corev1.Pod{
		controlPlane: {pod("a", "new", now, time.Time{})}, // misscheduled
		worker: {
			pod("young", "new", now.Add(-time.Minute), now),
			pod("old", "old", now.Add(-time.Hour), now.Add(-time.Hour)), // counted: the oldest
		},
		worker2: {pod("c", "new", now, now.Add(-time.Second))}, // ready, not yet available
	}
	got := calculateStatus(ds, nodes, byNode, "new", now)
	want := appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 3, CurrentNumberScheduled: 2, NumberMisscheduled: 1,
		NumberReady: 2, NumberAvailable: 1, NumberUnavailable: 2, UpdatedNumberScheduled: 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("status %+v, want %+v", got, want)
	}
}
