package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

const (
	controlPlane = "minilab-control-plane"
	worker       = "minilab-worker"
	worker2      = "minilab-worker2"
)

var controlPlaneTaint = corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}

// labNode is a node as minilab creates them: Ready, labelled with its
// hostname; the control plane also has its role label and taint.
func labNode(name string, mutate ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
	if name == controlPlane {
		n.Labels["node-role.kubernetes.io/control-plane"] = ""
		n.Spec.Taints = []corev1.Taint{controlPlaneTaint}
	}
	for _, m := range mutate {
		m(n)
	}
	return n
}

func labNodes(mutate map[string]func(*corev1.Node)) []*corev1.Node {
	var out []*corev1.Node
	for _, name := range []string{controlPlane, worker, worker2} {
		if m := mutate[name]; m != nil {
			out = append(out, labNode(name, m))
		} else {
			out = append(out, labNode(name))
		}
	}
	return out
}

func unitPod(name, node, owner string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}
	if owner != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner, UID: types.UID(owner), Controller: ptr.To(true)}}
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func withHostPort(ip string, port int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: port, HostIP: ip, Protocol: corev1.ProtocolTCP}}
	}
}

func withSelector(sel map[string]string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.NodeSelector = sel }
}

func withAffinity(terms ...corev1.NodeSelectorTerm) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
		}}
	}
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

// testScheduler is a scheduler over fixed listers, without an API.
func testScheduler(nodes []*corev1.Node, pods []*corev1.Pod) *Scheduler {
	podIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	nodeIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, p := range pods {
		podIdx.Add(p)
	}
	for _, n := range nodes {
		nodeIdx.Add(n)
	}
	return &Scheduler{
		pods: listerscorev1.NewPodLister(podIdx), nodes: listerscorev1.NewNodeLister(nodeIdx),
		unschedulable: map[string]bool{}, assumed: map[types.UID]*corev1.Pod{},
	}
}

