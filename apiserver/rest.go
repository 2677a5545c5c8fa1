package apiserver

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/minilab/minilab/apiserver/defaults"
	"github.com/minilab/minilab/apiserver/registry"
	"github.com/minilab/minilab/apiserver/validation"
	"github.com/minilab/minilab/store"
)

// op carries what one write request asked for.
type op struct {
	res          *registry.Resource
	namespace    string
	subresource  string // "", "status", "scale", "finalize"
	dryRun       bool
	fieldManager string
	validation   string // Strict, Warn, Ignore
	warnings     *warnings
}

func (o *op) gr() schema.GroupResource { return o.res.GroupResource() }

// ---------------------------------------------------------------- get

func (s *Server) getObject(res *registry.Resource, namespace, name string) (runtime.Object, error) {
	kv, err := s.store.Get(objectKey(res, namespace, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierrors.NewNotFound(res.GroupResource(), name)
	}
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return decodeKV(res, kv)
}

// ---------------------------------------------------------------- create

// create stores a new object: name generation, server-set metadata,
// defaults, allocation (Services), validation, managed fields. Each step is
// the one kube-apiserver's generic registry runs, in the same order.
func (s *Server) create(o *op, obj runtime.Object) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if err := s.admitNamespace(o, m); err != nil {
		return nil, err
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		// generateName: the server appends five random characters, as
		// kube-apiserver's name generator does (ReplicaSets name their pods so).
		base := m.GetGenerateName()
		if len(base) > 58 {
			base = base[:58]
		}
		m.SetName(base + utilrand.String(5))
	}
	now := metav1.Now()
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.NewTime(now.Rfc3339Copy().Time))
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetSelfLink("")
	m.SetGeneration(0)
	if o.res.TracksGeneration {
		m.SetGeneration(1)
	}
	if o.res.ResetOnCreate != nil {
		o.res.ResetOnCreate(obj)
	}
	defaults.Default(obj)
	if pod, ok := obj.(*corev1.Pod); ok {
		defaults.AdmitPod(pod)
	}

	var unlock func()
	if svc, ok := obj.(*corev1.Service); ok {
		var errs field.ErrorList
		unlock, errs = s.allocateServiceOnCreate(svc, o.dryRun)
		defer unlock()
		if len(errs) > 0 {
			return nil, apierrors.NewInvalid(o.res.GroupVersionKind().GroupKind(), m.GetName(), errs)
		}
	}
	if errs := validation.ValidateCreate(obj); len(errs) > 0 {
		return nil, apierrors.NewInvalid(o.res.GroupVersionKind().GroupKind(), m.GetName(), errs)
	}
	if obj, err = s.apply.trackUpdate(o, nil, obj); err != nil {
		return nil, err
	}
	if o.dryRun {
		return obj, nil
	}
	data, err := encodeForStore(o.res, obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	key := objectKey(o.res, m.GetNamespace(), m.GetName())
	kv, err := s.store.Create(key, data)
	if errors.Is(err, store.ErrExists) {
		return nil, apierrors.NewAlreadyExists(o.gr(), m.GetName())
	}
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	created, err := decodeKV(o.res, kv)
	if err == nil {
		s.recordService(key, created)
	}
	return created, err
}

// immortalNamespaces cannot be deleted, as kube-apiserver's
// NamespaceLifecycle admission refuses.
var immortalNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

// admitNamespace checks the object's namespace against the URL and, like the
// NamespaceLifecycle admission plugin, refuses new objects in a namespace
// that does not exist or is being deleted.
func (s *Server) admitNamespace(o *op, m metav1.Object) error {
	if !o.res.Namespaced {
		m.SetNamespace("")
		return nil
	}
	switch {
	case m.GetNamespace() == "":
		m.SetNamespace(o.namespace)
	case m.GetNamespace() != o.namespace:
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	nsRes, _ := s.reg.Lookup(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"})
	nsObj, err := s.getObject(nsRes, "", o.namespace)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, o.namespace)
		}
		return err
	}
	if nsObj.(*corev1.Namespace).Status.Phase == corev1.NamespaceTerminating {
		name := m.GetName()
		if name == "" {
			name = m.GetGenerateName()
		}
		return apierrors.NewForbidden(o.gr(), name, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", o.namespace))
	}
	return nil
}

// ---------------------------------------------------------------- update

