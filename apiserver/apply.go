package apiserver

import (
	"fmt"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"
	"sigs.k8s.io/yaml"

	"github.com/minilab/minilab/apiserver/defaults"
)

// Server-side apply and managedFields come from apimachinery's field
// manager, the same code kube-apiserver runs, fed with the OpenAPI schemas
// of the served types. Every write records which manager (kubectl,
// kubectl-client-side-apply, a controller) owns which fields; an apply
// PATCH merges the applied configuration and reports conflicts with other
// managers as 409s, which `--force-conflicts` overrides.

type applyManagers struct {
	docs *openAPIDocs

	once      sync.Once
	converter managedfields.TypeConverter
	err       error

	mu       sync.Mutex
	managers map[string]*managedfields.FieldManager
}

func newApplyManagers(docs *openAPIDocs) *applyManagers {
	return &applyManagers{docs: docs, managers: map[string]*managedfields.FieldManager{}}
}

func (a *applyManagers) typeConverter() (managedfields.TypeConverter, error) {
	a.once.Do(func() {
		schemas, err := a.docs.Schemas()
		if err != nil {
			a.err = err
			return
		}
		a.converter, a.err = managedfields.NewTypeConverter(schemas, false)
	})
	return a.converter, a.err
}

// manager returns the field manager of one kind and subresource.
func (a *applyManagers) manager(gvk schema.GroupVersionKind, subresource string) (*managedfields.FieldManager, error) {
	key := gvk.String() + "/" + subresource
	a.mu.Lock()
	defer a.mu.Unlock()
	if m, ok := a.managers[key]; ok {
		return m, nil
	}
	tc, err := a.typeConverter()
	if err != nil {
		return nil, err
	}
	// Fields an update of this (sub)resource resets are not owned through
	// it: the main resource does not own status, /status does not own spec.
	apiVersion := fieldpath.APIVersion(gvk.GroupVersion().String())
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	switch subresource {
	case "", "scale":
		reset = map[fieldpath.APIVersion]fieldpath.Filter{apiVersion: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status")))}
	case "status":
		reset = map[fieldpath.APIVersion]fieldpath.Filter{apiVersion: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("spec")))}
	}
	m, err := managedfields.NewDefaultFieldManager(tc, identityConverter{}, defaulter{}, scheme.Scheme, gvk, gvk.GroupVersion(), subresource, reset)
	if err != nil {
		return nil, err
	}
	a.managers[key] = m
	return m, nil
}

// trackUpdate records in obj's managedFields that o.fieldManager set the
// fields that changed from old (nil for a create). A change through /scale
// is recorded against the object with subresource "scale", so that
// `kubectl scale` owns .spec.replicas as on a real cluster.
func (a *applyManagers) trackUpdate(o *op, old, obj runtime.Object) (runtime.Object, error) {
	if o.subresource == "finalize" {
		return obj, nil
	}
	m, err := a.manager(o.res.GroupVersionKind(), o.subresource)
	if err != nil {
		return obj, nil // managed fields are bookkeeping; never fail a write over them
	}
	if old == nil {
		old = o.res.New()
	}
	return m.UpdateNoErrors(old, obj, managerName(o.fieldManager)), nil
}

// apply merges an apply patch (YAML or JSON) into live (nil to create).
func (a *applyManagers) apply(o *op, live runtime.Object, patch []byte, force bool) (runtime.Object, error) {
	if o.fieldManager == "" {
		return nil, apierrors.NewBadRequest("PATCH, with apply, must have a non-empty fieldManager query parameter")
	}
	applied := &unstructured.Unstructured{Object: map[string]interface{}{}}
	if err := yaml.Unmarshal(patch, &applied.Object); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	gvk := o.res.GroupVersionKind()
	if applied.GetAPIVersion() != gvk.GroupVersion().String() || applied.GetKind() != gvk.Kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid object type: %s, expected %s", applied.GroupVersionKind(), gvk))
	}
	m, err := a.manager(gvk, o.subresource)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if live == nil {
		live = o.res.New()
	}
	out, err := m.Apply(live, applied, o.fieldManager, force)
	if err != nil {
		if apierrors.IsConflict(err) {
			return nil, err
		}
		var st apierrors.APIStatus
		if ok := asStatus(err, &st); ok {
			return nil, err
		}
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return out, nil
}

// managerName is the manager recorded for a write without fieldManager:
// like kube-apiserver, the program part of the User-Agent.
func managerName(fm string) string {
	if fm == "" {
		return "unknown"
	}
	return fm
}

// managerFromUserAgent derives a manager name from "kubectl/v1.33.1 (...)".
func managerFromUserAgent(ua string) string {
	ua = strings.TrimSpace(ua)
	if i := strings.Index(ua, "/"); i > 0 {
		ua = ua[:i]
	}
	if len(ua) > 128 {
		ua = ua[:128]
	}
	return ua
}

type identityConverter struct{}

func (identityConverter) Convert(in, out, context interface{}) error {
	return scheme.Scheme.Convert(in, out, context)
}

// ConvertToVersion turns the field manager's unstructured results back into
// typed objects; minilab serves one version per group, so that is all a
// conversion ever has to do.
func (identityConverter) ConvertToVersion(in runtime.Object, _ runtime.GroupVersioner) (runtime.Object, error) {
	u, ok := in.(*unstructured.Unstructured)
	if !ok {
		return in, nil
	}
	typed, err := scheme.Scheme.New(u.GroupVersionKind())
	if err != nil {
		return nil, err
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
		return nil, err
	}
	typed.GetObjectKind().SetGroupVersionKind(u.GroupVersionKind())
	return typed, nil
}

func (identityConverter) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

type defaulter struct{}

func (defaulter) Default(obj runtime.Object) { defaults.Default(obj) }

func asStatus(err error, target *apierrors.APIStatus) bool {
	st, ok := err.(apierrors.APIStatus)
	if ok {
		*target = st
	}
	return ok
}
