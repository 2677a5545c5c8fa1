// Package garbagecollector deletes objects whose owners are gone, the job of
// kube-controller-manager's garbage collector: when a Deployment is deleted,
// its ReplicaSets go, and with them their Pods.
//
// It watches the metadata of every resource, keeps a graph of
// ownerReferences, and carries out the propagation policy a DELETE asked
// for:
//   - Background (kubectl's default): the owner is gone at once; its
//     dependents are deleted afterwards, here.
//   - Foreground: the owner lingers with the "foregroundDeletion" finalizer
//     until its dependents are gone; then the finalizer is removed.
//   - Orphan: the owner lingers with the "orphan" finalizer until its
//     dependents no longer point at it; they live on.
package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Resource is one kind the collector watches.
type Resource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
}

// node is one object in the ownership graph.
type node struct {
	res        Resource
	namespace  string
	name       string
	uid        types.UID
	owners     []metav1.OwnerReference
	deleting   bool
	finalizers []string
}

func (n *node) has(finalizer string) bool {
	for _, f := range n.finalizers {
		if f == finalizer {
			return true
		}
	}
	return false
}

// Collector is the garbage collector.
type Collector struct {
	client    metadata.Interface
	resources []Resource
	byKind    map[schema.GroupVersionKind]Resource
	factory   metadatainformer.SharedInformerFactory
	queue     workqueue.TypedRateLimitingInterface[types.UID]
	logf      func(string, ...interface{})

	mu         sync.Mutex
	nodes      map[types.UID]*node
	dependents map[types.UID]map[types.UID]bool
}

// New returns a collector for the given resources.
func New(client metadata.Interface, resources []Resource) *Collector {
	c := &Collector{
		client:     client,
		resources:  resources,
		byKind:     map[schema.GroupVersionKind]Resource{},
		factory:    metadatainformer.NewSharedInformerFactory(client, 0),
		queue:      workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](), workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage-collector"}),
		logf:       log.Printf,
		nodes:      map[types.UID]*node{},
		dependents: map[types.UID]map[types.UID]bool{},
	}
	for _, r := range resources {
		c.byKind[r.GVR.GroupVersion().WithKind(r.Kind)] = r
		r := r
		c.factory.ForResource(r.GVR).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj interface{}) { c.observe(r, obj) },
			UpdateFunc: func(_, obj interface{}) { c.observe(r, obj) },
			DeleteFunc: func(obj interface{}) { c.forget(obj) },
		})
	}
	return c
}

// Start starts the informers and one worker.
func (c *Collector) Start(ctx context.Context) {
	c.factory.Start(ctx.Done())
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	go func() {
		for c.processNext(ctx) {
		}
	}()
}

// HasSynced says whether every informer has its initial list.
func (c *Collector) HasSynced() bool {
	for _, r := range c.resources {
		if !c.factory.ForResource(r.GVR).Informer().HasSynced() {
			return false
		}
	}
	return true
}

func (c *Collector) observe(r Resource, obj interface{}) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	n := &node{res: r, namespace: m.Namespace, name: m.Name, uid: m.UID, owners: m.OwnerReferences,
		deleting: m.DeletionTimestamp != nil, finalizers: m.Finalizers}
	c.mu.Lock()
	if old := c.nodes[n.uid]; old != nil {
		for _, o := range old.owners {
			delete(c.dependents[o.UID], n.uid)
		}
	}
	c.nodes[n.uid] = n
	for _, o := range n.owners {
		if c.dependents[o.UID] == nil {
			c.dependents[o.UID] = map[types.UID]bool{}
		}
		c.dependents[o.UID][n.uid] = true
	}
	c.mu.Unlock()
	if len(n.owners) > 0 || (n.deleting && (n.has(metav1.FinalizerOrphanDependents) || n.has(metav1.FinalizerDeleteDependents))) {
		c.queue.Add(n.uid)
	}
}

func (c *Collector) forget(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	c.mu.Lock()
	n := c.nodes[m.UID]
	delete(c.nodes, m.UID)
	var wake []types.UID
	for dep := range c.dependents[m.UID] {
		wake = append(wake, dep) // their owner is gone
	}
	if n != nil {
		for _, o := range n.owners {
			delete(c.dependents[o.UID], m.UID)
			if owner := c.nodes[o.UID]; owner != nil && owner.deleting {
				wake = append(wake, o.UID) // a waiting owner may now finish
			}
		}
	}
	c.mu.Unlock()
	for _, uid := range wake {
		c.queue.Add(uid)
	}
}

func (c *Collector) processNext(ctx context.Context) bool {
	uid, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(uid)
	if err := c.sync(ctx, uid); err != nil {
		if ctx.Err() == nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			c.logf("garbage collector: %v", err)
		}
		c.queue.AddRateLimited(uid)
		return true
	}
	c.queue.Forget(uid)
	return true
}

