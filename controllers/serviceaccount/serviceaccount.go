// Package serviceaccount gives every namespace what kube-controller-manager
// puts into each one: the "default" ServiceAccount (the serviceaccount
// controller) and the "kube-root-ca.crt" ConfigMap holding the cluster CA
// (the root-ca-cert-publisher), which pods use to trust the API server.
package serviceaccount

import (
	"context"
	"log"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

const (
	defaultServiceAccount = "default"
	rootCAConfigMap       = "kube-root-ca.crt"
	// rootCADescription is the annotation the real publisher sets.
	rootCADescription = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Controller keeps the per-namespace ServiceAccount and CA ConfigMap.
type Controller struct {
	client     kubernetes.Interface
	caPEM      string
	namespaces listerscorev1.NamespaceLister
	accounts   listerscorev1.ServiceAccountLister
	configMaps listerscorev1.ConfigMapLister
	queue      workqueue.TypedRateLimitingInterface[string]
}

// New returns the controller; caPEM is the cluster CA certificate.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, caPEM []byte) *Controller {
	ns := factory.Core().V1().Namespaces()
	sa := factory.Core().V1().ServiceAccounts()
	cm := factory.Core().V1().ConfigMaps()
	c := &Controller{
		client: client, caPEM: string(caPEM),
		namespaces: ns.Lister(), accounts: sa.Lister(), configMaps: cm.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"}),
	}
	byNamespace := func(obj interface{}) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		switch o := obj.(type) {
		case *corev1.Namespace:
			c.queue.Add(o.Name)
		case metav1.Object:
			c.queue.Add(o.GetNamespace())
		}
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: byNamespace, UpdateFunc: func(_, o interface{}) { byNamespace(o) }, DeleteFunc: byNamespace}
	ns.Informer().AddEventHandler(handler)
	sa.Informer().AddEventHandler(handler)
	cm.Informer().AddEventHandler(handler)
	return c
}

// Run processes namespaces until ctx ends. Start it once the informers
// have synced (the manager does).
func (c *Controller) Run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for {
		name, quit := c.queue.Get()
		if quit {
			return
		}
		if err := c.sync(ctx, name); err != nil {
			if ctx.Err() == nil && !apierrors.IsForbidden(err) && !apierrors.IsNotFound(err) {
				log.Printf("serviceaccount controller: %s: %v", name, err)
			}
			c.queue.AddRateLimited(name)
		} else {
			c.queue.Forget(name)
		}
		c.queue.Done(name)
	}
}

func (c *Controller) sync(ctx context.Context, namespace string) error {
	ns, err := c.namespaces.Get(namespace)
	if apierrors.IsNotFound(err) || (err == nil && ns.Status.Phase != corev1.NamespaceActive) {
		return nil // gone or terminating: nothing to add
	}
	if err != nil {
		return err
	}
	if _, err := c.accounts.ServiceAccounts(namespace).Get(defaultServiceAccount); apierrors.IsNotFound(err) {
		_, err := c.client.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: defaultServiceAccount},
		}, metav1.CreateOptions{FieldManager: "kube-controller-manager"})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	want := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: rootCAConfigMap, Annotations: map[string]string{"kubernetes.io/description": rootCADescription}},
		Data:       map[string]string{"ca.crt": c.caPEM},
	}
	cm, err := c.configMaps.ConfigMaps(namespace).Get(rootCAConfigMap)
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.client.CoreV1().ConfigMaps(namespace).Create(ctx, want, metav1.CreateOptions{FieldManager: "kube-controller-manager"})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	case err != nil:
		return err
	case cm.Data["ca.crt"] != c.caPEM:
		update := cm.DeepCopy()
		update.Data = want.Data
		if update.Annotations == nil {
			update.Annotations = map[string]string{}
		}
		update.Annotations["kubernetes.io/description"] = rootCADescription
		_, err = c.client.CoreV1().ConfigMaps(namespace).Update(ctx, update, metav1.UpdateOptions{FieldManager: "kube-controller-manager"})
		return err
	}
	return nil
}
