package loadbalancer

import (
	"context"
	"log"
	"net/netip"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

// cleanupFinalizer is the service controller's finalizer: a Service that has
// it still holds a load balancer the controller must release.
const cleanupFinalizer = "service.kubernetes.io/load-balancer-cleanup"

// Config says which addresses the controller hands out and which Services
// it serves.
type Config struct {
	// Pool lists the addresses to hand out, e.g. 172.30.0.200..172.30.0.250
	// (see ParsePool).
	Pool []netip.Addr
	// Class is the spec.loadBalancerClass this controller implements.
	// Services without a class are served too (the default implementation,
	// as a cloud provider's is); those naming another class are left alone.
	Class string
}

// Controller is the load-balancer controller.
type Controller struct {
	pool     *pool
	class    string
	client   kubernetes.Interface
	recorder record.EventRecorder
	services listerscorev1.ServiceLister
	queue    workqueue.TypedRateLimitingInterface[string]

	// mu makes choosing an address and recording the choice one step, so
	// that two workers never hand out the same address.
	mu sync.Mutex
	// assigned remembers the address given to each Service, because the
	// informer cache shows the status write only some time later.
	assigned map[string]assignment
	// waiting holds the Services left without an address; any Service
	// giving one up sends them back to the queue.
	waiting map[string]bool
}

type assignment struct {
	uid  types.UID
	addr netip.Addr
}

// NewController returns a load-balancer controller and registers its event
// handlers on the factory's Service informer; start the factory afterwards.
// Events are recorded with recorder (upstream's component is
// "service-controller").
func NewController(cfg Config, client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	informer := factory.Core().V1().Services()
	c := &Controller{
		pool:     newPool(cfg.Pool),
		class:    cfg.Class,
		client:   client,
		recorder: recorder,
		services: informer.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "service"}),
		assigned: map[string]assignment{},
		waiting:  map[string]bool{},
	}
	informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addService,
		UpdateFunc: c.updateService,
		DeleteFunc: c.deleteService,
	})
	return c
}

// Run syncs Services with the given number of workers until ctx ends. Call
// it once the factory has been started and its caches have synced.
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
		// Service went meanwhile; the retry sees more.
		if ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			log.Printf("service controller: %s: %v", key, err)
		}
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func keyOf(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// wantsLoadBalancer: a LoadBalancer Service of no class or of ours.
func (c *Controller) wantsLoadBalancer(svc *corev1.Service) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	class := svc.Spec.LoadBalancerClass
	return class == nil || (c.class != "" && *class == c.class)
}

// serves: a Service that should have a load balancer now.
func (c *Controller) serves(svc *corev1.Service) bool {
	return svc.DeletionTimestamp == nil && c.wantsLoadBalancer(svc)
}

// concerns: a Service this controller has to look at, because it should
// have a load balancer or still has one to release.
func (c *Controller) concerns(svc *corev1.Service) bool {
	return c.serves(svc) || hasFinalizer(svc)
}

func hasFinalizer(svc *corev1.Service) bool { return slices.Contains(svc.Finalizers, cleanupFinalizer) }

// statusAddrs returns the pool addresses a Service's status shows.
func (c *Controller) statusAddrs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(ing.IP); err == nil && c.pool.contains(a.Unmap()) && !slices.Contains(out, a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	return out
}

func (c *Controller) addService(obj interface{}) {
	// On start this also picks up, from the stored state, Services whose
	// type changed or that were deleted while the controller was down.
	if svc, ok := obj.(*corev1.Service); ok && c.concerns(svc) {
		c.queue.Add(keyOf(svc))
	}
}

func (c *Controller) updateService(oldObj, curObj interface{}) {
	old, cur := oldObj.(*corev1.Service), curObj.(*corev1.Service)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	c.recordSpecChanges(old, cur)
	if (c.concerns(old) || c.concerns(cur)) && changed(old, cur) {
		c.queue.Add(keyOf(cur))
	}
	if c.givesUp(old, cur) {
		c.retryWaiting()
	}
}

func (c *Controller) deleteService(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	c.queue.Add(keyOf(svc)) // to forget it
	// It may have held or asked for an address, or been ahead in line.
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0 {
		c.retryWaiting()
	}
}