// transform turns the current object (nil when it does not exist and the
// operation may create it) into the wanted one.
type transform func(current runtime.Object) (runtime.Object, error)

// update runs one read-modify-write of an object under the store's write
// lock, so concurrent writers are serialised rather than lost. Used by PUT,
// every kind of PATCH and the status/scale/finalize subresources. When the
// object does not exist and createIfMissing is set (PUT of endpoints,
// server-side apply), the transformed object is created instead.
func (s *Server) update(o *op, name string, createIfMissing bool, fn transform) (runtime.Object, bool, error) {
	obj, toCreate, err := s.updateExisting(o, name, createIfMissing, fn)
	if toCreate != nil {
		obj, err := s.create(o, toCreate)
		return obj, err == nil, err
	}
	return obj, false, err
}

func (s *Server) updateExisting(o *op, name string, createIfMissing bool, fn transform) (runtime.Object, runtime.Object, error) {
	key := objectKey(o.res, o.namespace, name)
	var svcUsed *serviceAllocations
	if o.res.Kind == "Service" {
		s.serviceMu.Lock()
		defer s.serviceMu.Unlock()
		used, err := s.serviceAllocationsExcept(key)
		if err != nil {
			return nil, nil, apierrors.NewInternalError(err)
		}
		svcUsed = used
	}

	var result, toCreate runtime.Object
	tryUpdate := func(cur *store.KeyValue) ([]byte, error) {
		var old runtime.Object
		if cur != nil {
			var err error
			if old, err = decodeKV(o.res, *cur); err != nil {
				return nil, err
			}
		}
		obj, err := fn(old)
		if err != nil {
			return nil, err
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if m.GetName() != name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), name))
		}
		if old == nil {
			toCreate = obj
			return nil, errDryRunDone
		}
		if err := s.prepareUpdate(o, obj, old, svcUsed); err != nil {
			return nil, err
		}
		result = obj
		if o.dryRun {
			return nil, errDryRunDone
		}
		return encodeForStore(o.res, obj)
	}

	kv, err := s.store.Update(key, createIfMissing, tryUpdate)
	switch {
	case errors.Is(err, errDryRunDone):
		return result, toCreate, nil
	case errors.Is(err, store.ErrNotFound):
		return nil, nil, apierrors.NewNotFound(o.gr(), name)
	case err != nil:
		var st apierrors.APIStatus
		if errors.As(err, &st) {
			return nil, nil, err
		}
		return nil, nil, apierrors.NewInternalError(err)
	}
	obj, err := decodeKV(o.res, kv)
	if err != nil {
		return nil, nil, err
	}
	s.recordService(key, obj)
	// An object being deleted whose last finalizer was just removed goes
	// away now, as in kube-apiserver.
	if s.finishedDeleting(obj) {
		_, _, err := s.store.Delete(key, func(cur store.KeyValue) error {
			if cur.ModRevision != kv.ModRevision {
				return errStale
			}
			return nil
		})
		switch {
		case err == nil:
			s.recordService(key, nil)
		case !errors.Is(err, errStale) && !errors.Is(err, store.ErrNotFound):
			return nil, nil, apierrors.NewInternalError(err)
		}
	}
	return obj, nil, nil
}

var (
	errDryRunDone = errors.New("dry run: nothing written")
	errStale      = errors.New("object changed meanwhile")
)

