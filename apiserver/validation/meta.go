package validation

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Name rules per resource, as kube-apiserver declares them. Most names only
// need to be DNS subdomains; Services become DNS labels that must start with
// a letter (RFC 1035), Namespaces and StatefulSets plain DNS labels (their
// names end up inside other DNS names).
var (
	nameIsDNSSubdomain = apimachineryvalidation.NameIsDNSSubdomain
	nameIsDNSLabel     = apimachineryvalidation.NameIsDNSLabel
	nameIsDNS1035Label = apimachineryvalidation.NameIsDNS1035Label
)

// objectMeta is kube-apiserver's ObjectMeta validation for its built-in
// types: the generic apimachinery rules plus a check that finalizers without
// a domain prefix are ones Kubernetes itself defines.
func objectMeta(m *metav1.ObjectMeta, namespaced bool, nameFn apimachineryvalidation.ValidateNameFunc) field.ErrorList {
	fldPath := field.NewPath("metadata")
	errs := apimachineryvalidation.ValidateObjectMeta(m, namespaced, nameFn, fldPath)
	for i, f := range m.Finalizers {
		errs = append(errs, kubeFinalizerName(f, fldPath.Child("finalizers").Index(i))...)
	}
	return errs
}

func objectMetaUpdate(m, old *metav1.ObjectMeta) field.ErrorList {
	fldPath := field.NewPath("metadata")
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(m, old, fldPath)
	for i, f := range m.Finalizers {
		errs = append(errs, kubeFinalizerName(f, fldPath.Child("finalizers").Index(i))...)
	}
	return errs
}

// standardFinalizers are the finalizer names Kubernetes uses without a
// domain: the namespace lifecycle one and the garbage collector's two.
var standardFinalizers = map[string]bool{
	string(corev1.FinalizerKubernetes): true,
	metav1.FinalizerOrphanDependents:   true,
	metav1.FinalizerDeleteDependents:   true,
}

func kubeFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	if !strings.Contains(name, "/") && !standardFinalizers[name] {
		return field.ErrorList{field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified")}
	}
	return nil
}

// finalizerName is the rule for Namespace spec.finalizers: a qualified name
// that is either standard or carries a domain.
func finalizerName(name string, fldPath *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateFinalizerName(name, fldPath)
	return append(errs, kubeFinalizerName(name, fldPath)...)
}

// Small wrappers that turn apimachinery's message lists into field errors.

func dnsLabel(value string, fldPath *field.Path) field.ErrorList {
	return invalidEach(fldPath, value, validation.IsDNS1123Label(value))
}

func dnsSubdomain(value string, fldPath *field.Path) field.ErrorList {
	return invalidEach(fldPath, value, validation.IsDNS1123Subdomain(value))
}

func qualifiedName(value string, fldPath *field.Path) field.ErrorList {
	return invalidEach(fldPath, value, validation.IsQualifiedName(value))
}

func nameRule(nameFn apimachineryvalidation.ValidateNameFunc, value string, fldPath *field.Path) field.ErrorList {
	return invalidEach(fldPath, value, nameFn(value, false))
}

func invalidEach(fldPath *field.Path, value any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

func nonNegative(value int64, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateNonnegativeField(value, fldPath)
}

func immutable(newVal, oldVal any, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(newVal, oldVal, fldPath)
}

// notSupported reports a value outside a fixed set, listing the set in the
// order given (kube-apiserver sorts most of these lists; callers pass them
// in the order the real server prints them).
func notSupported[T ~string](fldPath *field.Path, value any, valid ...T) *field.Error {
	return field.NotSupported(fldPath, value, valid)
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func oneOf[T comparable](v T, valid ...T) bool {
	for _, x := range valid {
		if v == x {
			return true
		}
	}
	return false
}
