package replicaset

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// burstReplicas caps the pods one sync creates or deletes (upstream's
// BurstReplicas); the next sync does the rest.
const burstReplicas = 500

// Event reasons, as upstream's controller_utils.go records them.
const (
	reasonSuccessfulCreate = "SuccessfulCreate"
	reasonFailedCreate     = "FailedCreate"
	reasonSuccessfulDelete = "SuccessfulDelete"
	reasonFailedDelete     = "FailedDelete"
)

// manageReplicas creates or deletes pods so that owned counts spec.replicas.
// all is every pod of the namespace, used to rank the ones to delete.
func (c *Controller) manageReplicas(ctx context.Context, rs *appsv1.ReplicaSet, owned, all []*corev1.Pod) error {
	diff := len(owned) - int(replicasOf(rs))
	key := keyOf(rs)
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		// Record before creating: the informer may report a new pod
		// before Create even returns.
		c.expectations.expectCreations(key, n)
		created, err := slowStartBatch(n, func() error { return c.createPod(ctx, rs) })
		// Pods that failed or were never tried will not show up.
		for i := created; i < n; i++ {
			c.expectations.creationObserved(key)
		}
		return err
	case diff > 0:
		n := min(diff, burstReplicas)
		victims := podsToDelete(owned, relatedPods(rs, all, c.siblingUIDs(rs)), n, c.now())
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = podKey(p)
		}
		c.expectations.expectDeletions(key, keys)
		errs := make([]error, len(victims))
		var wg sync.WaitGroup
		for i, pod := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.deletePodOf(ctx, rs, pod)
			}()
		}
		wg.Wait()
		return utilerrors.NewAggregate(errs)
	}
	return nil
}

// slowStartBatch calls fn n times in batches of 1, 2, 4, ... running each
// batch in parallel and stopping after a batch with an error, so that a
// ReplicaSet whose pods are all rejected (quota, invalid template) makes
// one failing request, not hundreds. It returns how many calls succeeded.
func slowStartBatch(n int, fn func() error) (int, error) {
	done := 0
	for batch := 1; done < n; batch *= 2 {
		batch = min(batch, n-done)
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = fn()
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		done += ok
		if ok < batch {
			return done, utilerrors.NewAggregate(errs)
		}
	}
	return done, nil
}

func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod := podFromTemplate(rs)
	if len(pod.Labels) == 0 {
		return fmt.Errorf("unable to create pods, no labels")
	}
	created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		// In a terminating namespace every create fails; that is no news.
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		if ctx.Err() != nil {
			return err // shutting down: not the pod's failure
		}
		c.recorder.Eventf(rs, corev1.EventTypeWarning, reasonFailedCreate, "Error creating: %v", err)
		return err
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, reasonSuccessfulCreate, "Created pod: %v", created.Name)
	return nil
}

// podFromTemplate builds a pod as upstream's GetPodFromTemplate does:
// template labels, annotations, finalizers and spec, generateName
// "<rs>-" and rs as its controller.
func podFromTemplate(rs *appsv1.ReplicaSet) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	prefix := rs.Name + "-"
	if len(validation.NameIsDNSSubdomain(prefix, true)) != 0 {
		prefix = rs.Name
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    prefix,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)},
		},
		Spec: t.Spec,
	}
}

func (c *Controller) deletePodOf(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	if err != nil {
		// The informer will not report a deletion that did not happen.
		c.expectations.deletionObserved(keyOf(rs), podKey(pod))
		if apierrors.IsNotFound(err) {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		c.recorder.Eventf(rs, corev1.EventTypeWarning, reasonFailedDelete, "Error deleting: %v", err)
		return err
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, reasonSuccessfulDelete, "Deleted pod: %v", pod.Name)
	return nil
}

// siblingUIDs returns the UIDs of the ReplicaSets that share rs's controller
// (the old and new ReplicaSets of one Deployment), rs included.
func (c *Controller) siblingUIDs(rs *appsv1.ReplicaSet) map[types.UID]bool {
	uids := map[types.UID]bool{rs.UID: true}
	owner := metav1.GetControllerOfNoCopy(rs)
	if owner == nil {
		return uids
	}
	list, err := c.replicaSets.ReplicaSets(rs.Namespace).List(everything)
	if err != nil {
		return uids
	}
	for _, other := range list {
		if ref := metav1.GetControllerOfNoCopy(other); ref != nil && ref.UID == owner.UID {
			uids[other.UID] = true
		}
	}
	return uids
}

// relatedPods returns the active pods controlled by any of the given
// ReplicaSets: how crowded a node is counts pods of the whole Deployment.
func relatedPods(rs *appsv1.ReplicaSet, all []*corev1.Pod, owners map[types.UID]bool) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil && owners[ref.UID] && isPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

func replicasOf(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}
