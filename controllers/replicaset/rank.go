package replicaset

import (
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

var everything = labels.Everything()

// podDeletionCostAnnotation lets users say which pods to remove first on
// scale-down (lower cost first).
const podDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// podsToDelete picks the n pods to remove on scale-down, in upstream's
// order of preference (ActivePodsWithRanks):
//  1. not yet scheduled before scheduled;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. lower pod-deletion-cost before higher;
//  5. on a node crowded with pods of the same Deployment before less crowded;
//  6. ready for a shorter time before longer;
//  7. more container restarts before fewer;
//  8. newer before older.
//
// In 6 and 8 times are compared on a logarithmic scale from now (upstream's
// LogarithmicScaleDown, on by default), pods in the same bucket ordered by
// UID, so that scale-down does not always pick the very newest pod.
func podsToDelete(owned, related []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n >= len(owned) {
		return owned
	}
	perNode := map[string]int{}
	for _, p := range related {
		perNode[p.Spec.NodeName]++
	}
	ranked := make([]rankedPod, len(owned))
	for i, p := range owned {
		ranked[i] = rankedPod{pod: p, rank: perNode[p.Spec.NodeName]}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return deleteFirst(ranked[i], ranked[j], now) })
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = ranked[i].pod
	}
	return out
}

type rankedPod struct {
	pod  *corev1.Pod
	rank int // active pods of the same owner on the pod's node
}

var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// deleteFirst says whether a should be deleted before b.
func deleteFirst(a, b rankedPod, now time.Time) bool {
	pa, pb := a.pod, b.pod
	if pa.Spec.NodeName != pb.Spec.NodeName && (pa.Spec.NodeName == "" || pb.Spec.NodeName == "") {
		return pa.Spec.NodeName == ""
	}
	if phaseOrder[pa.Status.Phase] != phaseOrder[pb.Status.Phase] {
		return phaseOrder[pa.Status.Phase] < phaseOrder[pb.Status.Phase]
	}
	if isPodReady(pa) != isPodReady(pb) {
		return !isPodReady(pa)
	}
	if ca, cb := deletionCost(pa), deletionCost(pb); ca != cb {
		return ca < cb
	}
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	if isPodReady(pa) && isPodReady(pb) {
		ta, tb := readySince(pa), readySince(pb)
		if !ta.Equal(tb) {
			if later, decided := laterOnLogScale(pa, pb, ta, tb, now); decided {
				return later
			}
		}
	}
	if ra, rb := maxRestarts(pa), maxRestarts(pb); ra != rb {
		return ra > rb
	}
	ta, tb := pa.CreationTimestamp.Time, pb.CreationTimestamp.Time
	if !ta.Equal(tb) {
		if later, decided := laterOnLogScale(pa, pb, ta, tb, now); decided {
			return later
		}
	}
	return false
}

// laterOnLogScale compares two times by the power of two of their age:
// the younger bucket (or a zero time) comes first, same bucket by UID.
func laterOnLogScale(pa, pb *corev1.Pod, ta, tb, now time.Time) (bool, bool) {
	if ta.IsZero() || tb.IsZero() {
		return ta.IsZero(), true
	}
	bucket := func(t time.Time) int64 {
		if d := now.Sub(t); d > 0 {
			return int64(math.Log2(float64(d)))
		}
		return -1
	}
	if ba, bb := bucket(ta), bucket(tb); ba != bb {
		return ba < bb, true
	}
	return pa.UID < pb.UID, true
}

func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[podDeletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0 // an invalid cost counts as the default
	}
	return int32(n)
}

func maxRestarts(p *corev1.Pod) int32 {
	var m int32
	for _, s := range p.Status.ContainerStatuses {
		m = max(m, s.RestartCount)
	}
	return m
}

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func isPodReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// readySince is when the pod last became ready (zero if it is not).
func readySince(p *corev1.Pod) time.Time {
	if c := readyCondition(p); c != nil && c.Status == corev1.ConditionTrue {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

// isPodAvailable: ready for at least minReadySeconds (at once when 0).
func isPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !isPodReady(p) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	since := readySince(p)
	return !since.IsZero() && since.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}
