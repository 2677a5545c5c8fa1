package statefulset

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

// claimPods returns the pods that belong to set, terminating ones included
// (an OrderedReady set waits for them), after adopting the orphans its
// selector matches and whose names make them members ("<set>-<ordinal>"),
// and releasing owned pods that no longer match, as upstream's
// PodControllerRefManager does with the StatefulSet's isMemberOf filter.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	adoption := &adoptionCheck{c: c, set: set}
	var owned []*corev1.Pod
	var errs []error
	for _, pod := range pods {
		ok, err := c.claimPod(ctx, set, selector, pod, adoption)
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

func (c *Controller) claimPod(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector, pod *corev1.Pod, adoption *adoptionCheck) (bool, error) {
	matches := selector.Matches(labels.Set(pod.Labels)) && isMemberOf(set, pod)
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ref.UID != set.UID {
			return false, nil // another controller's pod
		}
		if matches {
			return true, nil
		}
		// Ours, but no longer matching: let it go, unless the set is being
		// deleted (the garbage collector decides then).
		if set.DeletionTimestamp != nil {
			return false, nil
		}
		err := c.patchPod(ctx, pod, releasePatch(set, pod))
		if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
			return false, nil
		}
		return false, err
	}
	if !matches || set.DeletionTimestamp != nil || pod.DeletionTimestamp != nil {
		return false, nil
	}
	if err := adoption.allowed(ctx); err != nil {
		return false, fmt.Errorf("can't adopt Pod %s/%s (%s): %v", pod.Namespace, pod.Name, pod.UID, err)
	}
	err := c.patchPod(ctx, pod, adoptPatch(set, pod))
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (c *Controller) patchPod(ctx context.Context, pod *corev1.Pod, patch []byte) error {
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

// adoptionCheck asks the API server, once per sync and only when there is
// an orphan to adopt, whether the set is still the same live object: the
// cache may not show yet that it is being deleted (upstream's
// RecheckDeletionTimestamp).
type adoptionCheck struct {
	c    *Controller
	set  *appsv1.StatefulSet
	done bool
	err  error
}

func (a *adoptionCheck) allowed(ctx context.Context) error {
	if a.done {
		return a.err
	}
	a.done = true
	fresh, err := a.c.client.AppsV1().StatefulSets(a.set.Namespace).Get(ctx, a.set.Name, metav1.GetOptions{})
	switch {
	case err != nil:
		a.err = err
	case fresh.UID != a.set.UID:
		a.err = fmt.Errorf("original StatefulSet %s/%s is gone: got uid %s, wanted %s", a.set.Namespace, a.set.Name, fresh.UID, a.set.UID)
	case fresh.DeletionTimestamp != nil:
		a.err = fmt.Errorf("%s/%s has just been deleted at %v", a.set.Namespace, a.set.Name, fresh.DeletionTimestamp)
	}
	return a.err
}

// The patches carry the pod's UID, so that they fail rather than touch a
// new pod that took the name of the one the controller looked at (with
// fixed names, that happens all the time here).
type ownerPatch struct {
	Metadata ownerPatchMeta `json:"metadata"`
}

type ownerPatchMeta struct {
	OwnerReferences []map[string]interface{} `json:"ownerReferences"`
	UID             types.UID                `json:"uid"`
}

func adoptPatch(set *appsv1.StatefulSet, pod *corev1.Pod) []byte {
	ref := map[string]interface{}{
		"apiVersion": controllerKind.GroupVersion().String(), "kind": controllerKind.Kind,
		"name": set.Name, "uid": set.UID, "controller": true, "blockOwnerDeletion": true,
	}
	data, _ := json.Marshal(ownerPatch{ownerPatchMeta{OwnerReferences: []map[string]interface{}{ref}, UID: pod.UID}})
	return data
}

func releasePatch(set *appsv1.StatefulSet, pod *corev1.Pod) []byte {
	ref := map[string]interface{}{"$patch": "delete", "uid": set.UID}
	data, _ := json.Marshal(ownerPatch{ownerPatchMeta{OwnerReferences: []map[string]interface{}{ref}, UID: pod.UID}})
	return data
}
