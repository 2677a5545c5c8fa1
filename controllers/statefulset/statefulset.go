package statefulset

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
var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller is the StatefulSet controller.
type Controller struct {
	client       kubernetes.Interface
	recorder     record.EventRecorder
	sets         listersappsv1.StatefulSetLister
	pods         listerscorev1.PodLister
	expectations *expectations
	history      *history
	queue        workqueue.TypedRateLimitingInterface[string]
	now          func() time.Time
}

// NewController returns a StatefulSet controller and registers its event
// handlers on the factory's StatefulSet and Pod informers; start the factory
// afterwards. Events are recorded with recorder (upstream's component is
// "statefulset-controller").
func NewController(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	setInformer := factory.Apps().V1().StatefulSets()
	podInformer := factory.Core().V1().Pods()
	c := &Controller{
		client:       client,
		recorder:     recorder,
		sets:         setInformer.Lister(),
		pods:         podInformer.Lister(),
		expectations: newExpectations(),
		history:      newHistory(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "statefulset"}),
		now: time.Now,
	}
	setInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.deleteStatefulSet,
	})
	podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run syncs StatefulSets with the given number of workers until ctx ends.
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
		// A conflict or AlreadyExists only means the cache was behind; the
		// retry sees more.
		if ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && !apierrors.IsAlreadyExists(err) {
			log.Printf("statefulset controller: %s: %v", key, err)
		}
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func keyOf(set *appsv1.StatefulSet) string { return set.Namespace + "/" + set.Name }

func (c *Controller) enqueue(obj interface{}) {
	if set, ok := obj.(*appsv1.StatefulSet); ok {
		c.queue.Add(keyOf(set))
	}
}

func (c *Controller) deleteStatefulSet(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	set, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return
	}
	c.expectations.forget(keyOf(set))
	c.history.forget(keyOf(set))
	c.queue.Add(keyOf(set))
}

// addPod wakes the StatefulSet that owns a new pod (counting its creation
// as seen), or every StatefulSet that could adopt it if it is an orphan.
func (c *Controller) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if set := c.resolveControllerRef(pod.Namespace, ref); set != nil {
			c.expectations.creationObserved(keyOf(set), pod.Name)
			c.queue.Add(keyOf(set))
		}
		return
	}
	for _, set := range c.matchingStatefulSets(pod) {
		c.queue.Add(keyOf(set))
	}
}

func (c *Controller) updatePod(oldObj, curObj interface{}) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // a resync, nothing changed
	}
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		// The deletion the set waits for has happened, though the kubelet
		// still has to stop the pod.
		c.deletePod(cur)
		return
	}
	oldRef, curRef := metav1.GetControllerOf(old), metav1.GetControllerOf(cur)
	refChanged := !reflect.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if set := c.resolveControllerRef(old.Namespace, oldRef); set != nil {
			c.queue.Add(keyOf(set))
		}
	}
	if curRef != nil {
		set := c.resolveControllerRef(cur.Namespace, curRef)
		if set == nil {
			return
		}
		c.queue.Add(keyOf(set))
		// A pod that just became ready becomes available minReadySeconds
		// later, without any further event: look again then.
		if !isPodReady(old) && isPodReady(cur) && set.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(keyOf(set), time.Duration(set.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(old.Labels, cur.Labels) {
		for _, set := range c.matchingStatefulSets(cur) {
			c.queue.Add(keyOf(set))
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
		return
	}
	if set := c.resolveControllerRef(pod.Namespace, ref); set != nil {
		c.expectations.deletionObserved(keyOf(set), pod.Name)
		c.queue.Add(keyOf(set))
	}
}

// resolveControllerRef returns the StatefulSet a controller reference points
// at, if it is one and still the same object (same UID).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	set, err := c.sets.StatefulSets(namespace).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil
	}
	return set
}

// matchingStatefulSets returns the StatefulSets whose selector matches an
// orphan pod: the candidates to adopt it.
func (c *Controller) matchingStatefulSets(pod *corev1.Pod) []*appsv1.StatefulSet {
	list, err := c.sets.StatefulSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.StatefulSet
	for _, set := range list {
		selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err != nil || selector.Empty() {
			continue
		}
		if selector.Matches(labels.Set(pod.Labels)) {
			out = append(out, set)
		}
	}
	return out
}

// sync brings one StatefulSet's pods a step closer to its spec and writes
// its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	set, err := c.sets.StatefulSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.forget(key)
		c.history.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	// Until the informer has seen what the last sync did, the pod cache
	// would mislead this one; the awaited events enqueue the set again.
	if !c.expectations.satisfied(key) {
		return nil
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return nil // validation does not let such a selector in
	}
	all, err := c.pods.Pods(namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, set, selector, all)
	if err != nil {
		return err
	}
	status, err := c.updateStatefulSet(ctx, set, pods)
	if status != nil {
		if statusErr := c.updateStatus(ctx, set, status); err == nil {
			err = statusErr
		}
	}
	if err != nil {
		return err
	}
	// Pods turn available minReadySeconds after they turn ready, with no
	// event to say so (upstream requeues the same way).
	if set.Spec.MinReadySeconds > 0 && int(status.AvailableReplicas) != replicasOf(set) {
		c.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}
