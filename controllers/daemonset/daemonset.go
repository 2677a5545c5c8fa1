package daemonset

import (
	"context"
	"log"
	"reflect"
	"sort"
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
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
)

// controllerKind is what the ownerReferences of the pods name.
var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller is the DaemonSet controller.
type Controller struct {
	client       kubernetes.Interface
	recorder     record.EventRecorder
	daemonSets   listersappsv1.DaemonSetLister
	pods         listerscorev1.PodLister
	nodes        listerscorev1.NodeLister
	expectations *expectations
	// failedPods spaces out the deletions of failed pods per DaemonSet and
	// node, so that a pod the kubelet keeps rejecting does not hot-loop
	// (upstream: 1s doubling up to 15 minutes).
	failedPods *flowcontrol.Backoff
	queue      workqueue.TypedRateLimitingInterface[string]
	now        func() time.Time
}

// NewController returns a DaemonSet controller and registers its event
// handlers on the factory's DaemonSet, Pod and Node informers; start the
// factory afterwards. Events are recorded with recorder (upstream's
// component is "daemonset-controller").
func NewController(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	dsInformer := factory.Apps().V1().DaemonSets()
	podInformer := factory.Core().V1().Pods()
	nodeInformer := factory.Core().V1().Nodes()
	c := &Controller{
		client:       client,
		recorder:     recorder,
		daemonSets:   dsInformer.Lister(),
		pods:         podInformer.Lister(),
		nodes:        nodeInformer.Lister(),
		expectations: newExpectations(),
		failedPods:   flowcontrol.NewBackOff(time.Second, 15*time.Minute),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset"}),
		now: time.Now,
	}
	dsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.deleteDaemonSet,
	})
	podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addNode,
		UpdateFunc: c.updateNode,
		DeleteFunc: func(interface{}) { c.enqueueAll() },
	})
	return c
}

// Run syncs DaemonSets with the given number of workers until ctx ends.
// Call it once the factory has been started and its caches have synced.
func (c *Controller) Run(ctx context.Context, workers int) {
	if workers < 1 {
		workers = 1
	}
	var wg sync.WaitGroup
	// Forget the back-off of nodes whose failed pods stopped failing.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				c.failedPods.GC()
			}
		}
	}()
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
		if ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			log.Printf("daemonset controller: %s: %v", key, err)
		}
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func keyOf(ds *appsv1.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

func (c *Controller) enqueue(obj interface{}) {
	if ds, ok := obj.(*appsv1.DaemonSet); ok {
		c.queue.Add(keyOf(ds))
	}
}

func (c *Controller) enqueueAll() {
	list, err := c.daemonSets.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range list {
		c.queue.Add(keyOf(ds))
	}
}

func (c *Controller) deleteDaemonSet(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if ds, ok := obj.(*appsv1.DaemonSet); ok {
		c.expectations.forget(keyOf(ds))
		c.queue.Add(keyOf(ds))
	}
}

// addPod wakes the DaemonSet that owns a new pod (counting the creation as
// seen), or every DaemonSet that could adopt it if it is an orphan.
func (c *Controller) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if ds := c.resolveControllerRef(pod.Namespace, ref); ds != nil {
			c.expectations.creationObserved(keyOf(ds))
			c.queue.Add(keyOf(ds))
		}
		return
	}
	for _, ds := range c.matchingDaemonSets(pod) {
		c.queue.Add(keyOf(ds))
	}
}

