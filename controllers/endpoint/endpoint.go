package endpoint

import (
	"context"
	"log"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/minilab/minilab/controllers/endpoint/endpointutil"
)

// fieldManager is how kube-controller-manager's writes appear in managedFields.
const fieldManager = "kube-controller-manager"

// leaderElectionAnnotation marks Endpoints that old components used as
// leader-election locks; they have no Service and must never be deleted.
const leaderElectionAnnotation = "control-plane.alpha.kubernetes.io/leader"

// Controller is the Endpoints controller. Its queue holds Service keys
// (namespace/name).
type Controller struct {
	client       kubernetes.Interface
	recorder     record.EventRecorder
	services     listerscorev1.ServiceLister
	pods         listerscorev1.PodLister
	endpoints    listerscorev1.EndpointsLister
	queue        workqueue.TypedRateLimitingInterface[string]
	triggerTimes *endpointutil.TriggerTimeTracker
}

// NewController returns the controller with its informer handlers
// registered on factory; start the factory afterwards.
func NewController(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	svcInf := factory.Core().V1().Services()
	podInf := factory.Core().V1().Pods()
	epInf := factory.Core().V1().Endpoints()
	c := &Controller{
		client: client, recorder: recorder,
		services: svcInf.Lister(), pods: podInf.Lister(), endpoints: epInf.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 5*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint"}),
		triggerTimes: endpointutil.NewTriggerTimeTracker(),
	}
	enqueueKey := func(obj interface{}) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueKey,
		UpdateFunc: func(_, obj interface{}) { enqueueKey(obj) },
		DeleteFunc: enqueueKey,
	})
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueuePodServices,
		UpdateFunc: func(old, obj interface{}) {
			// Old labels matter too: a relabelled pod leaves Services.
			c.enqueuePodServices(old)
			c.enqueuePodServices(obj)
		},
		DeleteFunc: c.enqueuePodServices,
	})
	// An Endpoints object of a selector Service that someone deleted or
	// edited is put back at once.
	epInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj interface{}) { c.enqueueIfSelected(obj) },
		DeleteFunc: c.enqueueIfSelected,
	})
	return c
}

func (c *Controller) enqueuePodServices(obj interface{}) {
	if pod := endpointutil.PodFromEvent(obj); pod != nil {
		for _, key := range endpointutil.ServicesForPod(c.services, pod) {
			c.queue.Add(key)
		}
	}
}

// enqueueIfSelected queues an Endpoints object's Service if that Service
// has a selector (so this controller owns the object).
func (c *Controller) enqueueIfSelected(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	if svc, err := c.services.Services(ns).Get(name); err == nil && len(svc.Spec.Selector) > 0 {
		c.queue.Add(key)
	}
}

// Run syncs Services with workers goroutines until ctx ends. Start it once
// the factory's informers have synced.
func (c *Controller) Run(ctx context.Context, workers int) {
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	c.checkLeftoverEndpoints()
	done := make(chan struct{})
	for i := 0; i < workers; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for c.processNext(ctx) {
			}
		}()
	}
	for i := 0; i < workers; i++ {
		<-done
	}
}

// checkLeftoverEndpoints queues every Endpoints object once at start-up,
// as upstream does, so that the Endpoints of Services deleted while the
// controller was down are removed too.
func (c *Controller) checkLeftoverEndpoints() {
	list, err := c.endpoints.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ep := range list {
		if _, ok := ep.Annotations[leaderElectionAnnotation]; !ok {
			c.queue.Add(ep.Namespace + "/" + ep.Name)
		}
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.syncService(ctx, key); err != nil {
		if ctx.Err() != nil {
			return false
		}
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			log.Printf("endpoint controller: %s: %v", key, err)
		}
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// syncService makes the Service's Endpoints match its pods.
func (c *Controller) syncService(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The Service is gone: so are its Endpoints.
		c.triggerTimes.Forget(namespace, name)
		err := c.client.CoreV1().Endpoints(namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	// ExternalName Services are DNS aliases with no endpoints, and Services
	// without a selector get theirs from whoever writes them.
	if svc.Spec.Type == corev1.ServiceTypeExternalName || len(svc.Spec.Selector) == 0 {
		return nil
	}
	pods, err := c.pods.Pods(namespace).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	// Computed on every sync, so that the tracker's state follows the pods
	// even when nothing is written.
	triggerTime := c.triggerTimes.Compute(svc, pods)
	subsets := desiredSubsets(svc, pods)
	wantLabels := endpointsLabels(svc)

	current, err := c.endpoints.Endpoints(namespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if current != nil && apiequality.Semantic.DeepEqual(current.Subsets, subsets) && apiequality.Semantic.DeepEqual(current.Labels, wantLabels) {
		return nil // nothing to write
	}

	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if current != nil {
		ep = current.DeepCopy()
	}
	ep.Subsets = subsets
	ep.Labels = wantLabels
	if ep.Annotations == nil {
		ep.Annotations = map[string]string{}
	}
	if triggerTime.IsZero() {
		delete(ep.Annotations, corev1.EndpointsLastChangeTriggerTime)
	} else {
		ep.Annotations[corev1.EndpointsLastChangeTriggerTime] = endpointutil.FormatTriggerTime(triggerTime)
	}

	if current == nil {
		_, err = c.client.CoreV1().Endpoints(namespace).Create(ctx, ep, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil // the namespace is going away with its Services
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			c.recorder.Eventf(ep, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %s/%s: %v", namespace, name, err)
		}
		return err
	}
	_, err = c.client.CoreV1().Endpoints(namespace).Update(ctx, ep, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		c.recorder.Eventf(ep, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %s/%s: %v", namespace, name, err)
	}
	return err
}

// endpointsLabels are the Service's labels, plus
// service.kubernetes.io/headless on the Endpoints of a headless Service
// (kube-proxy skips those).
func endpointsLabels(svc *corev1.Service) map[string]string {
	out := map[string]string{}
	for k, v := range svc.Labels {
		out[k] = v
	}
	if endpointutil.IsHeadless(svc) {
		out[corev1.IsHeadlessService] = ""
	} else {
		delete(out, corev1.IsHeadlessService)
	}
	return out
}
