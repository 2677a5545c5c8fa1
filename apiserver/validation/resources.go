package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource names Kubernetes defines without a domain prefix.
var (
	standardContainerResources = map[string]bool{"cpu": true, "memory": true, "ephemeral-storage": true}
	standardResources          = map[string]bool{
		"cpu": true, "memory": true, "ephemeral-storage": true, "storage": true,
		"requests.cpu": true, "requests.memory": true, "requests.ephemeral-storage": true, "requests.storage": true,
		"limits.cpu": true, "limits.memory": true, "limits.ephemeral-storage": true,
		"pods": true, "services": true, "replicationcontrollers": true, "resourcequotas": true,
		"secrets": true, "configmaps": true, "persistentvolumeclaims": true,
		"services.nodeports": true, "services.loadbalancers": true,
	}
	// Object-count resources are whole numbers.
	integerResources = map[string]bool{
		"pods": true, "services": true, "replicationcontrollers": true, "resourcequotas": true,
		"secrets": true, "configmaps": true, "persistentvolumeclaims": true,
		"services.nodeports": true, "services.loadbalancers": true,
	}
)

const hugePagesPrefix = "hugepages-"

func isHugePages(name string) bool { return strings.HasPrefix(name, hugePagesPrefix) }

// isNative: names without a domain, or in the kubernetes.io domain, belong to
// Kubernetes itself.
func isNative(name string) bool {
	return !strings.Contains(name, "/") || strings.Contains(name, "kubernetes.io/")
}

// isExtended: a device-plugin style resource such as "example.com/gpu".
func isExtended(name string) bool {
	if isNative(name) || strings.HasPrefix(name, "requests.") {
		return false
	}
	return len(validation.IsQualifiedName("requests."+name)) == 0
}

// overcommitAllowed: only CPU, memory and storage may be requested below
// their limit; hugepages and extended resources are all-or-nothing.
func overcommitAllowed(name string) bool { return isNative(name) && !isHugePages(name) }

func isStandardResource(name string) bool {
	return standardResources[name] || isHugePages(name) ||
		strings.HasPrefix(name, "requests."+hugePagesPrefix) || strings.HasPrefix(name, "limits."+hugePagesPrefix)
}

func resourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	errs := invalidEach(fldPath, name, validation.IsQualifiedName(string(name)))
	if len(errs) != 0 {
		return errs
	}
	if !strings.Contains(string(name), "/") && !isStandardResource(string(name)) {
		errs = append(errs, field.Invalid(fldPath, name, "must be a standard resource type or fully qualified"))
	}
	return errs
}

func containerResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	errs := resourceName(name, fldPath)
	n := string(name)
	switch {
	case !strings.Contains(n, "/"):
		if !standardContainerResources[n] && !isHugePages(n) {
			errs = append(errs, field.Invalid(fldPath, name, "must be a standard resource for containers"))
		}
	case !isNative(n) && !isExtended(n):
		errs = append(errs, field.Invalid(fldPath, name, "doesn't follow extended resource name standard"))
	}
	return errs
}

// quantityValue: no negative amounts, and whole numbers for countable
// resources.
func quantityValue(name corev1.ResourceName, q resource.Quantity, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.Cmp(resource.Quantity{}) < 0 {
		errs = append(errs, field.Invalid(fldPath, q.String(), "must be greater than or equal to 0"))
	}
	if (integerResources[string(name)] || isExtended(string(name))) && q.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(fldPath, q, "must be an integer"))
	}
	return errs
}

// hugePagesDivisible: hugepages are handed out in whole pages of the size the
// resource name states (hugepages-2Mi).
func hugePagesDivisible(name corev1.ResourceName, q resource.Quantity) error {
	pageSize, err := resource.ParseQuantity(strings.TrimPrefix(string(name), hugePagesPrefix))
	if err != nil || pageSize.Value() <= 0 || q.Value()%pageSize.Value() != 0 {
		return fmt.Errorf("%s is not positive integer multiple of %s", q.String(), name)
	}
	return nil
}

// containerResources checks limits and requests: valid names and amounts,
// and requests that do not exceed limits.
func containerResources(r *corev1.ResourceRequirements, podClaims map[string]bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := fldPath.Child("limits"), fldPath.Child("requests")
	limCPUOrMemory, reqCPUOrMemory, hugePages := false, false, false
	for name, q := range r.Limits {
		p := limPath.Key(string(name))
		errs = append(errs, containerResourceName(name, p)...)
		errs = append(errs, quantityValue(name, q, p)...)
		if isHugePages(string(name)) {
			hugePages = true
			if err := hugePagesDivisible(name, q); err != nil {
				errs = append(errs, field.Invalid(p, q.String(), err.Error()))
			}
		}
		limCPUOrMemory = limCPUOrMemory || name == corev1.ResourceCPU || name == corev1.ResourceMemory
	}
	for name, q := range r.Requests {
		p := reqPath.Key(string(name))
		errs = append(errs, containerResourceName(name, p)...)
		errs = append(errs, quantityValue(name, q, p)...)
		limit, hasLimit := r.Limits[name]
		switch {
		case hasLimit && q.Cmp(limit) != 0 && !overcommitAllowed(string(name)):
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		case hasLimit && q.Cmp(limit) > 0:
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		case !hasLimit && !overcommitAllowed(string(name)):
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
		if isHugePages(string(name)) {
			hugePages = true
			if err := hugePagesDivisible(name, q); err != nil {
				errs = append(errs, field.Invalid(p, q.String(), err.Error()))
			}
		}
		reqCPUOrMemory = reqCPUOrMemory || name == corev1.ResourceCPU || name == corev1.ResourceMemory
	}
	if hugePages && !limCPUOrMemory && !reqCPUOrMemory {
		errs = append(errs, field.Forbidden(fldPath, "HugePages require cpu or memory"))
	}
	return append(errs, resourceClaimNames(r.Claims, podClaims, fldPath.Child("claims"))...)
}

// resourceClaimNames: containers may only use DRA claims the pod declares.
func resourceClaimNames(claims []corev1.ResourceClaim, podClaims map[string]bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, c := range claims {
		if c.Name == "" {
			errs = append(errs, field.Required(fldPath.Index(i), ""))
			continue
		}
		key := c.Name
		if c.Request != "" {
			errs = append(errs, dnsLabel(c.Request, fldPath.Index(i).Child("request"))...)
			key += "/" + c.Request
		}
		if seen[c.Name] || seen[key] {
			errs = append(errs, field.Duplicate(fldPath.Index(i), key))
		}
		seen[key] = true
		if !podClaims[c.Name] {
			e := field.NotFound(fldPath.Index(i), c.Name)
			e.Detail = "must be one of the names in pod.spec.resourceClaims"
			if len(podClaims) == 0 {
				e.Detail += " which is empty"
			} else {
				e.Detail += ": " + strings.Join(sortedKeys(podClaims), ", ")
			}
			errs = append(errs, e)
		}
	}
	return errs
}