func (c *Controller) updatePod(oldObj, curObj interface{}) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // a resync, nothing changed
	}
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		// The deletion asked for has happened, though the kubelet still
		// has to stop the pod.
		c.deletePod(cur)
		return
	}
	oldRef, curRef := metav1.GetControllerOf(old), metav1.GetControllerOf(cur)
	refChanged := !reflect.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if ds := c.resolveControllerRef(old.Namespace, oldRef); ds != nil {
			c.queue.Add(keyOf(ds))
		}
	}
	if curRef != nil {
		ds := c.resolveControllerRef(cur.Namespace, curRef)
		if ds == nil {
			return
		}
		c.queue.Add(keyOf(ds))
		// Available comes minReadySeconds after ready, with no event.
		if !isPodReady(old) && isPodReady(cur) && ds.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(keyOf(ds), time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(old.Labels, cur.Labels) {
		for _, ds := range c.matchingDaemonSets(cur) {
			c.queue.Add(keyOf(ds))
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
	if ds := c.resolveControllerRef(pod.Namespace, ref); ds != nil {
		c.expectations.deletionObserved(keyOf(ds))
		c.queue.Add(keyOf(ds))
	}
}

// addNode wakes the DaemonSets that should run on a new node.
func (c *Controller) addNode(obj interface{}) {
	node := obj.(*corev1.Node)
	list, err := c.daemonSets.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range list {
		if shouldRun, _ := nodeShouldRunDaemonPod(node, ds); shouldRun {
			c.queue.Add(keyOf(ds))
		}
	}
}

// updateNode wakes the DaemonSets for which the change (labels, taints,
// name-based affinity) turns the node's answer around; the frequent
// heartbeats that only touch conditions change nothing.
func (c *Controller) updateNode(oldObj, curObj interface{}) {
	old, cur := oldObj.(*corev1.Node), curObj.(*corev1.Node)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	list, err := c.daemonSets.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range list {
		oldRun, oldContinue := nodeShouldRunDaemonPod(old, ds)
		curRun, curContinue := nodeShouldRunDaemonPod(cur, ds)
		if oldRun != curRun || oldContinue != curContinue {
			c.queue.Add(keyOf(ds))
		}
	}
}

// resolveControllerRef returns the DaemonSet a controller reference points
// at, if it is one and still the same object (same UID).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	ds, err := c.daemonSets.DaemonSets(namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

// matchingDaemonSets returns the DaemonSets whose selector matches an
// orphan pod: the candidates to adopt it.
func (c *Controller) matchingDaemonSets(pod *corev1.Pod) []*appsv1.DaemonSet {
	list, err := c.daemonSets.DaemonSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.DaemonSet
	for _, ds := range list {
		selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil || selector.Empty() {
			continue
		}
		if selector.Matches(labels.Set(pod.Labels)) {
			out = append(out, ds)
		}
	}
	return out
}

// sync creates and deletes one DaemonSet's pods, takes a step of its
// rolling update and writes its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.daemonSets.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	// Node order decides nothing upstream; here it makes runs repeatable.
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	if reflect.DeepEqual(ds.Spec.Selector, &metav1.LabelSelector{}) {
		c.recorder.Event(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	// The pods of a DaemonSet being deleted are the garbage collector's;
	// upstream does not even report status then.
	if ds.DeletionTimestamp != nil {
		return nil
	}
	hash := templateHash(ds)
	if !c.expectations.satisfied(key) {
		// Only report; the generation is not observed until acted on.
		return c.updateStatus(ctx, ds, nodes, hash, false)
	}
	err = c.manage(ctx, ds, nodes, hash)
	if err == nil && c.expectations.satisfied(key) && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		err = c.rollingUpdate(ctx, ds, nodes, hash)
	}
	statusErr := c.updateStatus(ctx, ds, nodes, hash, true)
	if err != nil {
		return err
	}
	return statusErr
}

// nodesToDaemonPods claims the DaemonSet's pods and groups them by the node
// they are for.
func (c *Controller) nodesToDaemonPods(ctx context.Context, ds *appsv1.DaemonSet) (map[string][]*corev1.Pod, error) {
	all, err := c.pods.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	owned, err := c.claimPods(ctx, ds, all)
	if err != nil {
		return nil, err
	}
	byNode := map[string][]*corev1.Pod{}
	for _, pod := range owned {
		if node, ok := targetNode(pod); ok {
			byNode[node] = append(byNode[node], pod)
		}
	}
	return byNode, nil
}

func isPodReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// isPodAvailable: Ready for at least minReadySeconds (upstream's
// podutil.IsPodAvailable).
func isPodAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !isPodReady(pod) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	since := readyCondition(pod).LastTransitionTime
	return !since.IsZero() && since.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// byAge sorts pods as upstream's podByCreationTimestampAndPhase: bound
// pods first, then oldest first, then by name.
func byAge(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName != "") != (b.Spec.NodeName != "") {
			return a.Spec.NodeName != ""
		}
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
}
