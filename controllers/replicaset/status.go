package replicaset

import (
	"context"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// calculateStatus counts the owned, active pods the way upstream does:
// fullyLabeled ones carry every label of the template, ready ones have the
// Ready condition, available ones have been ready for minReadySeconds. A
// failed create or delete shows as the ReplicaFailure condition.
func calculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	template := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	var fullyLabeled, ready, available int32
	for _, p := range pods {
		if template.Matches(labels.Set(p.Labels)) {
			fullyLabeled++
		}
		if isPodReady(p) {
			ready++
			if isPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	failure := replicaFailure(status)
	switch {
	case manageErr != nil && failure == nil:
		reason := "FailedCreate"
		if len(pods) > int(replicasOf(rs)) {
			reason = "FailedDelete"
		}
		status.Conditions = append(status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		var keep []appsv1.ReplicaSetCondition
		for _, c := range status.Conditions {
			if c.Type != appsv1.ReplicaSetReplicaFailure {
				keep = append(keep, c)
			}
		}
		status.Conditions = keep
	}
	status.Replicas = int32(len(pods))
	status.FullyLabeledReplicas = fullyLabeled
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	return status
}

func replicaFailure(status appsv1.ReplicaSetStatus) *appsv1.ReplicaSetCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure {
			return &status.Conditions[i]
		}
	}
	return nil
}

// updateStatus writes status through the status subresource, only when it
// changed or the generation is not yet observed. A conflict is retried once
// on a fresh copy, as upstream does.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if sameCounts(rs.Status, status) && rs.Status.ObservedGeneration == rs.Generation && reflect.DeepEqual(rs.Status.Conditions, status.Conditions) {
		return rs, nil
	}
	client := c.client.AppsV1().ReplicaSets(rs.Namespace)
	for attempt := 0; ; attempt++ {
		update := rs.DeepCopy()
		update.Status = status
		update.Status.ObservedGeneration = rs.Generation
		updated, err := client.UpdateStatus(ctx, update, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsConflict(err) || attempt == 1 {
			return updated, err
		}
		if rs, err = client.Get(ctx, rs.Name, metav1.GetOptions{}); err != nil {
			return nil, err
		}
	}
}

func sameCounts(a, b appsv1.ReplicaSetStatus) bool {
	return a.Replicas == b.Replicas && a.FullyLabeledReplicas == b.FullyLabeledReplicas &&
		a.ReadyReplicas == b.ReadyReplicas && a.AvailableReplicas == b.AvailableReplicas
}

// nextAvailable returns how long until the next ready pod becomes
// available (minReadySeconds after it became ready), or 0 if none waits.
// Nothing else would wake the controller then: no object changes.
func nextAvailable(rs *appsv1.ReplicaSet, pods []*corev1.Pod, now time.Time) time.Duration {
	if rs.Spec.MinReadySeconds == 0 {
		return 0
	}
	var next time.Duration
	for _, p := range pods {
		if !isPodReady(p) || isPodAvailable(p, rs.Spec.MinReadySeconds, now) {
			continue
		}
		wait := readySince(p).Add(time.Duration(rs.Spec.MinReadySeconds) * time.Second).Sub(now)
		wait = max(wait, 0) + 100*time.Millisecond // available is strictly after the deadline
		if next == 0 || wait < next {
			next = wait
		}
	}
	return next
}