// prepareUpdate applies kube-apiserver's update rules to obj, the new state
// of old: the optimistic-concurrency check, the metadata clients cannot
// change, the strategy (what the main resource or a subresource may change),
// defaults, generation, Service allocation, validation and managed fields.
func (s *Server) prepareUpdate(o *op, obj, old runtime.Object, svcUsed *serviceAllocations) error {
	m, _ := meta.Accessor(obj)
	oldMeta, _ := meta.Accessor(old)
	name := oldMeta.GetName()
	if rv := m.GetResourceVersion(); rv != "" && rv != oldMeta.GetResourceVersion() {
		return apierrors.NewConflict(o.gr(), name, errors.New(registryOptimisticLockMsg))
	}
	if uid := m.GetUID(); uid != "" && uid != oldMeta.GetUID() {
		return apierrors.NewConflict(o.gr(), name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", uid, oldMeta.GetUID()))
	}
	if m.GetResourceVersion() == "" {
		// An unconditional update: it applies to the current version.
		m.SetResourceVersion(oldMeta.GetResourceVersion())
	}
	// The server owns these.
	m.SetNamespace(oldMeta.GetNamespace())
	m.SetUID(oldMeta.GetUID())
	m.SetCreationTimestamp(oldMeta.GetCreationTimestamp())
	m.SetDeletionTimestamp(oldMeta.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(oldMeta.GetDeletionGracePeriodSeconds())
	m.SetGeneration(oldMeta.GetGeneration())
	m.SetSelfLink("")
	if oldMeta.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) > len(oldMeta.GetFinalizers()) {
		for _, f := range m.GetFinalizers() {
			if !contains(oldMeta.GetFinalizers(), f) {
				return apierrors.NewInvalid(o.res.GroupVersionKind().GroupKind(), name, field.ErrorList{
					field.Forbidden(field.NewPath("metadata", "finalizers"), fmt.Sprintf("no new finalizers can be added if the object is being deleted, found new finalizers %q", []string{f})),
				})
			}
		}
	}
	switch o.subresource {
	case "status":
		// What a status writer may not change is the strategy's to say:
		// always the spec, for some resources labels or owners too.
		if o.res.KeepOnStatusUpdate != nil {
			o.res.KeepOnStatusUpdate(obj, old)
		}
	case "finalize":
		// Only spec.finalizers changes (namespaces).
		ns, oldNs := obj.(*corev1.Namespace), old.(*corev1.Namespace)
		fin := ns.Spec.Finalizers
		*ns = *oldNs.DeepCopy()
		ns.Spec.Finalizers = fin
	default:
		if o.res.KeepOnUpdate != nil {
			o.res.KeepOnUpdate(obj, old)
		}
	}
	defaults.Default(obj)
	if o.res.TracksGeneration && o.res.SpecOf != nil && !equality.Semantic.DeepEqual(o.res.SpecOf(obj), o.res.SpecOf(old)) {
		m.SetGeneration(oldMeta.GetGeneration() + 1)
	}
	if svc, ok := obj.(*corev1.Service); ok && o.subresource == "" {
		if errs := s.allocateServiceOnUpdate(svc, old.(*corev1.Service), svcUsed); len(errs) > 0 {
			return apierrors.NewInvalid(o.res.GroupVersionKind().GroupKind(), name, errs)
		}
	}
	var errs field.ErrorList
	if o.subresource == "status" {
		errs = validation.ValidateStatusUpdate(obj, old)
	} else {
		errs = validation.ValidateUpdate(obj, old)
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(o.res.GroupVersionKind().GroupKind(), name, errs)
	}
	tracked, err := s.apply.trackUpdate(o, old, obj)
	if err != nil {
		return err
	}
	if tracked != obj {
		// The field manager returns a copy; carry it back into obj.
		if err := copyInto(tracked, obj); err != nil {
			return err
		}
	}
	m.SetResourceVersion("")
	return nil
}

const registryOptimisticLockMsg = "the object has been modified; please apply your changes to the latest version and try again"

func copyInto(src, dst runtime.Object) error {
	data, err := json.Marshal(src)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, dst)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------- delete

// deleteObject deletes an object the way kube-apiserver does:
//   - preconditions (uid, resourceVersion) must hold;
//   - propagationPolicy Orphan or Foreground adds the "orphan" or
//     "foregroundDeletion" finalizer, which the garbage collector acts on;
//   - an object with finalizers only gets a deletionTimestamp and stays until
//     they are removed; a namespace becomes Terminating until the namespace
//     controller has emptied it;
//   - a pod bound to a node is deleted gracefully: its deletionTimestamp is
//     set grace seconds ahead and the kubelet removes it once its containers
//     have stopped;
//   - anything else is removed at once, and the garbage collector removes
//     its dependents in the background.
//
// It returns the object as it is after the call and whether it is gone.
func (s *Server) deleteObject(o *op, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	if o.res.Resource == "namespaces" && immortalNamespaces[name] {
		return nil, false, apierrors.NewForbidden(o.gr(), name, errors.New("this namespace may not be deleted"))
	}
	key := objectKey(o.res, o.namespace, name)
	policy := metav1.DeletePropagationBackground
	if opts.PropagationPolicy != nil {
		policy = *opts.PropagationPolicy
	} else if opts.OrphanDependents != nil { //nolint:staticcheck // still honoured, as upstream does
		if *opts.OrphanDependents { //nolint:staticcheck
			policy = metav1.DeletePropagationOrphan
		}
	}
	switch policy {
	case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
	default:
		return nil, false, apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "DeleteOptions"}, "", field.ErrorList{
			field.NotSupported(field.NewPath("propagationPolicy"), policy, []string{string(metav1.DeletePropagationForeground), string(metav1.DeletePropagationBackground), string(metav1.DeletePropagationOrphan), "nil"}),
		})
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		return nil, false, apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "DeleteOptions"}, "", field.ErrorList{
			field.Invalid(field.NewPath("gracePeriodSeconds"), *opts.GracePeriodSeconds, "must be greater than or equal to 0"),
		})
	}

	for attempt := 0; ; attempt++ {
		kv, err := s.store.Get(key)
		if errors.Is(err, store.ErrNotFound) {
			return nil, false, apierrors.NewNotFound(o.gr(), name)
		}
		if err != nil {
			return nil, false, apierrors.NewInternalError(err)
		}
		obj, err := decodeKV(o.res, kv)
		if err != nil {
			return nil, false, err
		}
		m, _ := meta.Accessor(obj)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != m.GetUID() {
				return nil, false, apierrors.NewConflict(o.gr(), name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
				return nil, false, apierrors.NewConflict(o.gr(), name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
			}
		}

		updated, graceful := s.markForDeletion(obj, policy, opts)
		if graceful {
			if o.dryRun {
				return updated, false, nil
			}
			data, err := encodeForStore(o.res, updated)
			if err != nil {
				return nil, false, err
			}
			newKV, err := s.store.Update(key, false, func(cur *store.KeyValue) ([]byte, error) {
				if cur.ModRevision != kv.ModRevision {
					return nil, errStale
				}
				return data, nil
			})
			if errors.Is(err, errStale) && attempt < 10 {
				continue
			}
			if err != nil {
				return nil, false, apierrors.NewInternalError(err)
			}
			out, err := decodeKV(o.res, newKV)
			if err == nil {
				s.recordService(key, out)
			}
			return out, false, err
		}
		if o.dryRun {
			return obj, true, nil
		}
		deleted, rev, err := s.store.Delete(key, func(cur store.KeyValue) error {
			if cur.ModRevision != kv.ModRevision {
				return errStale
			}
			return nil
		})
		if errors.Is(err, errStale) && attempt < 10 {
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, false, apierrors.NewNotFound(o.gr(), name)
		}
		if err != nil {
			return nil, false, apierrors.NewInternalError(err)
		}
		s.recordService(key, nil)
		out, err := decodeFromStore(o.res, deleted.Value, rev)
		return out, true, err
	}
}

