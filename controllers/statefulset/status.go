package statefulset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// completeRollingUpdate ends a rollout once every wanted pod is of the
// update revision and Ready: the update revision becomes the current one.
func completeRollingUpdate(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) {
	want := int32(replicasOf(set))
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		status.UpdatedReplicas == want && status.ReadyReplicas == want && status.Replicas == want {
		status.CurrentReplicas = status.UpdatedReplicas
		status.CurrentRevision = status.UpdateRevision
	}
}

// statusChanged is upstream's inconsistentStatus: a newer generation or any
// count or revision differs.
func statusChanged(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) bool {
	old := &set.Status
	return status.ObservedGeneration > old.ObservedGeneration ||
		status.Replicas != old.Replicas || status.ReadyReplicas != old.ReadyReplicas ||
		status.CurrentReplicas != old.CurrentReplicas || status.UpdatedReplicas != old.UpdatedReplicas ||
		status.AvailableReplicas != old.AvailableReplicas ||
		status.CurrentRevision != old.CurrentRevision || status.UpdateRevision != old.UpdateRevision
}

// updateStatus writes status through the status subresource, only when it
// changed. A conflict is retried once on a fresh copy.
func (c *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) error {
	completeRollingUpdate(set, status)
	if !statusChanged(set, status) {
		return nil
	}
	client := c.client.AppsV1().StatefulSets(set.Namespace)
	for attempt := 0; ; attempt++ {
		update := set.DeepCopy()
		update.Status = *status
		_, err := client.UpdateStatus(ctx, update, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsConflict(err) || attempt == 1 {
			return err
		}
		if set, err = client.Get(ctx, set.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
}
