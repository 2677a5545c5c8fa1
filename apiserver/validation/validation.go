package validation

import (
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/api/meta"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The rules below follow kube-apiserver v1.33 with its default feature gates.
// The gates that change validation results and are on by default in 1.33:
// RelaxedEnvironmentVariableValidation, RelaxedDNSSearchValidation,
// PodLifecycleSleepActionAllowZero, InPlacePodVerticalScaling,
// LoadBalancerIPMode. Off by default (and so not honoured here):
// StrictIPCIDRValidation, PodLevelResources, AllowServiceLBStatusOnNonLB,
// MaxUnavailableStatefulSet, PreferSameTrafficDistribution.

// ValidateCreate validates a new object the way kube-apiserver's create path
// does: the resource's own rules (ObjectMeta with the right name rule, then
// its spec), followed by the generic ObjectMeta checks every resource gets.
func ValidateCreate(obj runtime.Object) field.ErrorList {
	if isNil(obj) {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("no object to validate"))}
	}
	r, known := rulesFor(obj)
	var errs field.ErrorList
	if known {
		errs = r.create(obj)
	}
	// The generic registry only runs its own metadata checks once the
	// resource's strategy has accepted the object (rest.BeforeCreate).
	if len(errs) == 0 {
		errs = append(errs, commonMeta(obj, r, known)...)
	}
	return dedupe(errs)
}

// ValidateUpdate validates a change from old to obj: the generic ObjectMeta
// update rules (immutable name, uid, ...), the resource's immutability rules,
// and the validity of the new object.
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	r, known, errs := pairRules(obj, old)
	if errs != nil {
		return errs
	}
	errs = append(errs, commonMetaUpdate(obj, old, r, known)...)
	if known {
		errs = append(errs, r.update(obj, old)...)
	}
	return dedupe(errs)
}

// ValidateStatusUpdate validates a write through the status subresource.
// Resources without a status subresource only get the ObjectMeta update rules.
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	r, known, errs := pairRules(obj, old)
	if errs != nil {
		return errs
	}
	errs = append(errs, commonMetaUpdate(obj, old, r, known)...)
	if known && r.status != nil {
		errs = append(errs, r.status(obj, old)...)
	}
	return dedupe(errs)
}

// rules is one row of the table below: how kube-apiserver's strategy for a
// resource validates create, update and status update.
type rules struct {
	namespaced bool
	create     func(obj runtime.Object) field.ErrorList
	update     func(obj, old runtime.Object) field.ErrorList
	status     func(obj, old runtime.Object) field.ErrorList // nil: no status subresource
}

var byType = map[reflect.Type]rules{}

// register adds a typed row to the table. status may be nil.
func register[T any](namespaced bool, create func(*T) field.ErrorList, update, status func(obj, old *T) field.ErrorList) {
	r := rules{
		namespaced: namespaced,
		create:     func(obj runtime.Object) field.ErrorList { return create(any(obj).(*T)) },
		update:     func(obj, old runtime.Object) field.ErrorList { return update(any(obj).(*T), any(old).(*T)) },
	}
	if status != nil {
		r.status = func(obj, old runtime.Object) field.ErrorList { return status(any(obj).(*T), any(old).(*T)) }
	}
	byType[reflect.TypeOf((*T)(nil))] = r
}

func init() {
	const cluster, namespaced = false, true
	register(cluster, validateNamespace, validateNamespaceUpdate, validateNamespaceStatusUpdate)
	register(cluster, validateNode, validateNodeUpdate, validateNodeStatusUpdate)
	register(namespaced, validatePodCreate, validatePodUpdate, validatePodStatusUpdate)
	register(namespaced, validateService, validateServiceUpdate, validateServiceStatusUpdate)
	register(namespaced, validateEndpoints, validateEndpointsUpdate, nil)
	register(namespaced, validateEvent, validateEventUpdate, nil)
	register(namespaced, validateConfigMap, validateConfigMapUpdate, nil)
	register(namespaced, validateServiceAccount, validateServiceAccountUpdate, nil)
	register(namespaced, validateEndpointSlice, validateEndpointSliceUpdate, nil)
	register(namespaced, validateDeployment, validateDeploymentUpdate, validateDeploymentStatusUpdate)
	register(namespaced, validateReplicaSet, validateReplicaSetUpdate, validateReplicaSetStatusUpdate)
	register(namespaced, validateStatefulSet, validateStatefulSetUpdate, validateStatefulSetStatusUpdate)
	register(namespaced, validateDaemonSet, validateDaemonSetUpdate, validateDaemonSetStatusUpdate)
}

func rulesFor(obj runtime.Object) (rules, bool) {
	r, ok := byType[reflect.TypeOf(obj)]
	return r, ok
}

func pairRules(obj, old runtime.Object) (rules, bool, field.ErrorList) {
	if isNil(obj) || isNil(old) {
		return rules{}, false, field.ErrorList{field.InternalError(nil, fmt.Errorf("update needs both the new and the old object"))}
	}
	if reflect.TypeOf(obj) != reflect.TypeOf(old) {
		return rules{}, false, field.ErrorList{field.InternalError(nil, fmt.Errorf("cannot update a %T with a %T", old, obj))}
	}
	r, known := rulesFor(obj)
	return r, known, nil
}

// commonMeta is the ObjectMeta check the generic registry applies to every
// resource on create, with the weakest name rule (a valid URL path segment).
// For types this package does not know, whether they are namespaced is taken
// from the object itself.
func commonMeta(obj runtime.Object, r rules, known bool) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	namespaced := r.namespaced
	if !known {
		namespaced = m.GetNamespace() != ""
	}
	return apimachineryvalidation.ValidateObjectMetaAccessor(m, namespaced, path.ValidatePathSegmentName, field.NewPath("metadata"))
}

// commonMetaUpdate is what the generic registry checks on every update
// (rest.BeforeUpdate): the new metadata is well formed and its identity
// fields did not change.
func commonMetaUpdate(obj, old runtime.Object, r rules, known bool) field.ErrorList {
	errs := commonMeta(obj, r, known)
	m, err := meta.Accessor(obj)
	if err != nil {
		return errs
	}
	o, err := meta.Accessor(old)
	if err != nil {
		return append(errs, field.InternalError(field.NewPath("metadata"), err))
	}
	return append(errs, apimachineryvalidation.ValidateObjectMetaAccessorUpdate(m, o, field.NewPath("metadata"))...)
}

// dedupe drops errors that are exactly repeated, which happens when the
// generic and the resource-specific checks both report the same problem.
func dedupe(errs field.ErrorList) field.ErrorList {
	if len(errs) < 2 {
		return errs
	}
	seen := map[string]bool{}
	out := errs[:0:0]
	for _, e := range errs {
		key := string(e.Type) + "\x00" + e.Error()
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, e)
	}
	return out
}

func isNil(obj runtime.Object) bool {
	if obj == nil {
		return true
	}
	v := reflect.ValueOf(obj)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
