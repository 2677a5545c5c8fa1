// Package namespace empties namespaces that are being deleted, the job of
// kube-controller-manager's namespace controller.
//
// `kubectl delete namespace demo` only marks the namespace Terminating: the
// API server keeps it while its spec.finalizers holds "kubernetes". This
// controller deletes every object in it, waits until they are gone (pods
// may take their grace period), and then removes the finalizer through the
// namespace's /finalize subresource, after which the API server deletes the
// namespace itself.
package namespace

import (
	"context"
	"log"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// finalizer is the spec.finalizers entry this controller is responsible for.
const finalizer = corev1.FinalizerKubernetes

// Controller is the namespace controller.
type Controller struct {
	client    kubernetes.Interface
	metadata  metadata.Interface
	resources []schema.GroupVersionResource // namespaced resources to empty
	lister    listerscorev1.NamespaceLister
	queue     workqueue.TypedRateLimitingInterface[string]
}

// New returns a namespace controller using the factory's namespace informer.
func New(client kubernetes.Interface, md metadata.Interface, factory informers.SharedInformerFactory, namespaced []schema.GroupVersionResource) *Controller {
	inf := factory.Core().V1().Namespaces()
	c := &Controller{
		client: client, metadata: md, resources: namespaced,
		lister: inf.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 5*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
	}
	enqueue := func(obj interface{}) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.Add(ns.Name)
		}
	}
	inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj interface{}) { enqueue(obj) },
	})
	return c
}

// Run processes namespaces until ctx ends. Start it once the informers
// have synced (the manager does).
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for {
		name, quit := c.queue.Get()
		if quit {
			return
		}
		done, err := c.sync(ctx, name)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				c.queue.Done(name)
				return
			}
			log.Printf("namespace controller: %s: %v", name, err)
			c.queue.AddRateLimited(name)
		case !done:
			c.queue.AddRateLimited(name) // objects still terminating: look again soon
		default:
			c.queue.Forget(name)
		}
		c.queue.Done(name)
	}
}

// sync empties one terminating namespace; done means it was finalized.
func (c *Controller) sync(ctx context.Context, name string) (bool, error) {
	ns, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil || ns.DeletionTimestamp == nil || !hasFinalizer(ns) {
		return true, err
	}
	remaining := 0
	background := metav1.DeletePropagationBackground
	for _, gvr := range c.resources {
		client := c.metadata.Resource(gvr).Namespace(name)
		err := client.DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return false, err
		}
		list, err := client.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		remaining += len(list.Items)
	}
	if remaining > 0 {
		return false, nil
	}
	fresh, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	var keep []corev1.FinalizerName
	for _, f := range fresh.Spec.Finalizers {
		if f != finalizer {
			keep = append(keep, f)
		}
	}
	fresh.Spec.Finalizers = keep
	_, err = c.client.CoreV1().Namespaces().Finalize(ctx, fresh, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return err == nil, err
}

func hasFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == finalizer {
			return true
		}
	}
	return false
}
