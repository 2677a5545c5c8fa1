package replicaset

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// claimPods returns the active pods that belong to rs, after adopting the
// orphans its selector matches and releasing the owned pods it no longer
// matches, as upstream's PodControllerRefManager does. Pods controlled by
// someone else are never touched.
func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	adoption := &adoptionCheck{c: c, rs: rs}
	var owned []*corev1.Pod
	var errs []error
	for _, pod := range pods {
		ok, err := c.claimPod(ctx, rs, selector, pod, adoption)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			owned = append(owned, pod)
		}
	}
	return owned, utilerrors.NewAggregate(errs)
}

func (c *Controller) claimPod(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pod *corev1.Pod, adoption *adoptionCheck) (bool, error) {
	matches := selector.Matches(labels.Set(pod.Labels))
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ref.UID != rs.UID {
			return false, nil // another controller's pod
		}
		if matches {
			return true, nil
		}
		// Ours, but its labels moved away: let it go. Not while the
		// ReplicaSet is being deleted: the garbage collector decides then.
		if rs.DeletionTimestamp != nil {
			return false, nil
		}
		err := c.patchOwner(ctx, pod, releasePatch(rs, pod))
		if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
			return false, nil // gone or going: nothing to release
		}
		return false, err
	}
	// An orphan: adopt it if it matches and nobody is on the way out.
	if !matches || rs.DeletionTimestamp != nil || pod.DeletionTimestamp != nil {
		return false, nil
	}
	if err := adoption.allowed(ctx); err != nil {
		return false, fmt.Errorf("can't adopt Pod %s/%s (%s): %v", pod.Namespace, pod.Name, pod.UID, err)
	}
	err := c.patchOwner(ctx, pod, adoptPatch(rs, pod))
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (c *Controller) patchOwner(ctx context.Context, pod *corev1.Pod, patch []byte) error {
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

// adoptionCheck asks the API server, once per sync and only when there is
// an orphan to adopt, whether the ReplicaSet is still the same live object:
// the cache may not show yet that it is being deleted (upstream's
// RecheckDeletionTimestamp).
type adoptionCheck struct {
	c    *Controller
	rs   *appsv1.ReplicaSet
	done bool
	err  error
}

func (a *adoptionCheck) allowed(ctx context.Context) error {
	if a.done {
		return a.err
	}
	a.done = true
	fresh, err := a.c.client.AppsV1().ReplicaSets(a.rs.Namespace).Get(ctx, a.rs.Name, metav1.GetOptions{})
	switch {
	case err != nil:
		a.err = err
	case fresh.UID != a.rs.UID:
		a.err = fmt.Errorf("original ReplicaSet %s/%s is gone: got uid %s, wanted %s", a.rs.Namespace, a.rs.Name, fresh.UID, a.rs.UID)
	case fresh.DeletionTimestamp != nil:
		a.err = fmt.Errorf("%s/%s has just been deleted at %v", a.rs.Namespace, a.rs.Name, fresh.DeletionTimestamp)
	}
	return a.err
}

// The patches carry the pod's UID, so that they fail rather than touch a
// new pod that took the name of the one the controller looked at.
type ownerPatch struct {
	Metadata ownerPatchMeta `json:"metadata"`
}

type ownerPatchMeta struct {
	OwnerReferences []map[string]interface{} `json:"ownerReferences"`
	UID             types.UID                `json:"uid"`
}

// adoptPatch adds rs as the pod's controller; a strategic merge patch merges
// ownerReferences by uid, so other owners stay.
func adoptPatch(rs *appsv1.ReplicaSet, pod *corev1.Pod) []byte {
	ref := map[string]interface{}{
		"apiVersion": controllerKind.GroupVersion().String(), "kind": controllerKind.Kind,
		"name": rs.Name, "uid": rs.UID, "controller": true, "blockOwnerDeletion": true,
	}
	data, _ := json.Marshal(ownerPatch{ownerPatchMeta{OwnerReferences: []map[string]interface{}{ref}, UID: pod.UID}})
	return data
}

// releasePatch removes rs from the pod's ownerReferences.
func releasePatch(rs *appsv1.ReplicaSet, pod *corev1.Pod) []byte {
	ref := map[string]interface{}{"$patch": "delete", "uid": rs.UID}
	data, _ := json.Marshal(ownerPatch{ownerPatchMeta{OwnerReferences: []map[string]interface{}{ref}, UID: pod.UID}})
	return data
}