func TestFindNode(t *testing.T) {
	cordon := func(n *corev1.Node) { n.Spec.Unschedulable = true }
	notReady := func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }
	unknown := func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionUnknown }
	ssd := func(n *corev1.Node) { n.Labels["disktype"] = "ssd"; n.Labels["cores"] = "16" }
	tolerateAll := func(p *corev1.Pod) { p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}} }

	cases := []struct {
		name     string
		nodes    []*corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     string // the node, or the FailedScheduling message
	}{{
		name: "no nodes", pod: unitPod("p", "", ""),
		want: "no nodes available to schedule pods",
	}, {
		name:  "the control plane is tainted; workers in name order",
		nodes: labNodes(nil), pod: unitPod("p", "", ""),
		want: worker,
	}, {
		name:  "replicas of one owner spread",
		nodes: labNodes(nil),
		existing: []*corev1.Pod{
			unitPod("rs-1", worker, "rs"), unitPod("x", worker2, "other"), unitPod("y", worker2, "other"),
		},
		pod:  unitPod("rs-2", "", "rs"),
		want: worker2,
	}, {
		name:     "then fewest pods",
		nodes:    labNodes(nil),
		existing: []*corev1.Pod{unitPod("a", worker, "rs"), unitPod("b", worker, "rs"), unitPod("c", worker2, "rs")},
		pod:      unitPod("lonely", "", ""),
		want:     worker2,
	}, {
		name:     "finished and terminating pods do not count",
		nodes:    labNodes(nil),
		existing: []*corev1.Pod{unitPod("done", worker, "rs", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), unitPod("rs-1", worker2, "rs")},
		pod:      unitPod("rs-2", "", "rs"),
		want:     worker,
	}, {
		name:  "nodeSelector nobody matches",
		nodes: labNodes(nil), pod: unitPod("p", "", "", withSelector(map[string]string{"disktype": "ssd"})),
		want: "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
	}, {
		name:  "nodeSelector",
		nodes: labNodes(map[string]func(*corev1.Node){worker2: ssd}), pod: unitPod("p", "", "", withSelector(map[string]string{"disktype": "ssd"})),
		want: worker2,
	}, {
		name:  "tolerating the control-plane taint",
		nodes: labNodes(nil),
		pod: unitPod("p", "", "", withSelector(map[string]string{"node-role.kubernetes.io/control-plane": ""}), func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		}),
		want: controlPlane,
	}, {
		name:  "cordoned and not-ready nodes",
		nodes: labNodes(map[string]func(*corev1.Node){worker: cordon, worker2: notReady}), pod: unitPod("p", "", ""),
		want: "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
	}, {
		name:  "a node that stopped reporting is unreachable",
		nodes: []*corev1.Node{labNode(worker, unknown)}, pod: unitPod("p", "", ""),
		want: "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
	}, {
		name:  "tolerating everything goes anywhere, cordoned or not",
		nodes: labNodes(map[string]func(*corev1.Node){worker: cordon, worker2: notReady}), pod: unitPod("p", "", "", tolerateAll),
		want: controlPlane,
	}, {
		name:     "host ports in use",
		nodes:    labNodes(nil),
		existing: []*corev1.Pod{unitPod("a", worker, "", withHostPort("", 8080)), unitPod("b", worker2, "", withHostPort("0.0.0.0", 8080))},
		pod:      unitPod("p", "", "", withHostPort("", 8080)),
		want:     "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't have free ports for the requested pod ports. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
	}, {
		name:     "the same host port on another address is free",
		nodes:    labNodes(nil),
		existing: []*corev1.Pod{unitPod("a", worker, "", withHostPort("127.0.0.1", 8080)), unitPod("b", worker2, "", withHostPort("127.0.0.1", 8080))},
		pod:      unitPod("p", "", "", withHostPort("10.0.0.1", 8080)),
		want:     worker,
	}, {
		name:  "required node affinity: In",
		nodes: labNodes(nil), pod: unitPod("p", "", "", withAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr(corev1.LabelHostname, corev1.NodeSelectorOpIn, worker2)}})),
		want: worker2,
	}, {
		name:  "required node affinity: terms are ORed, expressions ANDed",
		nodes: labNodes(map[string]func(*corev1.Node){worker2: ssd}),
		pod: unitPod("p", "", "", withAffinity(
			corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr(corev1.LabelHostname, corev1.NodeSelectorOpIn, worker), expr("disktype", corev1.NodeSelectorOpExists)}},
			corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr("cores", corev1.NodeSelectorOpGt, "8"), expr("gpu", corev1.NodeSelectorOpDoesNotExist)}},
		)),
		want: worker2,
	}, {
		name:  "required node affinity: matchFields on metadata.name",
		nodes: labNodes(nil), pod: unitPod("p", "", "", withAffinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{expr("metadata.name", corev1.NodeSelectorOpNotIn, worker)}})),
		want: worker2,
	}, {
		name:  "required node affinity nobody matches",
		nodes: labNodes(nil), pod: unitPod("p", "", "", withAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr(corev1.LabelHostname, corev1.NodeSelectorOpNotIn, worker, worker2)}})),
		want: "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
	}, {
		name:  "an empty term matches nothing",
		nodes: labNodes(nil), pod: unitPod("p", "", "", withAffinity(corev1.NodeSelectorTerm{})),
		want: "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := testScheduler(tc.nodes, tc.existing)
			node, msg := s.findNode(tc.pod)
			got := node
			if node == "" {
				got = msg
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestAssumedPodsCount(t *testing.T) {
	// The informer has not caught up with the binding of rs-1 yet: the
	// scheduler must still count it on worker, or rs-2 lands there too.
	pending := unitPod("rs-1", "", "rs")
	s := testScheduler(labNodes(nil), []*corev1.Pod{pending})
	bound := pending.DeepCopy()
	bound.Spec.NodeName = worker
	s.assumed[pending.UID] = bound
	if node, msg := s.findNode(unitPod("rs-2", "", "rs")); node != worker2 {
		t.Errorf("rs-2 went to %q (%s), want %s", node, msg, worker2)
	}
	if len(s.assumed) != 1 {
		t.Errorf("the assumed pod was forgotten too early")
	}
	// Once the cache shows it bound, the scheduler forgets it.
	s = testScheduler(labNodes(nil), []*corev1.Pod{bound})
	s.assumed[pending.UID] = bound
	s.findNode(unitPod("rs-2", "", "rs"))
	if len(s.assumed) != 0 {
		t.Errorf("assumed pods the cache shows bound are kept: %v", s.assumed)
	}
}
