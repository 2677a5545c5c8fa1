package endpointslice

import (
	"context"
	"errors"
	"log"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	listersdiscoveryv1 "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/minilab/minilab/controllers/endpoint/endpointutil"
)

const (
	// controllerName is the endpointslice.kubernetes.io/managed-by value
	// of the slices this controller writes for Services with selectors.
	controllerName = "endpointslice-controller.k8s.io"
	// maxEndpointsPerSlice is kube-controller-manager's default
	// --max-endpoints-per-slice.
	maxEndpointsPerSlice = 100
	fieldManager         = "kube-controller-manager"
)

// errStaleCache makes a sync wait (and retry) until the informer shows the
// controller's own last writes.
var errStaleCache = errors.New("the EndpointSlice cache does not show our last writes yet")

// errNodeNotFound makes a sync retry when a pod's node is not in the cache
// yet; the pod is left out meanwhile, as upstream does.
var errNodeNotFound = errors.New("a selected pod's node is not known yet")

// Controller runs the EndpointSlice loop (queue of Service keys) and the
// mirroring loop (queue of Endpoints keys).
type Controller struct {
	client       kubernetes.Interface
	recorder     record.EventRecorder
	services     listerscorev1.ServiceLister
	pods         listerscorev1.PodLister
	nodes        listerscorev1.NodeLister
	endpoints    listerscorev1.EndpointsLister
	slices       listersdiscoveryv1.EndpointSliceLister
	queue        workqueue.TypedRateLimitingInterface[string]
	tracker      *sliceTracker
	triggerTimes *endpointutil.TriggerTimeTracker
	mirror       *mirroring
}

// NewController returns the controller with its informer handlers
// registered on factory; start the factory afterwards.
func NewController(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	svcInf := factory.Core().V1().Services()
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()
	epInf := factory.Core().V1().Endpoints()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	c := &Controller{
		client: client, recorder: recorder,
		services: svcInf.Lister(), pods: podInf.Lister(), nodes: nodeInf.Lister(),
		endpoints: epInf.Lister(), slices: sliceInf.Lister(),
		queue:        newQueue("endpointslice"),
		tracker:      newSliceTracker(sliceInf.Lister()),
		triggerTimes: endpointutil.NewTriggerTimeTracker(),
	}
	c.mirror = newMirroring(c)

	onService := func(obj interface{}) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
			c.mirror.queue.Add(key) // a selector added or removed changes who writes the slices
		}
	}
	svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onService, UpdateFunc: func(_, obj interface{}) { onService(obj) }, DeleteFunc: onService,
	})
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueuePodServices,
		UpdateFunc: func(old, obj interface{}) {
			c.enqueuePodServices(old)
			c.enqueuePodServices(obj)
		},
		DeleteFunc: c.enqueuePodServices,
	})
	nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(interface{}) { c.enqueueAllServices() },
		UpdateFunc: func(old, obj interface{}) {
			if zoneOf(old.(*corev1.Node)) != zoneOf(obj.(*corev1.Node)) {
				c.enqueueAllServices()
			}
		},
	})
	sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.onSlice,
		UpdateFunc: func(old, obj interface{}) {
			c.onSlice(old) // managed-by or service-name may have been edited
			c.onSlice(obj)
		},
		DeleteFunc: c.onSlice,
	})
	epInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.mirror.enqueue, UpdateFunc: func(_, obj interface{}) { c.mirror.enqueue(obj) }, DeleteFunc: c.mirror.enqueue,
	})
	return c
}

func newQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 5*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

func (c *Controller) enqueuePodServices(obj interface{}) {
	if pod := endpointutil.PodFromEvent(obj); pod != nil {
		for _, key := range endpointutil.ServicesForPod(c.services, pod) {
			c.queue.Add(key)
		}
	}
}

