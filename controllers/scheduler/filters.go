package scheduler

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// A filter says why a pod cannot go to a node ("" if it can). The reasons
// are kube-scheduler's, so that FailedScheduling events read the same.
// resolvable says whether evicting other pods (preemption) could help.
type filter struct {
	name  string
	check func(pod *corev1.Pod, node *nodeInfo) (reason string, resolvable bool)
}

// filters run in the order of kube-scheduler's default profile; a node is
// rejected by the first filter that fails, as upstream stops there too.
var filters = []filter{
	{"NodeUnschedulable", nodeUnschedulable},
	{"TaintToleration", taintToleration},
	{"NodeAffinity", nodeAffinity},
	{"NodePorts", nodePorts},
}

// nodeInfo is a node with the pods the scheduler counts on it.
type nodeInfo struct {
	node *corev1.Node
	pods []*corev1.Pod // assigned (or just bound) pods that have not finished
}

const (
	reasonUnschedulable = "node(s) were unschedulable"
	reasonTaint         = "node(s) had untolerated taint {%s: %s}"
	reasonAffinity      = "node(s) didn't match Pod's node affinity/selector"
	reasonPorts         = "node(s) didn't have free ports for the requested pod ports"
)

// nodeUnschedulable rejects cordoned nodes (`kubectl cordon`), unless the
// pod tolerates the unschedulable taint.
func nodeUnschedulable(pod *corev1.Pod, n *nodeInfo) (string, bool) {
	if !n.node.Spec.Unschedulable {
		return "", false
	}
	cordon := corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	if tolerated(pod, &cordon) {
		return "", false
	}
	return reasonUnschedulable, false
}

// taintToleration rejects a node with a NoSchedule or NoExecute taint the
// pod does not tolerate, naming the first such taint.
func taintToleration(pod *corev1.Pod, n *nodeInfo) (string, bool) {
	for _, taint := range effectiveTaints(n.node) {
		if taint.Effect != corev1.TaintEffectNoSchedule && taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerated(pod, &taint) {
			return fmt.Sprintf(reasonTaint, taint.Key, taint.Value), false
		}
	}
	return "", false
}

// effectiveTaints are the node's taints plus the one kube-controller-manager's
// node lifecycle controller puts on a node whose Ready condition is not
// True (node.kubernetes.io/not-ready, or unreachable when the kubelet
// stopped reporting). kube-scheduler itself never looks at conditions: it
// is that taint that keeps pods off such nodes.
func effectiveTaints(node *corev1.Node) []corev1.Taint {
	taints := node.Spec.Taints
	key := corev1.TaintNodeNotReady
	switch readyStatus(node) {
	case corev1.ConditionTrue:
		return taints
	case corev1.ConditionUnknown:
		key = corev1.TaintNodeUnreachable
	}
	for _, t := range taints {
		if t.Key == key && t.Effect == corev1.TaintEffectNoSchedule {
			return taints
		}
	}
	return append(slices.Clone(taints), corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
}

// readyStatus is the status of the node's Ready condition; a node that has
// not reported one yet is not ready.
func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionFalse
}

func tolerated(pod *corev1.Pod, taint *corev1.Taint) bool {
	for i := range pod.Spec.Tolerations {
		if pod.Spec.Tolerations[i].ToleratesTaint(taint) {
			return true
		}
	}
	return false
}

// nodeAffinity checks spec.nodeSelector (every label must match) and the
// required node affinity (any one of the nodeSelectorTerms must match).
func nodeAffinity(pod *corev1.Pod, n *nodeInfo) (string, bool) {
	nodeLabels := labels.Set(n.node.Labels)
	if !labels.SelectorFromSet(pod.Spec.NodeSelector).Matches(nodeLabels) {
		return reasonAffinity, false
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", false
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if termMatches(term, n.node) {
			return "", false
		}
	}
	return reasonAffinity, false
}

// termMatches ANDs a term's matchExpressions (on the node's labels) and
// matchFields (only metadata.name exists). An empty term matches nothing,
// and so does a term that cannot be parsed.
func termMatches(term corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	byLabels, ok := requirementsSelector(term.MatchExpressions)
	if !ok || !byLabels.Matches(labels.Set(node.Labels)) {
		return false
	}
	for _, r := range term.MatchFields {
		if r.Key != "metadata.name" {
			return false
		}
	}
	// metadata.name is matched like a label, against a set holding only it.
	byFields, ok := requirementsSelector(term.MatchFields)
	return ok && byFields.Matches(labels.Set{"metadata.name": node.Name})
}

// operators maps node selector operators to label selector ones.
var operators = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn:           selection.In,
	corev1.NodeSelectorOpNotIn:        selection.NotIn,
	corev1.NodeSelectorOpExists:       selection.Exists,
	corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt:           selection.GreaterThan,
	corev1.NodeSelectorOpLt:           selection.LessThan,
}

func requirementsSelector(reqs []corev1.NodeSelectorRequirement) (labels.Selector, bool) {
	sel := labels.NewSelector()
	for _, r := range reqs {
		op, ok := operators[r.Operator]
		if !ok {
			return nil, false
		}
		req, err := labels.NewRequirement(r.Key, op, r.Values)
		if err != nil {
			return nil, false
		}
		sel = sel.Add(*req)
	}
	return sel, true
}

// hostPort is a port a container asks the node for.
type hostPort struct {
	ip       string
	protocol corev1.Protocol
	port     int32
}

func hostPorts(pod *corev1.Pod) []hostPort {
	var out []hostPort
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			hp := hostPort{ip: p.HostIP, protocol: p.Protocol, port: p.HostPort}
			if hp.ip == "" {
				hp.ip = "0.0.0.0"
			}
			if hp.protocol == "" {
				hp.protocol = corev1.ProtocolTCP
			}
			out = append(out, hp)
		}
	}
	return out
}

func (a hostPort) conflicts(b hostPort) bool {
	if a.port != b.port || a.protocol != b.protocol {
		return false
	}
	return a.ip == b.ip || a.ip == "0.0.0.0" || b.ip == "0.0.0.0"
}

// nodePorts rejects a node where a hostPort the pod wants is taken.
// Evicting the pod holding it could free it, so this one is resolvable.
func nodePorts(pod *corev1.Pod, n *nodeInfo) (string, bool) {
	want := hostPorts(pod)
	if len(want) == 0 {
		return "", false
	}
	for _, other := range n.pods {
		for _, used := range hostPorts(other) {
			for _, w := range want {
				if w.conflicts(used) {
					return reasonPorts, true
				}
			}
		}
	}
	return "", false
}

// fitError builds kube-scheduler's FailedScheduling message: how many
// nodes failed for each reason, then what preemption found. With all pods
// at the same priority, preemption never finds victims; for reasons it
// cannot fix it is "not helpful".
//
//	0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.
func fitError(numNodes int, reasons map[string]int, preemption map[string]int) string {
	return fmt.Sprintf("0/%d nodes are available: %s. preemption: 0/%d nodes are available: %s.",
		numNodes, histogram(reasons), numNodes, histogram(preemption))
}

func histogram(counts map[string]int) string {
	var parts []string
	for reason, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, reason))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