// sync decides what to do about one object.
func (c *Collector) sync(ctx context.Context, uid types.UID) error {
	c.mu.Lock()
	n := c.nodes[uid]
	var deps []*node
	if n != nil {
		for d := range c.dependents[uid] {
			if dn := c.nodes[d]; dn != nil {
				deps = append(deps, dn)
			}
		}
	}
	c.mu.Unlock()
	if n == nil {
		return nil
	}
	if n.deleting {
		switch {
		case n.has(metav1.FinalizerOrphanDependents):
			return c.orphan(ctx, n, deps)
		case n.has(metav1.FinalizerDeleteDependents):
			return c.deleteForeground(ctx, n, deps)
		}
	}
	return c.collectIfOrphaned(ctx, n)
}

// orphan removes the owner's reference from every dependent, then the
// owner's "orphan" finalizer.
func (c *Collector) orphan(ctx context.Context, owner *node, deps []*node) error {
	for _, d := range deps {
		var keep []metav1.OwnerReference
		for _, o := range d.owners {
			if o.UID != owner.uid {
				keep = append(keep, o)
			}
		}
		if err := c.patchOwners(ctx, d, keep); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return c.removeFinalizer(ctx, owner, metav1.FinalizerOrphanDependents)
}

// deleteForeground deletes the owner's dependents (in the foreground too,
// so the whole tree goes bottom-up) and removes the owner's finalizer once
// none is left.
func (c *Collector) deleteForeground(ctx context.Context, owner *node, deps []*node) error {
	if len(deps) == 0 {
		return c.removeFinalizer(ctx, owner, metav1.FinalizerDeleteDependents)
	}
	for _, d := range deps {
		if d.deleting {
			continue
		}
		if err := c.delete(ctx, d, metav1.DeletePropagationForeground); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil // the dependents' deletion events bring the owner back here
}

// collectIfOrphaned deletes an object whose owners have all disappeared,
// and drops references to owners that are gone while others remain.
func (c *Collector) collectIfOrphaned(ctx context.Context, n *node) error {
	if len(n.owners) == 0 || n.deleting {
		return nil
	}
	var alive []metav1.OwnerReference
	foreground := false
	for _, o := range n.owners {
		exists, deletingForeground, err := c.ownerExists(ctx, n, o)
		if err != nil {
			return err
		}
		if exists {
			alive = append(alive, o)
			if deletingForeground && o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
				foreground = true
			}
		}
	}
	switch {
	case len(alive) == 0:
		return c.delete(ctx, n, metav1.DeletePropagationBackground)
	case foreground:
		return c.delete(ctx, n, metav1.DeletePropagationForeground)
	case len(alive) < len(n.owners):
		return c.patchOwners(ctx, n, alive)
	}
	return nil
}

// ownerExists asks the API (not the possibly lagging cache) whether the
// owner is there with the referenced uid. Owners are in the dependent's
// namespace or cluster-scoped.
func (c *Collector) ownerExists(ctx context.Context, n *node, ref metav1.OwnerReference) (exists, foreground bool, err error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return false, false, nil
	}
	r, ok := c.byKind[gv.WithKind(ref.Kind)]
	if !ok {
		return true, false, nil // a kind this lab does not serve: leave it be
	}
	ns := ""
	if r.Namespaced {
		ns = n.namespace
	}
	m, err := c.client.Resource(r.GVR).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if m.UID != ref.UID {
		return false, false, nil
	}
	fg := false
	for _, f := range m.Finalizers {
		if f == metav1.FinalizerDeleteDependents && m.DeletionTimestamp != nil {
			fg = true
		}
	}
	return true, fg, nil
}

func (c *Collector) delete(ctx context.Context, n *node, policy metav1.DeletionPropagation) error {
	uid := n.uid
	return c.client.Resource(n.res.GVR).Namespace(n.namespace).Delete(ctx, n.name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
}

func (c *Collector) patchOwners(ctx context.Context, n *node, owners []metav1.OwnerReference) error {
	if owners == nil {
		owners = []metav1.OwnerReference{}
	}
	patch, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"ownerReferences": owners, "uid": n.uid}})
	_, err := c.client.Resource(n.res.GVR).Namespace(n.namespace).Patch(ctx, n.name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "garbage-collector"})
	return err
}

func (c *Collector) removeFinalizer(ctx context.Context, n *node, finalizer string) error {
	m, err := c.client.Resource(n.res.GVR).Namespace(n.namespace).Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	var keep []string
	for _, f := range m.Finalizers {
		if f != finalizer {
			keep = append(keep, f)
		}
	}
	if len(keep) == len(m.Finalizers) {
		return nil
	}
	if keep == nil {
		keep = []string{}
	}
	patch, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"finalizers": keep, "resourceVersion": m.ResourceVersion}})
	_, err = c.client.Resource(n.res.GVR).Namespace(n.namespace).Patch(ctx, n.name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "garbage-collector"})
	return err
}

// String describes a node for logs.
func (n *node) String() string {
	return fmt.Sprintf("%s %s/%s", n.res.Kind, n.namespace, n.name)
}
