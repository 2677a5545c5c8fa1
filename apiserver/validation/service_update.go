package validation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateServiceUpdate is kube-apiserver's ValidateServiceUpdate: cluster
// IPs and IP families may be added (upgrade to dual-stack) or the secondary
// one removed (downgrade), but the primary ones never change, except when
// the service becomes or stops being an ExternalName service, which has none.
func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	svc = normalizeClusterIPs(svc, old)
	errs := objectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, clusterIPsUpdate(old, svc)...)
	errs = append(errs, ipFamiliesUpdate(old, svc)...)
	errs = append(errs, loadBalancerClass(svc, old)...)
	if needsHealthCheck(old) && needsHealthCheck(svc) && svc.Spec.HealthCheckNodePort != old.Spec.HealthCheckNodePort {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "healthCheckNodePort"), "field is immutable"))
	}
	return append(errs, serviceRules(svc, old)...)
}

// normalizeClusterIPs works out what a client meant when it set only one of
// clusterIP / clusterIPs, the way kube-apiserver's service storage does before
// validating: old clients know only clusterIP. It returns svc itself when
// nothing needs adjusting, otherwise an adjusted copy (the caller's object is
// never modified).
func normalizeClusterIPs(svc, old *corev1.Service) *corev1.Service {
	ips, changed := intendedClusterIPs(svc, old)
	if !changed {
		return svc
	}
	out := svc.DeepCopy()
	out.Spec.ClusterIPs = ips
	return out
}

func intendedClusterIPs(svc, old *corev1.Service) ([]string, bool) {
	ip, ips := svc.Spec.ClusterIP, svc.Spec.ClusterIPs
	if old == nil {
		if ip != "" && len(ips) == 0 {
			return []string{ip}, true
		}
		return ips, false
	}
	changed := false
	// A patch from an old client drops clusterIPs but keeps clusterIP.
	if len(old.Spec.ClusterIPs) > 0 && len(ips) == 0 && old.Spec.ClusterIP == ip {
		ips, changed = old.Spec.ClusterIPs, true
	}
	if old.Spec.ClusterIP != ip && sameStrings(old.Spec.ClusterIPs, ips) {
		if ip == "" {
			return nil, true // clearing clusterIP clears the list too
		}
		return []string{ip}, true
	}
	return ips, changed
}

func clusterIPsUpdate(old, svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadless(old) && isHeadless(svc) {
		return nil
	}
	ipsPath := field.NewPath("spec", "clusterIPs")
	oldIPs, newIPs := old.Spec.ClusterIPs, svc.Spec.ClusterIPs
	var errs field.ErrorList
	switch {
	case len(oldIPs) == len(newIPs):
		for i := range oldIPs {
			if oldIPs[i] != newIPs[i] {
				errs = append(errs, field.Invalid(ipsPath.Index(i), newIPs, "may not change once set"))
			}
		}
	case len(oldIPs) > len(newIPs): // releasing the secondary IP
		if len(newIPs) == 0 {
			errs = append(errs, field.Invalid(ipsPath.Index(0), newIPs, "primary clusterIP can not be unset"))
		}
		if len(newIPs) > 0 && newIPs[0] != oldIPs[0] {
			errs = append(errs, field.Invalid(ipsPath.Index(0), newIPs, "may not change once set"))
		}
		if len(newIPs) == 1 && !isSingleStack(svc) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), svc.Spec.IPFamilyPolicy,
				"must be set to 'SingleStack' when releasing the secondary clusterIP"))
		}
	default: // adding a secondary IP
		if len(oldIPs) > 0 && newIPs[0] != oldIPs[0] {
			errs = append(errs, field.Invalid(ipsPath.Index(0), newIPs, "may not change once set"))
		}
	}
	return errs
}

func ipFamiliesUpdate(old, svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	// Headless services may change families, and so may a service that
	// becomes or stops being headless.
	if isHeadless(old) || isHeadless(svc) {
		return nil
	}
	familyPath := field.NewPath("spec", "ipFamilies").Index(0)
	oldFams, newFams := old.Spec.IPFamilies, svc.Spec.IPFamilies
	var errs field.ErrorList
	switch {
	case len(oldFams) == len(newFams):
		for i := range oldFams {
			if oldFams[i] != newFams[i] {
				errs = append(errs, field.Invalid(familyPath, asInternal(newFams, "core"), "may not change once set"))
			}
		}
	case len(oldFams) > len(newFams): // releasing the secondary family
		if len(svc.Spec.ClusterIPs) == 0 {
			errs = append(errs, field.Invalid(familyPath, asInternal(newFams, "core"), "primary ipFamily can not be unset"))
		}
		if len(newFams) > 0 && newFams[0] != oldFams[0] {
			errs = append(errs, field.Invalid(familyPath, svc.Spec.ClusterIPs, "may not change once set"))
		}
		if len(newFams) == 1 && !isSingleStack(svc) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), svc.Spec.IPFamilyPolicy,
				"must be set to 'SingleStack' when releasing the secondary ipFamily"))
		}
	default: // adding a secondary family
		if len(oldFams) > 0 && len(newFams) > 0 && newFams[0] != oldFams[0] {
			errs = append(errs, field.Invalid(familyPath, svc.Spec.ClusterIPs, "may not change once set"))
		}
	}
	return errs
}

func isSingleStack(svc *corev1.Service) bool {
	return svc.Spec.IPFamilyPolicy != nil && *svc.Spec.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
