package replicaset

import (
	"context"
	"log"
	"reflect"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersappsv1 "k8s.io/client-go/listers/apps/v1"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// controllerKind is what the ownerReferences of the pods name.
var controllerKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Controller is the ReplicaSet controller.
type Controller struct {
	client       kubernetes.Interface
	recorder     record.EventRecorder
	replicaSets  listersappsv1.ReplicaSetLister
	pods         listerscorev1.PodLister
	expectations *expectations
	queue        workqueue.TypedRateLimitingInterface[string]
	now          func() time.Time
}

// NewController returns a ReplicaSet controller and registers its event
// handlers on the factory's ReplicaSet and Pod informers; start the factory
// afterwards. Events are recorded with recorder (upstream's component is
// "replicaset-controller").
func NewController(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	rsInformer := factory.Apps().V1().ReplicaSets()
	podInformer := factory.Core().V1().Pods()
	c := &Controller{
		client:       client,
		recorder:     recorder,
		replicaSets:  rsInformer.Lister(),
		pods:         podInformer.Lister(),
		expectations: newExpectations(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "replicaset"}),
		now: time.Now,
	}
	rsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.deleteReplicaSet,
	})
	podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run syncs ReplicaSets with the given number of workers until ctx ends.
// Call it once the factory has been started and its caches have synced.
func (c *Controller) Run(ctx context.Context, workers int) {
	if workers < 1 {
		workers = 1
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil {
		// A conflict only means our cache was behind, NotFound that the
		// object went meanwhile; the retry sees more.
		if ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			log.Printf("replicaset controller: %s: %v", key, err)
		}
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func keyOf(rs *appsv1.ReplicaSet) string { return rs.Namespace + "/" + rs.Name }

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func (c *Controller) enqueue(obj interface{}) {
	if rs, ok := obj.(*appsv1.ReplicaSet); ok {
		c.queue.Add(keyOf(rs))
	}
}

func (c *Controller) deleteReplicaSet(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	c.expectations.forget(keyOf(rs))
	c.queue.Add(keyOf(rs))
}

// addPod wakes the ReplicaSet that owns a new pod (counting the creation as
// seen), or every ReplicaSet that could adopt it if it is an orphan.
func (c *Controller) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time while already terminating (e.g. after a
		// relist): for counting it is as good as deleted.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if rs := c.resolveControllerRef(pod.Namespace, ref); rs != nil {
			c.expectations.creationObserved(keyOf(rs))
			c.queue.Add(keyOf(rs))
		}
		return
	}
	for _, rs := range c.matchingReplicaSets(pod) {
		c.queue.Add(keyOf(rs))
	}
}

func (c *Controller) updatePod(oldObj, curObj interface{}) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // a resync, nothing changed
	}
	labelsChanged := !reflect.DeepEqual(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		// A terminating pod no longer counts: that is the deletion the
		// owner waits for, even though the kubelet still has to stop it.
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOf(old), metav1.GetControllerOf(cur)
	refChanged := !reflect.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if rs := c.resolveControllerRef(old.Namespace, oldRef); rs != nil {
			c.queue.Add(keyOf(rs))
		}
	}
	if curRef != nil {
		rs := c.resolveControllerRef(cur.Namespace, curRef)
		if rs == nil {
			return
		}
		c.queue.Add(keyOf(rs))
		// A pod that just became ready becomes available minReadySeconds
		// later, without any further event: look again then.
		if !isPodReady(old) && isPodReady(cur) && rs.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(keyOf(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range c.matchingReplicaSets(cur) {
			c.queue.Add(keyOf(rs))
		}
	}
}

func (c *Controller) deletePod(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return // an orphan was nobody's replica
	}
	if rs := c.resolveControllerRef(pod.Namespace, ref); rs != nil {
		c.expectations.deletionObserved(keyOf(rs), podKey(pod))
		c.queue.Add(keyOf(rs))
	}
}

// resolveControllerRef returns the ReplicaSet a controller reference points
// at, if it is one of ours and still the same object (same UID).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	rs, err := c.replicaSets.ReplicaSets(namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// matchingReplicaSets returns the ReplicaSets whose selector matches an
// orphan pod's labels: the candidates to adopt it.
func (c *Controller) matchingReplicaSets(pod *corev1.Pod) []*appsv1.ReplicaSet {
	list, err := c.replicaSets.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range list {
		selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		// An empty selector matches nothing here, not everything.
		if err != nil || selector.Empty() {
			continue
		}
		if selector.Matches(labels.Set(pod.Labels)) {
			out = append(out, rs)
		}
	}
	return out
}

// sync brings one ReplicaSet's pods to spec.replicas and writes its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, err := c.replicaSets.ReplicaSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	// Read before listing pods: expectations met now means the pod cache
	// holds at least every create and delete this controller made.
	needsSync := c.expectations.satisfied(key)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		return nil // validation does not let such a selector in
	}
	all, err := c.pods.Pods(namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	owned, err := c.claimPods(ctx, rs, selector, activePods(all))
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, rs, owned, all)
	}
	now := c.now()
	status := calculateStatus(rs, owned, manageErr, now)
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		return err
	}
	if manageErr == nil {
		if after := nextAvailable(updated, owned, now); after > 0 {
			c.queue.AddAfter(key, after)
		}
	}
	return manageErr
}

// activePods drops pods that no longer count as replicas: terminating ones
// and finished ones (Succeeded, Failed), as upstream's FilterActivePods.
func activePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if isPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

func isPodActive(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}