// markForDeletion decides whether obj must linger (finalizers, graceful pod
// termination, namespace cleanup) and, if so, returns it with the deletion
// metadata set.
func (s *Server) markForDeletion(obj runtime.Object, policy metav1.DeletionPropagation, opts *metav1.DeleteOptions) (runtime.Object, bool) {
	obj = obj.DeepCopyObject()
	m, _ := meta.Accessor(obj)
	finalizers := m.GetFinalizers()
	// The garbage collector's finalizers express the propagation policy.
	without := func(f string) []string {
		var out []string
		for _, x := range finalizers {
			if x != f {
				out = append(out, x)
			}
		}
		return out
	}
	switch policy {
	case metav1.DeletePropagationOrphan:
		finalizers = append(without(metav1.FinalizerDeleteDependents), metav1.FinalizerOrphanDependents)
	case metav1.DeletePropagationForeground:
		finalizers = append(without(metav1.FinalizerOrphanDependents), metav1.FinalizerDeleteDependents)
	}
	if m.GetDeletionTimestamp() != nil {
		// Already being deleted: a pod's grace period may only shrink; 0
		// (the kubelet reporting its containers stopped, or --force) ends
		// it now unless finalizers hold the object.
		m.SetFinalizers(dedupe(finalizers))
		if pod, ok := obj.(*corev1.Pod); ok && opts.GracePeriodSeconds != nil && pod.DeletionGracePeriodSeconds != nil && *opts.GracePeriodSeconds < *pod.DeletionGracePeriodSeconds {
			grace := *opts.GracePeriodSeconds
			if grace == 0 && len(pod.Finalizers) == 0 {
				return obj, false
			}
			ts := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
			pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = &ts, &grace
		}
		return obj, true
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
		if pod.Spec.TerminationGracePeriodSeconds != nil {
			grace = *pod.Spec.TerminationGracePeriodSeconds
		}
		if opts.GracePeriodSeconds != nil {
			grace = *opts.GracePeriodSeconds
		}
		// A pod that never reached a node, or has finished, has nothing to
		// stop; one that runs is stopped by its kubelet first.
		if pod.Spec.NodeName != "" && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && grace > 0 && !s.kubeletGone(pod) {
			ts := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
			pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = &ts, &grace
			pod.Finalizers = dedupe(finalizers)
			return obj, true
		}
	}
	if ns, ok := obj.(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
		now := metav1.Now()
		zero := int64(0)
		ns.DeletionTimestamp, ns.DeletionGracePeriodSeconds = &now, &zero
		ns.Status.Phase = corev1.NamespaceTerminating
		ns.Finalizers = dedupe(finalizers)
		return obj, true
	}
	if len(finalizers) > 0 {
		now := metav1.Now()
		zero := int64(0)
		m.SetDeletionTimestamp(&now)
		m.SetDeletionGracePeriodSeconds(&zero)
		m.SetFinalizers(dedupe(finalizers))
		if m.GetGeneration() > 0 {
			m.SetGeneration(m.GetGeneration() + 1)
		}
		return obj, true
	}
	return obj, false
}

