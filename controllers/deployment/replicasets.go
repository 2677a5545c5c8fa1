package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/utils/ptr"
)

// Progressing condition reasons and the event reason, as upstream names them.
const (
	reasonNewReplicaSet      = "NewReplicaSetCreated"
	reasonFoundNewRS         = "FoundNewReplicaSet"
	reasonReplicaSetUpdated  = "ReplicaSetUpdated"
	reasonNewRSAvailable     = "NewReplicaSetAvailable"
	reasonTimedOut           = "ProgressDeadlineExceeded"
	reasonFailedRSCreate     = "ReplicaSetCreateError"
	reasonPaused             = "DeploymentPaused"
	reasonResumed            = "DeploymentResumed"
	reasonMinimumAvailable   = "MinimumReplicasAvailable"
	reasonMinimumUnavailable = "MinimumReplicasUnavailable"
	reasonScalingReplicaSet  = "ScalingReplicaSet"
)

// claimReplicaSets returns the Deployment's ReplicaSets, after adopting
// orphans its selector matches and releasing owned ones it no longer
// matches (upstream's ReplicaSetControllerRefManager).
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := c.replicaSets.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has invalid label selector: %v", d.Namespace, d.Name, err)
	}
	var owned []*appsv1.ReplicaSet
	var errs []error
	adoptChecked := false
	for _, rs := range all {
		matches := selector.Matches(labels.Set(rs.Labels))
		if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
			switch {
			case ref.UID != d.UID:
			case matches:
				owned = append(owned, rs)
			case d.DeletionTimestamp == nil:
				// Ours but relabelled away: let it go.
				err := c.patchReplicaSetOwner(ctx, rs, map[string]interface{}{"$patch": "delete", "uid": d.UID})
				if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
					errs = append(errs, err)
				}
			}
			continue
		}
		if !matches || d.DeletionTimestamp != nil || rs.DeletionTimestamp != nil {
			continue
		}
		// Adopt only if the Deployment is still there and not being
		// deleted, which the cache may not show yet: ask the server once.
		if !adoptChecked {
			adoptChecked = true
			if err := c.recheckForAdoption(ctx, d); err != nil {
				return nil, err
			}
		}
		ref := metav1.NewControllerRef(d, controllerKind)
		err := c.patchReplicaSetOwner(ctx, rs, map[string]interface{}{
			"apiVersion": ref.APIVersion, "kind": ref.Kind, "name": ref.Name, "uid": ref.UID,
			"controller": true, "blockOwnerDeletion": true,
		})
		switch {
		case err == nil:
			owned = append(owned, rs)
		case !apierrors.IsNotFound(err):
			errs = append(errs, err)
		}
	}
	return owned, utilerrors.NewAggregate(errs)
}

func (c *Controller) recheckForAdoption(ctx context.Context, d *appsv1.Deployment) error {
	fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if fresh.UID != d.UID {
		return fmt.Errorf("original Deployment %s/%s is gone: got uid %s, wanted %s", d.Namespace, d.Name, fresh.UID, d.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("%s/%s has just been deleted at %v", d.Namespace, d.Name, fresh.DeletionTimestamp)
	}
	return nil
}

// patchReplicaSetOwner sends a strategic merge patch of one ownerReference
// (merged by uid); the ReplicaSet's UID in it makes the patch fail on a
// new object that took the name.
func (c *Controller) patchReplicaSetOwner(ctx context.Context, rs *appsv1.ReplicaSet, ref map[string]interface{}) error {
	patch, _ := json.Marshal(map[string]interface{}{
		"metadata": map[string]interface{}{"ownerReferences": []interface{}{ref}, "uid": rs.UID},
	})
	_, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

// getAllReplicaSetsAndSyncRevision returns the new ReplicaSet (created if
// asked and missing) and the old ones, with revision numbers brought up to
// date on the new ReplicaSet and the Deployment.
func (c *Controller) getAllReplicaSetsAndSyncRevision(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	_, oldRSs := findOldReplicaSets(d, rsList)
	newRS, err := c.getNewReplicaSet(ctx, d, rsList, oldRSs, create)
	if err != nil {
		return nil, nil, err
	}
	return newRS, oldRSs, nil
}

// getNewReplicaSet returns the ReplicaSet of the Deployment's current
// template, its annotations (revision = highest old revision + 1) brought
// up to date; if there is none and create is set, it creates it.
func (c *Controller) getNewReplicaSet(ctx context.Context, d *appsv1.Deployment, rsList, oldRSs []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	existing := findNewReplicaSet(d, rsList)
	newRevision := strconv.FormatInt(maxRevision(oldRSs)+1, 10)

	if existing != nil {
		rs := existing.DeepCopy()
		annotationsChanged := setNewReplicaSetAnnotations(d, rs, newRevision, true)
		if annotationsChanged || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			return c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
		}
		needsUpdate := setDeploymentRevision(d, rs.Annotations[revisionAnnotation])
		// A Deployment that had no Progressing condition yet (an old one, or
		// one just given a deadline) starts counting from here.
		if hasProgressDeadline(d) && getCondition(d.Status, appsv1.DeploymentProgressing) == nil {
			setCondition(&d.Status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonFoundNewRS, fmt.Sprintf("Found new replica set %q", rs.Name)))
			needsUpdate = true
		}
		if needsUpdate {
			if err := c.updateStatus(ctx, d); err != nil {
				return nil, err
			}
		}
		return rs, nil
	}
	if !create {
		return nil, nil
	}

	// The hash is of the Deployment's template as it is, before the label
	// that carries the hash is added to the copy.
	hash := podTemplateHash(&d.Spec.Template, d.Status.CollisionCount)
	template := *d.Spec.Template.DeepCopy()
	template.Labels = withLabel(d.Spec.Template.Labels, podTemplateHashLabel, hash)
	newRS := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)},
			Labels:          template.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        ptr.To(int32(0)),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selectorWithLabel(d.Spec.Selector, podTemplateHashLabel, hash),
			Template:        template,
		},
	}
	size, err := newRSNewReplicas(d, append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS), newRS)
	if err != nil {
		return nil, err
	}
	newRS.Spec.Replicas = ptr.To(size)
	setNewReplicaSetAnnotations(d, newRS, newRevision, false)

	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, newRS, metav1.CreateOptions{})
	alreadyExists := false
	switch {
	case apierrors.IsAlreadyExists(err):
		alreadyExists = true
		// Ours from an earlier sync the cache had not shown yet, or a
		// different template that hashes the same: a collision.
		rs, getErr := c.replicaSets.ReplicaSets(d.Namespace).Get(newRS.Name)
		if getErr != nil {
			return nil, getErr
		}
		if ref := metav1.GetControllerOf(rs); ref != nil && ref.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &rs.Spec.Template) {
			created, err = rs, nil
			break
		}
		// collisionCount goes into the next hash, giving a new name.
		d.Status.CollisionCount = ptr.To(ptr.Deref(d.Status.CollisionCount, 0) + 1)
		if updateErr := c.updateStatus(ctx, d); updateErr != nil {
			return nil, updateErr
		}
		return nil, err
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, err
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", newRS.Name, err)
		if hasProgressDeadline(d) {
			setCondition(&d.Status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonFailedRSCreate, msg))
			_ = c.updateStatus(ctx, d)
		}
		c.recorder.Event(d, corev1.EventTypeWarning, reasonFailedRSCreate, msg)
		return nil, err
	}
	if !alreadyExists && size > 0 {
		c.recorder.Eventf(d, corev1.EventTypeNormal, reasonScalingReplicaSet, "Scaled up replica set %s from 0 to %d", created.Name, size)
	}
	needsUpdate := setDeploymentRevision(d, newRevision)
	if !alreadyExists && hasProgressDeadline(d) {
		setCondition(&d.Status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewReplicaSet, fmt.Sprintf("Created new replica set %q", created.Name)))
		needsUpdate = true
	}
	if needsUpdate {
		err = c.updateStatus(ctx, d)
	}
	return created, err
}

