package statefulset

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/utils/ptr"
)

// revisions are the set's current revision (what its pods were made from
// when the last rollout finished) and update revision (its template now),
// by name, with their templates.
type revisions struct {
	current, update                 string
	currentTemplate, updateTemplate *corev1.PodTemplateSpec
}

// revisionsOf works out the two revisions, as upstream's
// getStatefulSetRevisions does with ControllerRevisions: the update
// revision is the current template's; the current revision is the one
// status names, if its template is still known, else the update revision.
func (c *Controller) revisionsOf(set *appsv1.StatefulSet) (revisions, error) {
	update, err := revisionName(set)
	if err != nil {
		return revisions{}, err
	}
	c.history.record(keyOf(set), update, &set.Spec.Template)
	r := revisions{update: update, updateTemplate: &set.Spec.Template, current: update, currentTemplate: &set.Spec.Template}
	if name := set.Status.CurrentRevision; name != "" && name != update {
		if t, ok := c.history.template(keyOf(set), name); ok {
			r.current, r.currentTemplate = name, t
		}
	}
	return r, nil
}

// updateStatefulSet is upstream's core loop (defaultStatefulSetControl's
// updateStatefulSet). It sorts the pods into replicas (ordinals the set
// wants now, with a not-yet-created placeholder for each missing one) and
// condemned (ordinals beyond the scale), then, stopping at the first thing
// to wait for in OrderedReady mode: creates missing pods and replaces
// failed ones; deletes condemned pods, highest ordinal first; finally, for
// RollingUpdate, deletes the highest-ordinal pod of an old revision at or
// above the partition. It returns the status to record.
func (c *Controller) updateStatefulSet(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod) (*appsv1.StatefulSetStatus, error) {
	revs, err := c.revisionsOf(set)
	if err != nil {
		return nil, err
	}
	now := c.now()
	minReady := set.Spec.MinReadySeconds
	status := &appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    revs.current,
		UpdateRevision:     revs.update,
		CollisionCount:     ptr.To(collisionCount(set)),
	}

	start := startOrdinal(set)
	replicas := make([]*corev1.Pod, replicasOf(set))
	var condemned []*corev1.Pod
	live := map[string]bool{revs.current: true, revs.update: true}
	for _, pod := range pods {
		live[revisionOf(pod)] = true
		switch {
		case inOrdinalRange(set, pod):
			replicas[ordinalOf(pod)-start] = pod
		case ordinalOf(pod) >= 0:
			condemned = append(condemned, pod)
		}
	}
	c.history.keep(keyOf(set), live)
	for i := range replicas {
		if replicas[i] == nil {
			replicas[i] = newVersionedPod(set, revs, start+i)
		}
	}
	sort.Slice(condemned, func(i, j int) bool { return ordinalOf(condemned[i]) > ordinalOf(condemned[j]) })
	firstUnavailable := firstUnavailablePod(replicas, condemned, minReady, now)
	countReplicas(status, minReady, now, revs, replicas, condemned)

	// A set being deleted only reports; the garbage collector removes its pods.
	if set.DeletionTimestamp != nil {
		return status, nil
	}
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement

	blocked, err := forEach(replicas, monotonic, func(pod *corev1.Pod) (bool, error) {
		return c.processReplica(ctx, set, monotonic, pod, now)
	})
	if blocked || err != nil {
		return status, err
	}
	// Scaling down comes after every wanted replica is in place, and
	// before updates.
	blocked, err = forEach(condemned, monotonic, func(pod *corev1.Pod) (bool, error) {
		return c.processCondemned(ctx, set, monotonic, pod, firstUnavailable, now)
	})
	if blocked || err != nil || set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return status, err
	}
	return status, c.rollOne(ctx, set, revs, replicas, status, now)
}

// newVersionedPod builds the pod for a missing ordinal. Below the partition
// (RollingUpdate) it is made from the current revision, so that deleting
// such a pod does not update it; otherwise from the update revision.
func newVersionedPod(set *appsv1.StatefulSet, revs revisions, ordinal int) *corev1.Pod {
	current := false
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		ru := set.Spec.UpdateStrategy.RollingUpdate
		switch {
		case ru == nil:
			current = ordinal < startOrdinal(set)+int(set.Status.CurrentReplicas)
		case ru.Partition != nil:
			current = ordinal < startOrdinal(set)+int(*ru.Partition)
		}
	}
	if current {
		return newPod(set, revs.currentTemplate, ordinal, revs.current)
	}
	return newPod(set, revs.updateTemplate, ordinal, revs.update)
}