func (c *Controller) enqueueAllServices() {
	list, _ := c.services.List(labels.Everything())
	for _, svc := range list {
		if len(svc.Spec.Selector) > 0 {
			c.queue.Add(svc.Namespace + "/" + svc.Name)
		}
	}
}

// onSlice queues the owner of a changed slice with the loop that manages
// it, so that edits and deletions by others are repaired.
func (c *Controller) onSlice(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || slice.Labels[discoveryv1.LabelServiceName] == "" {
		return
	}
	key := slice.Namespace + "/" + slice.Labels[discoveryv1.LabelServiceName]
	switch slice.Labels[discoveryv1.LabelManagedBy] {
	case controllerName:
		c.queue.Add(key)
	case mirrorControllerName:
		c.mirror.queue.Add(key)
	}
}

func zoneOf(node *corev1.Node) string { return node.Labels[corev1.LabelTopologyZone] }

// Run runs both loops with workers goroutines each until ctx ends. Start
// it once the factory's informers have synced.
func (c *Controller) Run(ctx context.Context, workers int) {
	done := make(chan struct{})
	go func() {
		runWorkers(ctx, c.queue, workers, c.syncService, "endpointslice")
		close(done)
	}()
	runWorkers(ctx, c.mirror.queue, workers, c.mirror.sync, "endpointslicemirroring")
	<-done
}

// runWorkers processes queue with workers goroutines until ctx ends.
func runWorkers(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], workers int, sync func(context.Context, string) error, name string) {
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	done := make(chan struct{})
	for i := 0; i < workers; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				key, quit := queue.Get()
				if quit {
					return
				}
				err := sync(ctx, key)
				switch {
				case err == nil:
					queue.Forget(key)
				case ctx.Err() != nil:
				default:
					if !errors.Is(err, errStaleCache) && !errors.Is(err, errNodeNotFound) && !apierrors.IsConflict(err) {
						log.Printf("%s controller: %s: %v", name, key, err)
					}
					queue.AddRateLimited(key)
				}
				queue.Done(key)
			}
		}()
	}
	for i := 0; i < workers; i++ {
		<-done
	}
}

