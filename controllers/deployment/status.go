package deployment

import (
	"context"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// calculateStatus derives the Deployment's status from its ReplicaSets'
// (upstream's calculateStatus): replicas, ready and available add up the
// ReplicaSets' status, updatedReplicas is the new ReplicaSet's, and
// unavailableReplicas compares the wanted total with the available one.
// The Available condition says whether at least replicas-maxUnavailable
// pods are available.
func (c *Controller) calculateStatus(allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) appsv1.DeploymentStatus {
	available := sum(allRSs, availableReplicas)
	unavailable := max(sum(allRSs, specReplicas)-available, 0) // more than wanted while scaling down
	status := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sum(allRSs, statusReplicas),
		UpdatedReplicas:     sum([]*appsv1.ReplicaSet{newRS}, statusReplicas),
		ReadyReplicas:       sum(allRSs, readyReplicas),
		AvailableReplicas:   available,
		UnavailableReplicas: unavailable,
		CollisionCount:      d.Status.CollisionCount,
	}
	for _, cond := range d.Status.Conditions {
		status.Conditions = append(status.Conditions, *cond.DeepCopy())
	}
	if available >= replicas(d)-maxUnavailable(d) {
		setCondition(&status, c.newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, reasonMinimumAvailable, "Deployment has minimum availability."))
	} else {
		setCondition(&status, c.newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, reasonMinimumUnavailable, "Deployment does not have minimum availability."))
	}
	return status
}

// syncDeploymentStatus writes the status computed from the ReplicaSets,
// when it changed (the path of plain resizes and paused Deployments).
func (c *Controller) syncDeploymentStatus(ctx context.Context, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	status := c.calculateStatus(allRSs, newRS, d)
	if reflect.DeepEqual(d.Status, status) {
		return nil
	}
	d.Status = status
	return c.updateStatus(ctx, d)
}

// syncStatusOnly reports status without acting (a Deployment being deleted).
func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	return c.syncDeploymentStatus(ctx, append(oldRSs, newRS), newRS, d)
}

// syncRolloutStatus writes the status of a rollout step, with the
// Progressing condition upstream keeps while a deadline is set:
// NewReplicaSetAvailable once the rollout is complete, ReplicaSetUpdated
// (its lastUpdateTime refreshed) whenever pods moved, and
// ProgressDeadlineExceeded when nothing moved for progressDeadlineSeconds.
func (c *Controller) syncRolloutStatus(ctx context.Context, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	status := c.calculateStatus(allRSs, newRS, d)
	if !hasProgressDeadline(d) {
		removeCondition(&status, appsv1.DeploymentProgressing)
	}
	current := getCondition(d.Status, appsv1.DeploymentProgressing)
	complete := status.Replicas == status.UpdatedReplicas && current != nil && current.Reason == reasonNewRSAvailable
	if hasProgressDeadline(d) && !complete {
		subject := fmt.Sprintf("Deployment %q", d.Name)
		if newRS != nil {
			subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
		}
		switch {
		case deploymentComplete(d, &status):
			setCondition(&status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewRSAvailable, subject+" has successfully progressed."))
		case deploymentProgressing(d, &status):
			// Unlike setCondition, progress refreshes the condition even
			// with the same reason: lastUpdateTime is what the deadline
			// counts from. lastTransitionTime stays while it stays True.
			cond := c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonReplicaSetUpdated, subject+" is progressing.")
			if current != nil {
				if current.Status == corev1.ConditionTrue {
					cond.LastTransitionTime = current.LastTransitionTime
				}
				removeCondition(&status, appsv1.DeploymentProgressing)
			}
			setCondition(&status, cond)
		case c.deploymentTimedOut(d, &status):
			setCondition(&status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonTimedOut, subject+" has timed out progressing."))
		}
	}
	// A ReplicaSet that cannot create pods makes the Deployment report it,
	// the new one's failure first.
	if failure := replicaFailure(append([]*appsv1.ReplicaSet{newRS}, allRSs...)); failure != nil {
		setCondition(&status, *failure)
	} else {
		removeCondition(&status, appsv1.DeploymentReplicaFailure)
	}

	if reflect.DeepEqual(d.Status, status) {
		// Nothing changes until the deadline passes: come back then.
		c.requeueStuckDeployment(d, status)
		return nil
	}
	d.Status = status
	return c.updateStatus(ctx, d)
}

