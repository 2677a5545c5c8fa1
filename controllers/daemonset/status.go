package daemonset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// calculateStatus counts as upstream's updateDaemonSetStatus: desired are
// the nodes that should run the pod, current those of them that have one
// (bound or pinned to it), misscheduled the nodes that have one but should
// not; ready, available and updated look at the oldest pod of each wanted
// node.
func calculateStatus(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string, now time.Time) appsv1.DaemonSetStatus {
	status := *ds.Status.DeepCopy()
	var desired, current, misscheduled, ready, available, updated int32
	for _, node := range nodes {
		shouldRun, _ := nodeShouldRunDaemonPod(node, ds)
		pods := byNode[node.Name]
		switch {
		case shouldRun:
			desired++
			if len(pods) == 0 {
				continue
			}
			current++
			oldest := append([]*corev1.Pod(nil), pods...)
			byAge(oldest)
			pod := oldest[0]
			if isPodReady(pod) {
				ready++
				if isPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
					available++
				}
			}
			if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
				updated++
			}
		case len(pods) > 0:
			misscheduled++
		}
	}
	status.DesiredNumberScheduled = desired
	status.CurrentNumberScheduled = current
	status.NumberMisscheduled = misscheduled
	status.NumberReady = ready
	status.NumberAvailable = available
	status.UpdatedNumberScheduled = updated
	status.NumberUnavailable = desired - available
	return status
}

// updateStatus writes the status through the status subresource when a
// count changed or, when observe is set (the sync acted on this
// generation), the generation is not yet observed. A conflict is retried
// once on a fresh copy.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string, observe bool) error {
	byNode, err := c.nodesToDaemonPods(ctx, ds)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %v", ds.Name, err)
	}
	status := calculateStatus(ds, nodes, byNode, hash, c.now())
	if observe {
		status.ObservedGeneration = ds.Generation
	}
	// Pods turn available minReadySeconds after they turn ready, with no
	// event to say so.
	if ds.Spec.MinReadySeconds > 0 && status.NumberReady != status.NumberAvailable {
		c.queue.AddAfter(keyOf(ds), time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	if sameCounts(ds.Status, status) && ds.Status.ObservedGeneration == status.ObservedGeneration {
		return nil
	}
	client := c.client.AppsV1().DaemonSets(ds.Namespace)
	for attempt := 0; ; attempt++ {
		update := ds.DeepCopy()
		update.Status = status
		_, err := client.UpdateStatus(ctx, update, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsConflict(err) || attempt == 1 {
			return err
		}
		if ds, err = client.Get(ctx, ds.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
}

func sameCounts(a, b appsv1.DaemonSetStatus) bool {
	return a.DesiredNumberScheduled == b.DesiredNumberScheduled && a.CurrentNumberScheduled == b.CurrentNumberScheduled &&
		a.NumberMisscheduled == b.NumberMisscheduled && a.NumberReady == b.NumberReady &&
		a.UpdatedNumberScheduled == b.UpdatedNumberScheduled && a.NumberAvailable == b.NumberAvailable &&
		a.NumberUnavailable == b.NumberUnavailable
}