// ownedSlices lists the slices of one Service (or Endpoints) that the
// given loop manages, leaving out those already being deleted.
func ownedSlices(lister listersdiscoveryv1.EndpointSliceLister, namespace, name, managedBy string) ([]*discoveryv1.EndpointSlice, error) {
	sel := labels.SelectorFromValidatedSet(labels.Set{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: managedBy})
	list, err := lister.EndpointSlices(namespace).List(sel)
	if err != nil {
		return nil, err
	}
	var out []*discoveryv1.EndpointSlice
	for _, s := range list {
		if s.DeletionTimestamp == nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// deleteSlices deletes the slices of an owner that is gone. The garbage
// collector would do it too, through their ownerReferences.
func deleteSlices(ctx context.Context, client kubernetes.Interface, slices []*discoveryv1.EndpointSlice) error {
	for _, s := range slices {
		err := client.DiscoveryV1().EndpointSlices(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// syncService makes the slices of one Service match its pods.
func (c *Controller) syncService(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.triggerTimes.Forget(namespace, name)
		c.tracker.forget(key)
		existing, err := ownedSlices(c.slices, namespace, name, controllerName)
		if err != nil {
			return err
		}
		return deleteSlices(ctx, c.client, existing)
	}
	if err != nil {
		return err
	}
	// ExternalName Services have no endpoints; Services without a
	// selector get their slices from the mirroring loop (or their author).
	if svc.Spec.Type == corev1.ServiceTypeExternalName || len(svc.Spec.Selector) == 0 {
		return nil
	}
	if c.tracker.stale(key) {
		return errStaleCache
	}
	existing, err := ownedSlices(c.slices, namespace, name, controllerName)
	if err != nil {
		return err
	}
	pods, err := c.pods.Pods(namespace).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	t := serviceTarget(svc, c.triggerTimes.Compute(svc, pods))
	wanted, missingNode := c.desiredEndpoints(svc, pods)
	if err := apply(ctx, c.client, c.tracker, t, computePlan(t, existing, wanted)); err != nil {
		if !apierrors.IsConflict(err) {
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices",
				"Error updating Endpoint Slices for Service %s/%s: %v", namespace, name, err)
		}
		return err
	}
	if missingNode {
		return errNodeNotFound
	}
	return nil
}

// serviceTarget describes the slices of a Service: its labels (minus the
// reserved ones) plus the service-name, managed-by and headless labels,
// and a controller reference to the Service.
func serviceTarget(svc *corev1.Service, triggerTime time.Time) *target {
	l := map[string]string{}
	for k, v := range svc.Labels {
		if k != discoveryv1.LabelServiceName && k != discoveryv1.LabelManagedBy && k != corev1.IsHeadlessService {
			l[k] = v
		}
	}
	if endpointutil.IsHeadless(svc) {
		l[corev1.IsHeadlessService] = ""
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = controllerName
	return &target{
		key:       svc.Namespace + "/" + svc.Name,
		namespace: svc.Namespace,
		owner:     *metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service")),
		// A Service name has at most 63 characters, so "<name>-" plus the
		// 5 random characters is always a valid slice name.
		generateName: svc.Name + "-",
		labels:       l,
		triggerTime:  triggerTime,
		maxEndpoints: maxEndpointsPerSlice,
		placeholder:  true,
		deleting:     svc.DeletionTimestamp != nil,
	}
}

// desiredEndpoints turns the selected pods into endpoints grouped by their
// resolved ports. Pods on a node the cache does not know are left out (and
// reported) unless the Service publishes not-ready addresses.
func (c *Controller) desiredEndpoints(svc *corev1.Service, pods []*corev1.Pod) (groups, bool) {
	wanted := groups{}
	missingNode := false
	for _, pod := range pods {
		if !endpointutil.ShouldPodBeInEndpoints(pod, true) {
			continue
		}
		ip := endpointutil.PodIPv4(pod)
		if ip == "" {
			continue
		}
		node, err := c.nodes.Get(pod.Spec.NodeName)
		if err != nil {
			node = nil
			if !svc.Spec.PublishNotReadyAddresses {
				missingNode = true
				continue
			}
		}
		wanted.add(discoveryv1.AddressTypeIPv4, endpointPorts(svc, pod), podEndpoint(svc, pod, node, ip))
	}
	return wanted, missingNode
}

// podEndpoint is one pod as an EndpointSlice endpoint. serving follows the
// pod's readiness even while it terminates; ready is serving and not
// terminating (unless the Service publishes not-ready addresses, then it
// is always true).
func podEndpoint(svc *corev1.Service, pod *corev1.Pod, node *corev1.Node, ip string) discoveryv1.Endpoint {
	serving := svc.Spec.PublishNotReadyAddresses || endpointutil.IsPodReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		nodeName := pod.Spec.NodeName
		ep.NodeName = &nodeName
	}
	if node != nil && zoneOf(node) != "" {
		zone := zoneOf(node)
		ep.Zone = &zone
	}
	if endpointutil.ShouldSetHostname(pod, svc) {
		hostname := pod.Spec.Hostname
		ep.Hostname = &hostname
	}
	return ep
}

// endpointPorts resolves the Service's ports on one pod. Ports the pod does
// not have (an unknown named targetPort) are left out. The name is always
// set, "" for an unnamed port: consumers such as `kubectl describe`
// dereference it.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	ports := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		num, err := endpointutil.FindPort(pod, sp)
		if err != nil {
			continue
		}
		name, protocol := sp.Name, sp.Protocol
		ports = append(ports, discoveryv1.EndpointPort{Name: &name, Port: &num, Protocol: &protocol, AppProtocol: sp.AppProtocol})
	}
	return ports
}