// recordSpecChanges records the events the upstream service controller
// records when it notices a change that matters to the load balancer.
func (c *Controller) recordSpecChanges(old, cur *corev1.Service) {
	wantsOld, wantsCur := c.wantsLoadBalancer(old), c.wantsLoadBalancer(cur)
	switch {
	case wantsOld != wantsCur:
		c.recorder.Eventf(cur, corev1.EventTypeNormal, "Type", "%v -> %v", old.Spec.Type, cur.Spec.Type)
	case wantsCur && old.Spec.LoadBalancerIP != cur.Spec.LoadBalancerIP:
		c.recorder.Eventf(cur, corev1.EventTypeNormal, "LoadbalancerIP", "%v -> %v", old.Spec.LoadBalancerIP, cur.Spec.LoadBalancerIP)
	}
}

// changed: the update touched something the controller acts on. Our own
// finalizer being added is not such a change.
func changed(old, cur *corev1.Service) bool {
	return old.UID != cur.UID ||
		(old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		(hasFinalizer(old) && !hasFinalizer(cur)) ||
		!equalSpec(&old.Spec, &cur.Spec) ||
		!equalLoadBalancerStatus(&old.Status.LoadBalancer, &cur.Status.LoadBalancer)
}

// givesUp: the update may have made an address available to a waiting
// Service: this one stopped occupying an address (its status or request
// changed, or it was released), or, itself waiting for an address, it
// stopped competing for one, which moves the Services behind it up.
func (c *Controller) givesUp(old, cur *corev1.Service) bool {
	still := c.occupied(cur)
	for _, a := range c.occupied(old) {
		if !slices.Contains(still, a) {
			return true
		}
	}
	return c.isWaiting(old) && (!c.serves(cur) || cur.Spec.LoadBalancerIP != "")
}

// occupied returns the pool addresses a Service keeps others from: those in
// its status until it is released, and the one it requests while served.
func (c *Controller) occupied(svc *corev1.Service) []netip.Addr {
	if !c.concerns(svc) {
		return nil
	}
	addrs := c.statusAddrs(svc)
	if c.serves(svc) {
		if r, err := netip.ParseAddr(svc.Spec.LoadBalancerIP); err == nil && c.pool.contains(r.Unmap()) && !slices.Contains(addrs, r.Unmap()) {
			addrs = append(addrs, r.Unmap())
		}
	}
	return addrs
}

// isWaiting: a served Service with neither an address nor a request, which
// takes the next free address in creation order.
func (c *Controller) isWaiting(svc *corev1.Service) bool {
	return c.serves(svc) && svc.Spec.LoadBalancerIP == "" && len(c.statusAddrs(svc)) == 0
}

// retryWaiting sends the Services left without an address back to the
// queue, right away rather than after a back-off: an address just came free.
func (c *Controller) retryWaiting() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.waiting {
		c.queue.Add(key)
	}
}

// sync gives one Service its load balancer, or releases it.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if c.serves(svc) {
		return c.ensure(ctx, key, svc)
	}
	return c.release(ctx, key, svc)
}

func (c *Controller) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.assigned, key)
	delete(c.waiting, key)
}

// ensure gives a Service its address and publishes it in its status.
func (c *Controller) ensure(ctx context.Context, key string, svc *corev1.Service) error {
	if !hasFinalizer(svc) {
		// As upstream: the finalizer goes on before the load balancer
		// exists, so the Service cannot disappear without its release.
		updated := svc.DeepCopy()
		updated.Finalizers = append(updated.Finalizers, cleanupFinalizer)
		var err error
		if svc, err = c.client.CoreV1().Services(svc.Namespace).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	addr, err := c.allocate(key, svc)
	if err != nil {
		// The Service stays <pending> until an address comes free.
		c.recorder.Event(svc, corev1.EventTypeNormal, "EnsuringLoadBalancer", "Ensuring load balancer")
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "SyncLoadBalancerFailed", "Error syncing load balancer: failed to ensure load balancer: %v", err)
		return nil
	}
	want := ingressStatus(addr)
	if equalLoadBalancerStatus(&svc.Status.LoadBalancer, &want) {
		return nil
	}
	// The cache may not show our last write yet: only the stored object
	// tells whether the status still needs writing.
	live, err := c.client.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if live.UID != svc.UID || equalLoadBalancerStatus(&live.Status.LoadBalancer, &want) {
		return nil
	}
	c.recorder.Event(live, corev1.EventTypeNormal, "EnsuringLoadBalancer", "Ensuring load balancer")
	live.Status.LoadBalancer = want
	if _, err := c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, live, metav1.UpdateOptions{}); err != nil {
		return err
	}
	c.recorder.Event(live, corev1.EventTypeNormal, "EnsuredLoadBalancer", "Ensured load balancer")
	return nil
}

