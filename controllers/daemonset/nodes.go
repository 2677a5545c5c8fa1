package daemonset

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// daemonTolerations are the tolerations upstream's
// AddOrUpdateDaemonPodTolerations gives every DaemonSet pod: it survives
// the node lifecycle controller's taint-based eviction of NotReady and
// unreachable nodes, and is placed despite the taints of node conditions
// and of cordoning.
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// hostNetworkToleration is added for hostNetwork pods only: they do not
// need the pod network to be up.
var hostNetworkToleration = corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// addDaemonTolerations adds the daemon tolerations to a pod spec; one the
// spec already has (same key, operator, value and effect) is replaced in
// place, as upstream's AddOrUpdateTolerationInPodSpec does.
func addDaemonTolerations(spec *corev1.PodSpec) {
	add := daemonTolerations
	if spec.HostNetwork {
		add = append(slices.Clip(add), hostNetworkToleration)
	}
	for _, t := range add {
		i := slices.IndexFunc(spec.Tolerations, func(have corev1.Toleration) bool { return have.MatchToleration(&t) })
		if i >= 0 {
			spec.Tolerations[i] = t
			continue
		}
		spec.Tolerations = append(spec.Tolerations, t)
	}
}

// nodeShouldRunDaemonPod is upstream's NodeShouldRunDaemonPod. shouldRun:
// the node should get a pod if it has none; shouldContinueRunning: a pod
// already there may stay. Only a NoSchedule taint the pod does not
// tolerate separates the two.
func nodeShouldRunDaemonPod(node *corev1.Node, ds *appsv1.DaemonSet) (shouldRun, shouldContinueRunning bool) {
	spec := ds.Spec.Template.Spec.DeepCopy()
	addDaemonTolerations(spec)
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return false, false
	}
	if !nodeSelectorMatches(spec, node) {
		return false, false
	}
	if hasUntoleratedTaint(node.Spec.Taints, spec.Tolerations, corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute) {
		return false, !hasUntoleratedTaint(node.Spec.Taints, spec.Tolerations, corev1.TaintEffectNoExecute)
	}
	return true, true
}

// hasUntoleratedTaint says whether some taint with one of the effects is
// tolerated by none of the tolerations.
func hasUntoleratedTaint(taints []corev1.Taint, tolerations []corev1.Toleration, effects ...corev1.TaintEffect) bool {
	for i := range taints {
		taint := &taints[i]
		if !slices.Contains(effects, taint.Effect) {
			continue
		}
		tolerated := slices.ContainsFunc(tolerations, func(t corev1.Toleration) bool { return t.ToleratesTaint(taint) })
		if !tolerated {
			return true
		}
	}
	return false
}

// nodeSelectorMatches checks the pod's nodeSelector and required node
// affinity against a node, as the scheduler's NodeAffinity filter does: every
// nodeSelector label, and at least one of the required terms.
func nodeSelectorMatches(spec *corev1.PodSpec, node *corev1.Node) bool {
	if !labels.SelectorFromSet(spec.NodeSelector).Matches(labels.Set(node.Labels)) {
		return false
	}
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil || spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if termMatches(term, node) {
			return true
		}
	}
	return false
}

// termMatches: all of a term's expressions (on labels) and fields (only
// metadata.name exists) hold. An empty or malformed term matches nothing.
func termMatches(term corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	for _, r := range term.MatchExpressions {
		req, err := labelRequirement(r)
		if err != nil || !req.Matches(labels.Set(node.Labels)) {
			return false
		}
	}
	for _, r := range term.MatchFields {
		if r.Key != metav1.ObjectNameField || len(r.Values) != 1 {
			return false
		}
		switch r.Operator {
		case corev1.NodeSelectorOpIn:
			if r.Values[0] != node.Name {
				return false
			}
		case corev1.NodeSelectorOpNotIn:
			if r.Values[0] == node.Name {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// selectorOps maps node selector operators to label selector ones.
var selectorOps = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn:           selection.In,
	corev1.NodeSelectorOpNotIn:        selection.NotIn,
	corev1.NodeSelectorOpExists:       selection.Exists,
	corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt:           selection.GreaterThan,
	corev1.NodeSelectorOpLt:           selection.LessThan,
}

func labelRequirement(r corev1.NodeSelectorRequirement) (*labels.Requirement, error) {
	op, ok := selectorOps[r.Operator]
	if !ok {
		return nil, fmt.Errorf("%q is not a valid node selector operator", r.Operator)
	}
	return labels.NewRequirement(r.Key, op, r.Values)
}

// pinToNode makes a required node affinity that selects only the node, in
// place of the template's required terms (upstream's
// ReplaceDaemonSetPodNodeNameNodeAffinity); preferred terms stay.
func pinToNode(affinity *corev1.Affinity, node string) *corev1.Affinity {
	selector := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
	}}}
	if affinity == nil {
		affinity = &corev1.Affinity{}
	}
	if affinity.NodeAffinity == nil {
		affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = selector
	return affinity
}

// targetNode is the node a daemon pod is for: its spec.nodeName once bound,
// before that the node its affinity pins it to (upstream's
// GetTargetNodeName).
func targetNode(pod *corev1.Pod) (string, bool) {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName, true
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", false
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, r := range term.MatchFields {
			if r.Key == metav1.ObjectNameField && r.Operator == corev1.NodeSelectorOpIn {
				if len(r.Values) != 1 {
					return "", false
				}
				return r.Values[0], true
			}
		}
	}
	return "", false
}
