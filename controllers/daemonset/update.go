package daemonset

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// templateHash is the DaemonSet's controller-revision-hash, computed as
// upstream's controller.ComputeHash: FNV-32a over the template printed by
// dump.ForHash, then the collisionCount (if set) as 8 little-endian bytes,
// the sum rendered by rand.SafeEncodeString. Upstream names the
// ControllerRevision "<ds>-<hash>" and labels the pods with the bare hash.
func templateHash(ds *appsv1.DaemonSet) string {
	h := fnv.New32a()
	_, _ = io.WriteString(h, dump.ForHash(ds.Spec.Template))
	if ds.Status.CollisionCount != nil {
		buf := make([]byte, 8)
		binary.LittleEndian.PutUint32(buf, uint32(*ds.Status.CollisionCount))
		_, _ = h.Write(buf)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// rollingUpdate takes one step of a RollingUpdate without surge (upstream's
// rollingUpdate with maxSurge 0): it deletes old pods so that at most
// maxUnavailable wanted nodes lack an available pod, and leaves the
// creation of the new ones to the next sync. Old pods that are not
// available anyway are replaced at once. Nodes go in name order.
func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string) error {
	byNode, err := c.nodesToDaemonPods(ctx, ds)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %v", ds.Name, err)
	}
	desired := 0
	for _, node := range nodes {
		if shouldRun, _ := nodeShouldRunDaemonPod(node, ds); shouldRun {
			desired++
			if _, ok := byNode[node.Name]; !ok {
				byNode[node.Name] = nil // a wanted node without a pod is unavailable
			}
		}
	}
	maxUnavailable, err := unavailableCount(ds, desired)
	if err != nil {
		return err
	}
	now := c.now()
	unavailable := 0
	var replace, candidates []string
	for _, node := range slices.Sorted(maps.Keys(byNode)) {
		newPod, oldPod, ok := updatedPodsOnNode(byNode[node], hash)
		switch {
		case !ok, newPod == nil && oldPod == nil, newPod != nil && oldPod != nil:
			// The manage step creates or deletes here; count it as down.
			unavailable++
		case newPod != nil:
			if !isPodAvailable(newPod, ds.Spec.MinReadySeconds, now) {
				unavailable++
			}
		case !isPodAvailable(oldPod, ds.Spec.MinReadySeconds, now):
			replace = append(replace, oldPod.Name)
			unavailable++
		case unavailable < maxUnavailable:
			candidates = append(candidates, oldPod.Name)
		}
	}
	n := min(max(maxUnavailable-unavailable, 0), len(candidates))
	return c.syncNodes(ctx, ds, append(replace, candidates[:n]...), nil, hash)
}

// unavailableCount is maxUnavailable, scaled against the nodes that should
// run the DaemonSet (a percentage rounds up). Were it 0 (a DaemonSet asking
// for surge, which this controller does not do), one node at a time.
func unavailableCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	n := 0
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		var err error
		if n, err = intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, true); err != nil {
			return 0, fmt.Errorf("invalid value for MaxUnavailable: %v", err)
		}
	}
	if desired > 0 && n == 0 {
		n = 1
	}
	return n, nil
}

// updatedPodsOnNode splits a node's live pods into the one of the current
// template and the one of an old template; ok is false if there are two of
// a kind.
func updatedPodsOnNode(pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = pod
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = pod
		}
	}
	return newPod, oldPod, true
}