// firstUnavailablePod is the lowest-ordinal replica that is not available,
// else the lowest-ordinal such condemned pod (condemned is sorted highest
// first): the one pod an OrderedReady scale-down may delete while it is
// unhealthy.
func firstUnavailablePod(replicas, condemned []*corev1.Pod, minReady int32, now time.Time) *corev1.Pod {
	for _, pod := range replicas {
		if isUnavailable(pod, minReady, now) {
			return pod
		}
	}
	for i := len(condemned) - 1; i >= 0; i-- {
		if isUnavailable(condemned[i], minReady, now) {
			return condemned[i]
		}
	}
	return nil
}

// forEach runs fn on the pods. In OrderedReady (monotonic) mode it goes in
// order and stops at the first pod fn says to wait for; in Parallel mode
// it runs them all, in slow-start batches, and stops only on errors.
func forEach(pods []*corev1.Pod, monotonic bool, fn func(*corev1.Pod) (bool, error)) (bool, error) {
	if monotonic {
		for _, pod := range pods {
			if wait, err := fn(pod); wait || err != nil {
				return true, err
			}
		}
		return false, nil
	}
	if err := slowStartBatch(pods, fn); err != nil {
		return true, err
	}
	return false, nil
}

// slowStartBatch calls fn on the pods in parallel batches of 1, 2, 4, ...
// stopping after a batch with an error, so that a set whose pods are all
// rejected makes one failing request, not hundreds.
func slowStartBatch(pods []*corev1.Pod, fn func(*corev1.Pod) (bool, error)) error {
	for done, batch := 0, 1; done < len(pods); done, batch = done+batch, batch*2 {
		batch = min(batch, len(pods)-done)
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = fn(pods[done+i])
			}()
		}
		wg.Wait()
		if err := utilerrors.NewAggregate(errs); err != nil {
			return err
		}
	}
	return nil
}

// processReplica handles one wanted ordinal and says whether an
// OrderedReady set must wait here: a finished pod is deleted (it is
// recreated once gone), a missing one created, and the set waits for a
// terminating, not yet Running and Ready, or not yet available pod.
func (c *Controller) processReplica(ctx context.Context, set *appsv1.StatefulSet, monotonic bool, pod *corev1.Pod, now time.Time) (bool, error) {
	if isFinished(pod) {
		if !isTerminating(pod) {
			return true, c.deleteStatefulPod(ctx, set, pod)
		}
		return true, nil
	}
	if !isCreated(pod) {
		if err := c.createStatefulPod(ctx, set, pod); err != nil {
			return true, err
		}
		if monotonic {
			return true, nil
		}
	}
	if monotonic && (isTerminating(pod) || !isRunningAndReady(pod) || !isAvailable(pod, set.Spec.MinReadySeconds, now)) {
		return true, nil
	}
	if identityMatches(set, pod) {
		return false, nil
	}
	return false, c.restoreIdentity(ctx, set, pod)
}

// processCondemned deletes a pod beyond the scale. An OrderedReady set
// deletes one per sync, only once the previous one is gone, and only
// while every pod is healthy, except the first unavailable one.
func (c *Controller) processCondemned(ctx context.Context, set *appsv1.StatefulSet, monotonic bool, pod, firstUnavailable *corev1.Pod, now time.Time) (bool, error) {
	if isTerminating(pod) {
		return monotonic, nil
	}
	if monotonic && pod != firstUnavailable && (!isRunningAndReady(pod) || !isAvailable(pod, set.Spec.MinReadySeconds, now)) {
		return true, nil
	}
	return true, c.deleteStatefulPod(ctx, set, pod)
}