// finishedDeleting says an object marked for deletion has nothing left
// holding it: no finalizers (for a namespace, also none in spec.finalizers)
// and no kubelet still stopping its containers.
func (s *Server) finishedDeleting(obj runtime.Object) bool {
	m, err := meta.Accessor(obj)
	if err != nil || m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
		return false
	}
	if ns, ok := obj.(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
		return false
	}
	return !s.waitsForKubelet(obj)
}

// waitsForKubelet says a terminating pod is still the kubelet's to finish.
func (s *Server) waitsForKubelet(obj runtime.Object) bool {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.DeletionGracePeriodSeconds == nil {
		return false
	}
	return *pod.DeletionGracePeriodSeconds > 0 && pod.Spec.NodeName != "" && !s.kubeletGone(pod)
}

// kubeletGone says no node agent will ever finish this pod: its node object
// does not exist. Then pods are deleted at once, as the pod garbage
// collector would do for pods of vanished nodes.
func (s *Server) kubeletGone(pod *corev1.Pod) bool {
	nodes, _ := s.reg.Lookup(schema.GroupVersionResource{Version: "v1", Resource: "nodes"})
	_, err := s.store.Get(objectKey(nodes, "", pod.Spec.NodeName))
	return errors.Is(err, store.ErrNotFound)
}

func dedupe(list []string) []string {
	var out []string
	for _, x := range list {
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// ---------------------------------------------------------------- list

// listOptions are the query parameters of a list or watch.
type listOptions struct {
	label                labels.Selector
	field                fields.Selector
	resourceVersion      string
	resourceVersionMatch string
	limit                int64
	continueToken        string
	timeoutSeconds       int64
	allowBookmarks       bool
	sendInitialEvents    *bool
}

func parseListOptions(r *http.Request, res *registry.Resource) (*listOptions, error) {
	q := r.URL.Query()
	lo := &listOptions{
		resourceVersion:      q.Get("resourceVersion"),
		resourceVersionMatch: q.Get("resourceVersionMatch"),
		continueToken:        q.Get("continue"),
		allowBookmarks:       q.Get("allowWatchBookmarks") == "true",
	}
	var err error
	if lo.label, err = labels.Parse(q.Get("labelSelector")); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	if lo.field, err = fields.ParseSelector(q.Get("fieldSelector")); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	// Only fields the resource declares may be selected on, with
	// kube-apiserver's message for the others.
	supported := res.SelectableFields(res.New())
	for _, req := range lo.field.Requirements() {
		if _, ok := supported[req.Field]; !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	if v := q.Get("limit"); v != "" {
		if lo.limit, err = strconv.ParseInt(v, 10, 64); err != nil || lo.limit < 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q", v))
		}
	}
	if v := q.Get("timeoutSeconds"); v != "" {
		if lo.timeoutSeconds, err = strconv.ParseInt(v, 10, 64); err != nil || lo.timeoutSeconds < 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %q", v))
		}
	}
	if v := q.Get("sendInitialEvents"); v != "" {
		b := v == "true"
		lo.sendInitialEvents = &b
	}
	switch lo.resourceVersionMatch {
	case "", string(metav1.ResourceVersionMatchNotOlderThan), string(metav1.ResourceVersionMatchExact):
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("resourceVersionMatch: Unsupported value: %q", lo.resourceVersionMatch))
	}
	return lo, nil
}

