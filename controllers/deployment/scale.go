package deployment

import (
	"context"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
)

// isScalingEvent says whether only replicas changed: some ReplicaSet with
// pods was sized for a different number (its desired-replicas annotation).
// A scaling event is handled by resizing, not by a rollout step.
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range activeReplicaSets(append(oldRSs, newRS)) {
		if desired, ok := intAnnotation(rs, desiredReplicasAnnotation); ok && desired != replicas(d) {
			return true, nil
		}
	}
	return false, nil
}

// syncScale resizes the ReplicaSets to the Deployment's replicas (also for
// a paused Deployment, which is resized but not rolled out) and writes
// status. Upstream calls it sync.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, oldRSs); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanupDeployment(ctx, oldRSs, d); err != nil {
			return err
		}
	}
	return c.syncDeploymentStatus(ctx, append(oldRSs, newRS), newRS, d)
}

// scale resizes the ReplicaSets: with one active ReplicaSet (no rollout in
// progress) that one gets all replicas; with a saturated new ReplicaSet
// the old ones go to 0; in the middle of a rolling update the difference
// is shared out in proportion to the ReplicaSets' sizes, the largest
// taking what rounding leaves, so the rollout continues at the new size.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) error {
	if rs := findActiveOrLatest(newRS, oldRSs); rs != nil {
		_, _, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, replicas(d), d)
		return err
	}
	if isSaturated(d, newRS) {
		for _, old := range activeReplicaSets(oldRSs) {
			if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, old, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	active := activeReplicaSets(append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS))
	var allowed int32
	if replicas(d) > 0 {
		allowed = replicas(d) + maxSurge(d)
	}
	toAdd := allowed - sum(active, specReplicas)
	switch {
	case toAdd > 0: // largest first, the newer one of equal size
		sort.SliceStable(active, func(i, j int) bool { return largerFirst(active[i], active[j], true) })
	case toAdd < 0: // largest first, the older one of equal size
		sort.SliceStable(active, func(i, j int) bool { return largerFirst(active[i], active[j], false) })
	}
	sizes := make([]int32, len(active))
	var added int32
	for i, rs := range active {
		sizes[i] = rsReplicas(rs)
		if toAdd != 0 {
			share := getProportion(rs, d, toAdd, added)
			sizes[i] += share
			added += share
		}
	}
	if len(active) > 0 && toAdd != 0 {
		sizes[0] = max(sizes[0]+toAdd-added, 0)
	}
	for i, rs := range active {
		if _, _, err := c.scaleReplicaSet(ctx, rs, sizes[i], d); err != nil {
			return err
		}
	}
	return nil
}

// largerFirst orders by size, larger first; ties by age, newer or older
// first.
func largerFirst(a, b *appsv1.ReplicaSet, newerFirst bool) bool {
	if rsReplicas(a) != rsReplicas(b) {
		return rsReplicas(a) > rsReplicas(b)
	}
	if newerFirst {
		return createdBefore(b, a)
	}
	return createdBefore(a, b)
}