// rollOne does one step of a RollingUpdate: from the highest ordinal down
// to the partition, it deletes the first pod of an old revision (it is
// recreated at the update revision once gone), or waits at the first
// unavailable pod. One pod at a time: MaxUnavailableStatefulSet, which
// would allow more, is off in v1.33.
func (c *Controller) rollOne(ctx context.Context, set *appsv1.StatefulSet, revs revisions, replicas []*corev1.Pod, status *appsv1.StatefulSetStatus, now time.Time) error {
	partition := 0
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	for target := len(replicas) - 1; target >= partition; target-- {
		pod := replicas[target]
		if !isCreated(pod) {
			// Just created in Parallel mode: not there, so not available.
			return nil
		}
		if revisionOf(pod) != revs.update && !isTerminating(pod) {
			// Upstream decrements unconditionally; a pod of some third
			// revision (the current one's template forgotten after a
			// restart) was never counted, and a negative count is invalid.
			if revisionOf(pod) == revs.current {
				status.CurrentReplicas--
			}
			return c.deleteStatefulPod(ctx, set, pod)
		}
		if isUnavailable(pod, set.Spec.MinReadySeconds, now) {
			return nil
		}
	}
	return nil
}

// countReplicas fills the counts of status from the pods, as upstream's
// updateStatus: replicas are the created pods (terminating ones too), and
// only pods not on their way out count as current or updated.
func countReplicas(status *appsv1.StatefulSetStatus, minReady int32, now time.Time, revs revisions, lists ...[]*corev1.Pod) {
	status.Replicas, status.ReadyReplicas, status.AvailableReplicas = 0, 0, 0
	status.CurrentReplicas, status.UpdatedReplicas = 0, 0
	for _, list := range lists {
		for _, pod := range list {
			if !isCreated(pod) {
				continue
			}
			status.Replicas++
			if isRunningAndReady(pod) {
				status.ReadyReplicas++
				if isAvailable(pod, minReady, now) {
					status.AvailableReplicas++
				}
			}
			if isTerminating(pod) {
				continue
			}
			if revisionOf(pod) == revs.current {
				status.CurrentReplicas++
			}
			if revisionOf(pod) == revs.update {
				status.UpdatedReplicas++
			}
		}
	}
}

func (c *Controller) createStatefulPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	key := keyOf(set)
	// Before the request: the watch event may beat the response.
	c.expectations.expectCreation(key, pod.Name)
	_, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		c.expectations.creationObserved(key, pod.Name)
		// AlreadyExists: the cache is behind; upstream records nothing either.
		if apierrors.IsAlreadyExists(err) || ctx.Err() != nil {
			return err
		}
	}
	c.recordPodEvent("create", set, pod, err)
	return err
}

func (c *Controller) deleteStatefulPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	key := keyOf(set)
	c.expectations.expectDeletion(key, pod.Name)
	// The UID precondition keeps a stale cache from deleting a newer pod
	// that has taken the same name.
	err := c.client.CoreV1().Pods(set.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil {
		c.expectations.deletionObserved(key, pod.Name)
		// Already gone is what we wanted (upstream would still record a
		// FailedDelete).
		if apierrors.IsNotFound(err) {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
	}
	c.recordPodEvent("delete", set, pod, err)
	return err
}

// restoreIdentity puts back the identity labels someone removed or changed
// (upstream's UpdateStatefulPod), retrying on conflicts.
func (c *Controller) restoreIdentity(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	pods := c.client.CoreV1().Pods(set.Namespace)
	update := pod.DeepCopy()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		setIdentity(set, update)
		if _, err = pods.Update(ctx, update, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			break
		}
		fresh, getErr := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if getErr != nil {
			err = getErr
			break
		}
		update = fresh
	}
	c.recordPodEvent("update", set, pod, err)
	return err
}

// recordPodEvent records upstream's events: SuccessfulCreate "create Pod
// web-0 in StatefulSet web successful", or FailedCreate "create Pod web-0
// in StatefulSet web failed error: ...", and the same for delete and update.
func (c *Controller) recordPodEvent(verb string, set *appsv1.StatefulSet, pod *corev1.Pod, err error) {
	title := strings.ToUpper(verb[:1]) + verb[1:]
	if err == nil {
		c.recorder.Event(set, corev1.EventTypeNormal, "Successful"+title,
			fmt.Sprintf("%s Pod %s in StatefulSet %s successful", verb, pod.Name, set.Name))
		return
	}
	c.recorder.Event(set, corev1.EventTypeWarning, "Failed"+title,
		fmt.Sprintf("%s Pod %s in StatefulSet %s failed error: %s", verb, pod.Name, set.Name, err))
}