// allocate chooses svc's address and remembers the choice, both under mu.
func (c *Controller) allocate(key string, svc *corev1.Service) (netip.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	all, err := c.services.List(labels.Everything())
	if err != nil {
		return netip.Addr{}, err
	}
	me := c.claimantOf(svc)
	var others []*claimant
	for _, o := range all {
		if keyOf(o) != key && c.concerns(o) {
			others = append(others, c.claimantOf(o))
		}
	}
	addr, err := c.pool.choose(me, others)
	if err != nil {
		c.waiting[key] = true
		return netip.Addr{}, err
	}
	delete(c.waiting, key)
	c.assigned[key] = assignment{uid: svc.UID, addr: addr}
	return addr, nil
}

// claimantOf describes a Service for the allocation rules (mu is held).
func (c *Controller) claimantOf(svc *corev1.Service) *claimant {
	cl := &claimant{key: keyOf(svc), created: svc.CreationTimestamp.Time, competes: c.serves(svc)}
	if a, ok := c.assigned[cl.key]; ok && a.uid == svc.UID {
		cl.holds = append(cl.holds, a.addr)
	}
	for _, a := range c.statusAddrs(svc) {
		if !cl.holdsAddr(a) {
			cl.holds = append(cl.holds, a)
		}
	}
	if cl.competes {
		cl.requested = svc.Spec.LoadBalancerIP
	}
	return cl
}

// release frees the address of a Service that no longer wants a load
// balancer (deleted, or of another type now), clears its status and removes
// the finalizer, recording the events upstream records.
func (c *Controller) release(ctx context.Context, key string, svc *corev1.Service) error {
	c.mu.Lock()
	_, hadAssignment := c.assigned[key]
	delete(c.assigned, key)
	delete(c.waiting, key)
	c.mu.Unlock()
	if !hasFinalizer(svc) {
		return nil // never ours, or already released
	}
	if hadAssignment || len(svc.Status.LoadBalancer.Ingress) > 0 {
		c.recorder.Event(svc, corev1.EventTypeNormal, "DeletingLoadBalancer", "Deleting load balancer")
	}
	// The status goes first, so that the address is off this Service
	// before the finalizer's removal lets another one take it. A Service
	// being deleted keeps its status: it disappears with the Service. One
	// of type LoadBalancer now served by another class keeps it too: the
	// status is that implementation's to write.
	if svc.DeletionTimestamp == nil && svc.Spec.Type != corev1.ServiceTypeLoadBalancer && len(svc.Status.LoadBalancer.Ingress) > 0 {
		cleared := svc.DeepCopy()
		cleared.Status.LoadBalancer = corev1.LoadBalancerStatus{}
		var err error
		if svc, err = c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, cleared, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	updated := svc.DeepCopy()
	updated.Finalizers = slices.DeleteFunc(updated.Finalizers, func(f string) bool { return f == cleanupFinalizer })
	if _, err := c.client.CoreV1().Services(svc.Namespace).Update(ctx, updated, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	c.recorder.Event(svc, corev1.EventTypeNormal, "DeletedLoadBalancer", "Deleted load balancer")
	return nil
}

func equalSpec(a, b *corev1.ServiceSpec) bool { return equality.Semantic.DeepEqual(a, b) }

// equalLoadBalancerStatus compares statuses, an empty list being no list.
func equalLoadBalancerStatus(a, b *corev1.LoadBalancerStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}

// ingressStatus is the status of a load balancer on addr: traffic for it
// reaches the nodes with the destination still addr (ipMode VIP), so the
// node proxies program it, as kube-proxy does.
func ingressStatus(addr netip.Addr) corev1.LoadBalancerStatus {
	return corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{
		IP: addr.String(), IPMode: ptr.To(corev1.LoadBalancerIPModeVIP),
	}}}
}
