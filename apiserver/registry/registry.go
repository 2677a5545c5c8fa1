// Package registry lists the resources minilab's API server serves and, for
// each, the rules kube-apiserver calls its "strategy": what a client may set on
// create, which part of an object an update or a status update may change,
// when metadata.generation moves, and which fields a fieldSelector may use.
package registry

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/minilab/minilab/apiserver/defaults"
)

// Resource is one kind of object the API server serves.
type Resource struct {
	Group, Version string
	Kind           string
	Resource       string // plural, lower case: "services"
	Singular       string
	ShortNames     []string
	Categories     []string // "all" makes `kubectl get all` include it
	Namespaced     bool

	// Subresources served besides the object itself: "status", "scale",
	// "finalize" (namespaces).
	Subresources []string

	// TracksGeneration says metadata.generation starts at 1 and moves on
	// every change of the desired state (spec), as for workloads; controllers
	// report the generation they acted on in status.observedGeneration.
	TracksGeneration bool

	// ResetOnCreate clears what a client may not choose on create, usually
	// the status, which belongs to a controller or the kubelet.
	ResetOnCreate func(obj runtime.Object)
	// KeepOnUpdate copies from old what an update of the object itself must
	// not change (the status, when there is a status subresource).
	KeepOnUpdate func(obj, old runtime.Object)
	// KeepOnStatusUpdate copies from old what an update through /status must
	// not change (the spec).
	KeepOnStatusUpdate func(obj, old runtime.Object)
	// SpecOf returns the part of the object whose changes bump generation.
	SpecOf func(obj runtime.Object) interface{}
	// Fields returns the fields a fieldSelector can match, besides
	// metadata.name and metadata.namespace which every resource has.
	Fields func(obj runtime.Object) fields.Set
}

// GroupVersion of the resource.
func (r *Resource) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}
}

// GroupVersionKind of the resource's objects.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GroupVersion().WithKind(r.Kind)
}

// GroupVersionResource of the resource.
func (r *Resource) GroupVersionResource() schema.GroupVersionResource {
	return r.GroupVersion().WithResource(r.Resource)
}

// GroupResource of the resource.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Resource}
}

// HasSubresource says whether sub is served for this resource.
func (r *Resource) HasSubresource(sub string) bool {
	for _, s := range r.Subresources {
		if s == sub {
			return true
		}
	}
	return false
}

// New returns an empty object of the resource's kind with its TypeMeta set.
func (r *Resource) New() runtime.Object {
	obj, err := scheme.Scheme.New(r.GroupVersionKind())
	if err != nil {
		panic(fmt.Sprintf("registry: %s is not in the client-go scheme: %v", r.GroupVersionKind(), err))
	}
	obj.GetObjectKind().SetGroupVersionKind(r.GroupVersionKind())
	return obj
}

// NewList returns an empty list of the resource's kind with its TypeMeta set.
func (r *Resource) NewList() runtime.Object {
	gvk := r.GroupVersion().WithKind(r.Kind + "List")
	obj, err := scheme.Scheme.New(gvk)
	if err != nil {
		panic(fmt.Sprintf("registry: %s is not in the client-go scheme: %v", gvk, err))
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj
}

// SelectableFields returns every field a fieldSelector can use on obj.
func (r *Resource) SelectableFields(obj runtime.Object) fields.Set {
	set := fields.Set{}
	if r.Fields != nil {
		set = r.Fields(obj)
	}
	m, err := meta.Accessor(obj)
	if err == nil {
		set["metadata.name"] = m.GetName()
		if r.Namespaced {
			set["metadata.namespace"] = m.GetNamespace()
		}
	}
	return set
}

// Registry is the set of served resources.
type Registry struct {
	byGVR   map[schema.GroupVersionResource]*Resource
	ordered []*Resource
}

// New returns the registry of everything minilab serves.
func New() *Registry {
	reg := &Registry{byGVR: map[schema.GroupVersionResource]*Resource{}}
	for _, r := range resources() {
		reg.byGVR[r.GroupVersionResource()] = r
		reg.ordered = append(reg.ordered, r)
	}
	return reg
}

// Lookup finds a resource by group, version and plural name.
func (reg *Registry) Lookup(gvr schema.GroupVersionResource) (*Resource, bool) {
	r, ok := reg.byGVR[gvr]
	return r, ok
}

// ForKind finds a resource by its kind.
func (reg *Registry) ForKind(gvk schema.GroupVersionKind) (*Resource, bool) {
	for _, r := range reg.ordered {
		if r.GroupVersionKind() == gvk {
			return r, true
		}
	}
	return nil, false
}

// All returns every resource, core group first, then groups by name, and
// resources by name within a group (the order discovery lists them in).
func (reg *Registry) All() []*Resource {
	out := append([]*Resource(nil), reg.ordered...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Resource < out[j].Resource
	})
	return out
}