// matches says whether an object passes the label and field selectors.
func (lo *listOptions) matches(res *registry.Resource, obj runtime.Object) bool {
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	if !lo.label.Empty() && !lo.label.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	if !lo.field.Empty() && !lo.field.Matches(res.SelectableFields(obj)) {
		return false
	}
	return true
}

// continueToken is the opaque "continue" value of a paged list: the store
// revision the first page was read at and the key to start after, so that
// every page shows the same consistent snapshot (as etcd-backed lists do).
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

func (s *Server) list(res *registry.Resource, namespace string, lo *listOptions) (runtime.Object, error) {
	prefix := listPrefix(res, namespace)
	var kvs []store.KeyValue
	var rev int64
	var err error
	startAfter := ""
	switch {
	case lo.continueToken != "":
		var tok continueToken
		raw, derr := base64.RawURLEncoding.DecodeString(lo.continueToken)
		if derr != nil || json.Unmarshal(raw, &tok) != nil || tok.ResourceVersion <= 0 {
			return nil, apierrors.NewBadRequest("continue key is not valid: the continue token could not be decoded")
		}
		rev, startAfter = tok.ResourceVersion, tok.StartKey
		kvs, err = s.store.ListAt(prefix, rev)
		if errors.Is(err, store.ErrCompacted) {
			return nil, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
		}
	case lo.resourceVersion != "" && lo.resourceVersion != "0" && lo.resourceVersionMatch == string(metav1.ResourceVersionMatchExact):
		rev, err = strconv.ParseInt(lo.resourceVersion, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", lo.resourceVersion))
		}
		kvs, err = s.store.ListAt(prefix, rev)
		if errors.Is(err, store.ErrCompacted) {
			return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", rev, s.store.CompactedRevision()))
		}
	default:
		if lo.resourceVersion != "" && lo.resourceVersion != "0" {
			want, perr := strconv.ParseInt(lo.resourceVersion, 10, 64)
			if perr != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", lo.resourceVersion))
			}
			if err := s.waitForRevision(want); err != nil {
				return nil, err
			}
		}
		kvs, rev, err = s.store.List(prefix)
	}
	if errors.Is(err, store.ErrFutureRevision) {
		return nil, apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %s, current: %d", lo.resourceVersion, s.store.Revision()), 1)
	}
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}

	listObj := res.NewList()
	var items []runtime.Object
	var remaining int64
	next := ""
	for i, kv := range kvs {
		if startAfter != "" && kv.Key <= startAfter {
			continue
		}
		obj, err := decodeKV(res, kv)
		if err != nil {
			return nil, err
		}
		if !lo.matches(res, obj) {
			continue
		}
		if lo.limit > 0 && int64(len(items)) == lo.limit {
			next = kvs[i-1].Key
			remaining = int64(len(kvs) - i)
			break
		}
		obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{}) // list items carry no apiVersion/kind
		items = append(items, obj)
	}
	if err := meta.SetList(listObj, items); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	lm, _ := meta.ListAccessor(listObj)
	lm.SetResourceVersion(strconv.FormatInt(rev, 10))
	if next != "" {
		tok, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: rev, StartKey: next})
		lm.SetContinue(base64.RawURLEncoding.EncodeToString(tok))
		if lo.label.Empty() && lo.field.Empty() {
			lm.SetRemainingItemCount(&remaining)
		}
	}
	return listObj, nil
}

// waitForRevision waits briefly for the store to reach a revision a client
// has seen (a list "not older than" it), as kube-apiserver's watch cache
// does, and answers with its "Too large resource version" timeout otherwise.
func (s *Server) waitForRevision(want int64) error {
	deadline := time.Now().Add(3 * time.Second)
	for s.store.Revision() < want {
		if time.Now().After(deadline) {
			return apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", want, s.store.Revision()), 1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
