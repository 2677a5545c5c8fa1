package daemonset

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// burstReplicas caps the pods one sync creates or deletes (the
// daemonset controller's BurstReplicas); the next sync does the rest.
const burstReplicas = 250

// templateGenerationLabel is the pre-hash way to tell template versions
// apart, still set when the DaemonSet carries its generation annotation.
const templateGenerationLabel = "pod-template-generation"

// manage works out, node by node, which nodes need a daemon pod and which
// pods must go, and makes it so.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string) error {
	byNode, err := c.nodesToDaemonPods(ctx, ds)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %v", ds.Name, err)
	}
	var needPods, toDelete []string
	known := map[string]bool{}
	for _, node := range nodes {
		known[node.Name] = true
		create, del := c.podsShouldBeOnNode(node, byNode[node.Name], ds)
		if create {
			needPods = append(needPods, node.Name)
		}
		toDelete = append(toDelete, del...)
	}
	// Pods for nodes that are gone would never run. Upstream deletes the
	// unscheduled ones and leaves bound ones to the pod garbage collector,
	// which minilab does not have.
	for node, pods := range byNode {
		if known[node] {
			continue
		}
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				toDelete = append(toDelete, pod.Name)
			}
		}
	}
	return c.syncNodes(ctx, ds, toDelete, needPods, hash)
}

// podsShouldBeOnNode is upstream's rule for one node: create a pod where
// one should run and none is; replace failed and succeeded pods; keep only
// the oldest of several; remove pods from a node that must not run one.
func (c *Controller) podsShouldBeOnNode(node *corev1.Node, pods []*corev1.Pod, ds *appsv1.DaemonSet) (create bool, toDelete []string) {
	shouldRun, shouldContinueRunning := nodeShouldRunDaemonPod(node, ds)
	switch {
	case shouldRun && len(pods) == 0:
		return true, nil
	case shouldContinueRunning:
		var running []*corev1.Pod
		for _, pod := range pods {
			switch {
			case pod.DeletionTimestamp != nil:
			case pod.Status.Phase == corev1.PodFailed:
				if c.failedPodBackedOff(ds, node.Name) {
					continue
				}
				c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, node.Name)
				toDelete = append(toDelete, pod.Name)
			case pod.Status.Phase == corev1.PodSucceeded:
				c.recorder.Eventf(ds, corev1.EventTypeNormal, "SucceededDaemonPod", "Found succeeded daemon pod %s/%s on node %s, will try to delete it", pod.Namespace, pod.Name, node.Name)
				toDelete = append(toDelete, pod.Name)
			default:
				running = append(running, pod)
			}
		}
		// Without surge, one pod per node: the oldest stays.
		if len(running) > 1 {
			byAge(running)
			for _, pod := range running[1:] {
				toDelete = append(toDelete, pod.Name)
			}
		}
		return false, toDelete
	default:
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				toDelete = append(toDelete, pod.Name)
			}
		}
		return false, toDelete
	}
}

// failedPodBackedOff says whether a failed pod on the node must wait
// before it is deleted again (and requeues the DaemonSet for then), or
// else counts this deletion against the back-off.
func (c *Controller) failedPodBackedOff(ds *appsv1.DaemonSet, node string) bool {
	key := fmt.Sprintf("%s/%d/%s", ds.UID, ds.Status.ObservedGeneration, node)
	now := c.now()
	if c.failedPods.IsInBackOffSinceUpdate(key, now) {
		c.queue.AddAfter(keyOf(ds), c.failedPods.Get(key))
		return true
	}
	c.failedPods.Next(key, now)
	return false
}

// syncNodes deletes the given pods and creates a pod for each of the given
// nodes, having recorded what the informer should show next.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, toDelete, needPods []string, hash string) error {
	key := keyOf(ds)
	needPods = needPods[:min(len(needPods), burstReplicas)]
	toDelete = toDelete[:min(len(toDelete), burstReplicas)]
	c.expectations.expect(key, len(needPods), len(toDelete))

	template := podTemplate(ds, hash)
	attempted := 0
	var errs []error
	// Slow start: batches of 1, 2, 4, ... stopping after a failed batch,
	// so a DaemonSet whose pods are all rejected makes few requests.
	for batch := 1; attempted < len(needPods) && len(errs) == 0; batch *= 2 {
		batch = min(batch, len(needPods)-attempted)
		batchErrs := make([]error, batch)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				batchErrs[i] = c.createPod(ctx, ds, template, needPods[attempted+i])
			}()
		}
		wg.Wait()
		attempted += batch
		errs = append(errs, nonNil(batchErrs)...)
	}
	// The pods of skipped batches will not show up.
	for ; attempted < len(needPods); attempted++ {
		c.expectations.creationObserved(key)
	}

	deleteErrs := make([]error, len(toDelete))
	var wg sync.WaitGroup
	for i, name := range toDelete {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deleteErrs[i] = c.deletePodNamed(ctx, ds, name)
		}()
	}
	wg.Wait()
	return utilerrors.NewAggregate(append(errs, nonNil(deleteErrs)...))
}

func nonNil(errs []error) []error {
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// podTemplate is the template the pods are made from (upstream's
// CreatePodTemplate): the DaemonSet's, with the daemon tolerations and the
// revision labels.
func podTemplate(ds *appsv1.DaemonSet, hash string) *corev1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	addDaemonTolerations(&t.Spec)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if gen, err := strconv.ParseInt(ds.Annotations[appsv1.DeprecatedTemplateGeneration], 10, 64); err == nil {
		t.Labels[templateGenerationLabel] = strconv.FormatInt(gen, 10)
	}
	t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	return t
}

// createPod creates the pod for one node, as upstream's pod control does
// from a template: generateName "<ds>-", the DaemonSet as controller, and
// a node affinity that only that node satisfies.
func (c *Controller) createPod(ctx context.Context, ds *appsv1.DaemonSet, template *corev1.PodTemplateSpec, node string) error {
	t := template.DeepCopy()
	prefix := ds.Name + "-"
	if len(validation.NameIsDNSSubdomain(prefix, true)) != 0 {
		prefix = ds.Name
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    prefix,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Spec: t.Spec,
	}
	pod.Spec.Affinity = pinToNode(pod.Spec.Affinity, node)
	created, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		c.expectations.creationObserved(keyOf(ds))
		// In a terminating namespace every create fails; that is no news.
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		if ctx.Err() == nil {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return err
	}
	c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return nil
}

func (c *Controller) deletePodNamed(ctx context.Context, ds *appsv1.DaemonSet, name string) error {
	err := c.client.CoreV1().Pods(ds.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil {
		// The informer will not report a deletion that did not happen.
		c.expectations.deletionObserved(keyOf(ds))
		if apierrors.IsNotFound(err) {
			return nil
		}
		if ctx.Err() == nil {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		}
		return err
	}
	c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", name)
	return nil
}