// GroupVersions returns the served group versions, core ("" group) first.
func (reg *Registry) GroupVersions() []schema.GroupVersion {
	seen := map[schema.GroupVersion]bool{}
	var out []schema.GroupVersion
	for _, r := range reg.All() {
		if gv := r.GroupVersion(); !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	return out
}

// InGroupVersion returns the resources of one group version.
func (reg *Registry) InGroupVersion(gv schema.GroupVersion) []*Resource {
	var out []*Resource
	for _, r := range reg.All() {
		if r.GroupVersion() == gv {
			out = append(out, r)
		}
	}
	return out
}

// resources is the table of everything minilab serves. Short names and
// categories are the ones kube-apiserver advertises, so `kubectl get svc`,
// `kubectl get deploy` and `kubectl get all` resolve as on a real cluster.
func resources() []*Resource {
	return []*Resource{
		{
			Version: "v1", Kind: "Namespace", Resource: "namespaces", Singular: "namespace",
			ShortNames: []string{"ns"}, Subresources: []string{"status", "finalize"},
			// A namespace is Active on create and gets the "kubernetes"
			// finalizer, which the namespace controller removes once it has
			// emptied the namespace on deletion.
			ResetOnCreate: func(obj runtime.Object) {
				defaults.PrepareNamespaceForCreate(obj.(*corev1.Namespace))
			},
			KeepOnUpdate: func(obj, old runtime.Object) {
				// spec.finalizers only change through /finalize.
				obj.(*corev1.Namespace).Spec = old.(*corev1.Namespace).Spec
				obj.(*corev1.Namespace).Status = old.(*corev1.Namespace).Status
			},
			KeepOnStatusUpdate: func(obj, old runtime.Object) {
				obj.(*corev1.Namespace).Spec = old.(*corev1.Namespace).Spec
			},
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
			},
		},
		{
			Version: "v1", Kind: "Node", Resource: "nodes", Singular: "node",
			ShortNames: []string{"no"}, Subresources: []string{"status"},
			// The kubelet registers a node with its status, so create keeps it.
			KeepOnUpdate: func(obj, old runtime.Object) {
				obj.(*corev1.Node).Status = old.(*corev1.Node).Status
			},
			KeepOnStatusUpdate: func(obj, old runtime.Object) {
				obj.(*corev1.Node).Spec = old.(*corev1.Node).Spec
			},
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"spec.unschedulable": fmt.Sprint(obj.(*corev1.Node).Spec.Unschedulable)}
			},
		},
		{
			Version: "v1", Kind: "Pod", Resource: "pods", Singular: "pod", Namespaced: true,
			ShortNames: []string{"po"}, Categories: []string{"all"}, Subresources: []string{"status", "binding", "exec", "log"},
			// A new pod is Pending until the scheduler and kubelet act on it.
			ResetOnCreate: func(obj runtime.Object) {
				pod := obj.(*corev1.Pod)
				pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(pod)}
			},
			KeepOnUpdate: func(obj, old runtime.Object) {
				obj.(*corev1.Pod).Status = old.(*corev1.Pod).Status
			},
			// Old kubelets corrupted ownerReferences through /status, so
			// kube-apiserver keeps them (and the spec) from the stored pod.
			KeepOnStatusUpdate: func(obj, old runtime.Object) {
				obj.(*corev1.Pod).Spec = old.(*corev1.Pod).Spec
				obj.(*corev1.Pod).OwnerReferences = old.(*corev1.Pod).OwnerReferences
			},
			Fields: podFields,
		},
		{
			Version: "v1", Kind: "Service", Resource: "services", Singular: "service", Namespaced: true,
			ShortNames: []string{"svc"}, Categories: []string{"all"}, Subresources: []string{"status"},
			// status.loadBalancer belongs to the load-balancer controller.
			ResetOnCreate: func(obj runtime.Object) {
				obj.(*corev1.Service).Status = corev1.ServiceStatus{}
			},
			KeepOnUpdate: func(obj, old runtime.Object) {
				obj.(*corev1.Service).Status = old.(*corev1.Service).Status
			},
			KeepOnStatusUpdate: func(obj, old runtime.Object) {
				obj.(*corev1.Service).Spec = old.(*corev1.Service).Spec
			},
			Fields: func(obj runtime.Object) fields.Set {
				svc := obj.(*corev1.Service)
				return fields.Set{"spec.clusterIP": svc.Spec.ClusterIP, "spec.type": string(svc.Spec.Type)}
			},
		},
		{
			Version: "v1", Kind: "Endpoints", Resource: "endpoints", Singular: "endpoints", Namespaced: true,
			ShortNames: []string{"ep"},
		},
		{
			Version: "v1", Kind: "Event", Resource: "events", Singular: "event", Namespaced: true,
			ShortNames: []string{"ev"}, Fields: eventFields,
		},
		{
			Version: "v1", Kind: "ConfigMap", Resource: "configmaps", Singular: "configmap", Namespaced: true,
			ShortNames: []string{"cm"},
		},
		{
			Version: "v1", Kind: "ServiceAccount", Resource: "serviceaccounts", Singular: "serviceaccount", Namespaced: true,
			ShortNames: []string{"sa"},
		},
		{
			Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice", Resource: "endpointslices",
			Singular: "endpointslice", Namespaced: true, TracksGeneration: true,
			SpecOf: func(obj runtime.Object) interface{} {
				s := obj.(*discoveryv1.EndpointSlice)
				return []interface{}{s.AddressType, s.Endpoints, s.Ports}
			},
		},
		workload("Deployment", "deployments", "deploy", []string{"status", "scale"}),
		workload("ReplicaSet", "replicasets", "rs", []string{"status", "scale"}),
		workload("StatefulSet", "statefulsets", "sts", []string{"status", "scale"}),
		workload("DaemonSet", "daemonsets", "ds", []string{"status"}),
	}
}