func setDeploymentRevision(d *appsv1.Deployment, rev string) bool {
	if d.Annotations[revisionAnnotation] == rev {
		return false
	}
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[revisionAnnotation] = rev
	return true
}

// updateStatus writes d's status (and its revision annotation) and keeps d
// at the version the server now has, so that later writes of the same sync
// do not conflict with this one.
//
// Upstream writes the revision annotation with the status: kube-apiserver's
// Deployment status strategy lets /status change annotations. minilab's API
// server resets metadata on every /status write, so an annotation that did
// not stick is written through the object itself.
func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	client := c.client.AppsV1().Deployments(d.Namespace)
	want, wantRevision := d.Annotations[revisionAnnotation]
	updated, err := client.UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	if wantRevision && updated.Annotations[revisionAnnotation] != want {
		patch, _ := json.Marshal(map[string]interface{}{
			"metadata": map[string]interface{}{"annotations": map[string]string{revisionAnnotation: want}},
		})
		if updated, err = client.Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return err
		}
	}
	*d = *updated
	return nil
}

// scaleReplicaSetAndRecordEvent resizes rs unless it already has newScale.
func (c *Controller) scaleReplicaSetAndRecordEvent(ctx context.Context, rs *appsv1.ReplicaSet, newScale int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	if rsReplicas(rs) == newScale {
		return false, rs, nil
	}
	return c.scaleReplicaSet(ctx, rs, newScale, d)
}

// scaleReplicaSet writes rs's size and replica annotations, and records
// the ScalingReplicaSet event on the Deployment when the size changed.
func (c *Controller) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, newScale int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	oldScale := rsReplicas(rs)
	sizeChanged := oldScale != newScale
	if !sizeChanged && !replicasAnnotationsNeedUpdate(rs, replicas(d), replicas(d)+maxSurge(d)) {
		return false, rs, nil
	}
	update := rs.DeepCopy()
	update.Spec.Replicas = ptr.To(newScale)
	setReplicasAnnotations(update, replicas(d), replicas(d)+maxSurge(d))
	updated, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, update, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, err
	}
	if !sizeChanged {
		return false, updated, nil
	}
	direction := "up"
	if newScale < oldScale {
		direction = "down"
	}
	c.recorder.Eventf(d, corev1.EventTypeNormal, reasonScalingReplicaSet, "Scaled %s replica set %s from %d to %d", direction, updated.Name, oldScale, newScale)
	return true, updated, nil
}

// cleanupDeployment deletes the oldest old ReplicaSets beyond
// revisionHistoryLimit; only empty ones whose status is current, so no
// pod is lost and no count is stale.
func (c *Controller) cleanupDeployment(ctx context.Context, oldRSs []*appsv1.ReplicaSet, d *appsv1.Deployment) error {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range oldRSs {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(alive, func(i, j int) bool { return lowerRevision(alive[i], alive[j]) })
	var errs []error
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return utilerrors.NewAggregate(errs)
}

// lowerRevision orders ReplicaSets by revision, then by age.
func lowerRevision(a, b *appsv1.ReplicaSet) bool {
	ra, _ := revision(a)
	rb, _ := revision(b)
	if ra == rb {
		return createdBefore(a, b)
	}
	return ra < rb
}