// replicaFailure returns the first ReplicaFailure condition in the list,
// as a Deployment condition.
func replicaFailure(list []*appsv1.ReplicaSet) *appsv1.DeploymentCondition {
	for _, rs := range list {
		if rs == nil {
			continue
		}
		for _, cond := range rs.Status.Conditions {
			if cond.Type == appsv1.ReplicaSetReplicaFailure {
				return &appsv1.DeploymentCondition{
					Type: appsv1.DeploymentReplicaFailure, Status: cond.Status, Reason: cond.Reason, Message: cond.Message,
					LastUpdateTime: cond.LastTransitionTime, LastTransitionTime: cond.LastTransitionTime,
				}
			}
		}
	}
	return nil
}

// requeueStuckDeployment schedules a sync for when a rollout in progress
// would pass its deadline, to report ProgressDeadlineExceeded then.
func (c *Controller) requeueStuckDeployment(d *appsv1.Deployment, status appsv1.DeploymentStatus) {
	cond := getCondition(d.Status, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || cond == nil || cond.Reason == reasonTimedOut || deploymentComplete(d, &status) {
		return
	}
	deadline := cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	after := deadline.Sub(c.now())
	if after < time.Second {
		c.queue.AddRateLimited(keyOf(d))
		return
	}
	c.queue.AddAfter(keyOf(d), after+time.Second)
}

// deploymentComplete: every wanted pod is updated and available, and the
// spec seen is the latest.
func deploymentComplete(d *appsv1.Deployment, status *appsv1.DeploymentStatus) bool {
	n := replicas(d)
	return status.UpdatedReplicas == n && status.Replicas == n && status.AvailableReplicas == n && status.ObservedGeneration >= d.Generation
}

// deploymentProgressing: compared with the status last written, more pods
// are updated, ready or available, or fewer old ones remain.
func deploymentProgressing(d *appsv1.Deployment, status *appsv1.DeploymentStatus) bool {
	old := d.Status
	return status.UpdatedReplicas > old.UpdatedReplicas ||
		status.Replicas-status.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		status.ReadyReplicas > old.ReadyReplicas ||
		status.AvailableReplicas > old.AvailableReplicas
}

func (c *Controller) deploymentTimedOut(d *appsv1.Deployment, status *appsv1.DeploymentStatus) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	cond := getCondition(*status, appsv1.DeploymentProgressing)
	if cond == nil || cond.Reason == reasonNewRSAvailable {
		return false
	}
	if cond.Reason == reasonTimedOut {
		return true
	}
	deadline := cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	return deadline.Before(c.now())
}

// checkPausedConditions marks a paused Deployment's Progressing condition
// Unknown (DeploymentPaused) and a resumed one DeploymentResumed, so the
// time spent paused never counts against the progress deadline.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := getCondition(d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == reasonTimedOut {
		return nil // a reported failure stays
	}
	pausedShown := cond != nil && cond.Reason == reasonPaused
	switch {
	case d.Spec.Paused && !pausedShown:
		setCondition(&d.Status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonPaused, "Deployment is paused"))
	case !d.Spec.Paused && pausedShown:
		setCondition(&d.Status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonResumed, "Deployment is resumed"))
	default:
		return nil
	}
	return c.updateStatus(ctx, d)
}

func (c *Controller) newCondition(t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, message string) appsv1.DeploymentCondition {
	now := metav1.NewTime(c.now())
	return appsv1.DeploymentCondition{Type: t, Status: status, LastUpdateTime: now, LastTransitionTime: now, Reason: reason, Message: message}
}

func getCondition(status appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

// setCondition puts cond in place of the condition of its type, unless that
// one already says the same (status and reason); lastTransitionTime moves
// only when the status does. The new condition goes last, which is why a
// Deployment lists Available before Progressing.
func setCondition(status *appsv1.DeploymentStatus, cond appsv1.DeploymentCondition) {
	current := getCondition(*status, cond.Type)
	if current != nil && current.Status == cond.Status && current.Reason == cond.Reason {
		return
	}
	if current != nil && current.Status == cond.Status {
		cond.LastTransitionTime = current.LastTransitionTime
	}
	removeCondition(status, cond.Type)
	status.Conditions = append(status.Conditions, cond)
}

func removeCondition(status *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var keep []appsv1.DeploymentCondition
	for _, c := range status.Conditions {
		if c.Type != t {
			keep = append(keep, c)
		}
	}
	status.Conditions = keep
}