// workload describes an apps/v1 controller resource: spec is the user's,
// status is the controller's, and generation follows spec changes.
func workload(kind, plural, short string, subresources []string) *Resource {
	r := &Resource{
		Group: "apps", Version: "v1", Kind: kind, Resource: plural, Singular: toLower(kind),
		Namespaced: true, ShortNames: []string{short}, Categories: []string{"all"},
		Subresources: subresources, TracksGeneration: true,
	}
	r.ResetOnCreate = func(obj runtime.Object) { setWorkloadStatus(obj, nil) }
	r.KeepOnUpdate = func(obj, old runtime.Object) { setWorkloadStatus(obj, old) }
	// A workload's status writer (its controller) may set annotations, as
	// the deployment controller does with the revision, but not labels.
	r.KeepOnStatusUpdate = func(obj, old runtime.Object) {
		setWorkloadSpec(obj, old)
		obj.(metav1.Object).SetLabels(old.(metav1.Object).GetLabels())
	}
	r.SpecOf = func(obj runtime.Object) interface{} { return workloadSpec(obj) }
	if kind == "ReplicaSet" {
		r.Fields = func(obj runtime.Object) fields.Set {
			return fields.Set{"status.replicas": fmt.Sprint(obj.(*appsv1.ReplicaSet).Status.Replicas)}
		}
	}
	return r
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// setWorkloadStatus sets obj's status to old's, or clears it when old is nil.
func setWorkloadStatus(obj, old runtime.Object) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Status = appsv1.DeploymentStatus{}
		if old != nil {
			o.Status = old.(*appsv1.Deployment).Status
		}
	case *appsv1.ReplicaSet:
		o.Status = appsv1.ReplicaSetStatus{}
		if old != nil {
			o.Status = old.(*appsv1.ReplicaSet).Status
		}
	case *appsv1.StatefulSet:
		o.Status = appsv1.StatefulSetStatus{}
		if old != nil {
			o.Status = old.(*appsv1.StatefulSet).Status
		}
	case *appsv1.DaemonSet:
		o.Status = appsv1.DaemonSetStatus{}
		if old != nil {
			o.Status = old.(*appsv1.DaemonSet).Status
		}
	}
}

func setWorkloadSpec(obj, old runtime.Object) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec = old.(*appsv1.Deployment).Spec
	case *appsv1.ReplicaSet:
		o.Spec = old.(*appsv1.ReplicaSet).Spec
	case *appsv1.StatefulSet:
		o.Spec = old.(*appsv1.StatefulSet).Spec
	case *appsv1.DaemonSet:
		o.Spec = old.(*appsv1.DaemonSet).Spec
	}
}

func workloadSpec(obj runtime.Object) interface{} {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o.Spec
	case *appsv1.ReplicaSet:
		return o.Spec
	case *appsv1.StatefulSet:
		return o.Spec
	case *appsv1.DaemonSet:
		return o.Spec
	}
	return nil
}

// podFields are the pod fields kube-apiserver lets a fieldSelector use; the
// kubelet watches its own pods with spec.nodeName=<node>.
func podFields(obj runtime.Object) fields.Set {
	pod := obj.(*corev1.Pod)
	return fields.Set{
		"spec.nodeName":            pod.Spec.NodeName,
		"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
		"spec.schedulerName":       pod.Spec.SchedulerName,
		"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
		"spec.hostNetwork":         fmt.Sprint(pod.Spec.HostNetwork),
		"status.phase":             string(pod.Status.Phase),
		"status.podIP":             pod.Status.PodIP,
		"status.nominatedNodeName": pod.Status.NominatedNodeName,
	}
}

// eventFields are what `kubectl describe` selects events by.
func eventFields(obj runtime.Object) fields.Set {
	ev := obj.(*corev1.Event)
	return fields.Set{
		"involvedObject.kind":            ev.InvolvedObject.Kind,
		"involvedObject.namespace":       ev.InvolvedObject.Namespace,
		"involvedObject.name":            ev.InvolvedObject.Name,
		"involvedObject.uid":             string(ev.InvolvedObject.UID),
		"involvedObject.apiVersion":      ev.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": ev.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       ev.InvolvedObject.FieldPath,
		"reason":                         ev.Reason,
		"reportingComponent":             ev.ReportingController,
		"source":                         ev.Source.Component,
		"type":                           ev.Type,
	}
}

// qosClass computes a pod's quality-of-service class from its containers'
// requests and limits, as kube-apiserver records it in status.qosClass:
// Guaranteed when every container has equal cpu and memory requests and
// limits, BestEffort when none has any, Burstable otherwise.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	any, guaranteed := false, true
	containers := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range containers {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[name]
			lim, hasLim := c.Resources.Limits[name]
			if hasReq || hasLim {
				any = true
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
