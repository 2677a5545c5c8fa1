package validation

import (
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---- Namespace ----

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	errs := objectMeta(&ns.ObjectMeta, false, nameIsDNSLabel)
	for _, f := range ns.Spec.Finalizers {
		// kube-apiserver reports these without an index.
		errs = append(errs, finalizerName(string(f), field.NewPath("spec", "finalizers"))...)
	}
	return errs
}

func validateNamespaceUpdate(ns, old *corev1.Namespace) field.ErrorList {
	errs := validateNamespace(ns)
	return append(errs, objectMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)...)
}

// validateNamespaceStatusUpdate: the phase follows the deletion timestamp;
// only the namespace controller moves a namespace to Terminating.
func validateNamespaceStatusUpdate(ns, old *corev1.Namespace) field.ErrorList {
	errs := objectMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
	phasePath := field.NewPath("status", "Phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			errs = append(errs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		errs = append(errs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return errs
}

// ---- Node ----

func validateNode(node *corev1.Node) field.ErrorList {
	errs := objectMeta(&node.ObjectMeta, false, nameIsDNSSubdomain)
	// kube-apiserver reports taint problems under metadata.taints.
	errs = append(errs, nodeTaints(node.Spec.Taints, field.NewPath("metadata").Child("taints"))...)
	errs = append(errs, nodeResources(node)...)
	cidrsPath := field.NewPath("spec", "podCIDRs")
	for i, c := range node.Spec.PodCIDRs {
		errs = append(errs, legacyCIDR(cidrsPath.Index(i), c)...)
	}
	if len(node.Spec.PodCIDRs) > 1 {
		if !isDualStack(node.Spec.PodCIDRs, cidrFamilyOf) || len(node.Spec.PodCIDRs) > 2 {
			errs = append(errs, field.Invalid(cidrsPath, node.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
		}
		seen := map[string]bool{}
		for i, c := range node.Spec.PodCIDRs {
			if seen[c] {
				errs = append(errs, field.Duplicate(cidrsPath.Index(i), c))
			}
			seen[c] = true
		}
	}
	return errs
}

func validateNodeUpdate(node, old *corev1.Node) field.ErrorList {
	return append(validateNode(node), nodeUpdateRules(node, old)...)
}

// validateNodeStatusUpdate: the kubelet's status writes get the update rules
// without the full create-time checks.
func validateNodeStatusUpdate(node, old *corev1.Node) field.ErrorList {
	return nodeUpdateRules(node, old)
}

// nodeUpdateRules is ValidateNodeUpdate: podCIDRs and providerID may be
// filled in once (by the controller manager) but not changed afterwards.
func nodeUpdateRules(node, old *corev1.Node) field.ErrorList {
	errs := objectMetaUpdate(&node.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, nodeResources(node)...)
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range node.Status.Addresses {
		if seen[a] {
			errs = append(errs, field.Duplicate(field.NewPath("status", "addresses").Index(i), asInternal(a, "core")))
		}
		seen[a] = true
	}
	const cidrMsg = "node updates may not change podCIDR except from \"\" to valid"
	if len(old.Spec.PodCIDRs) > 0 {
		if len(old.Spec.PodCIDRs) != len(node.Spec.PodCIDRs) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), cidrMsg))
		} else {
			for i, c := range old.Spec.PodCIDRs {
				if c != node.Spec.PodCIDRs[i] {
					errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), cidrMsg))
				}
			}
		}
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != node.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	errs = append(errs, nodeTaints(node.Spec.Taints, field.NewPath("metadata").Child("taints"))...)
	if node.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return errs
}

// nodeTaints: a taint is identified by its key and effect.
func nodeTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	unique := map[corev1.TaintEffect]map[string]bool{}
	for i, t := range taints {
		p := fldPath.Index(i)
		errs = append(errs, metavalidation.ValidateLabelName(t.Key, p.Child("key"))...)
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) != 0 {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		errs = append(errs, taintEffect(t.Effect, false, p.Child("effect"))...)
		if unique[t.Effect][t.Key] {
			dup := field.Duplicate(p, asInternal(t, "core"))
			dup.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, dup)
			continue
		}
		if unique[t.Effect] == nil {
			unique[t.Effect] = map[string]bool{}
		}
		unique[t.Effect][t.Key] = true
	}
	return errs
}

func nodeResources(node *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	for _, list := range []struct {
		name      string
		resources corev1.ResourceList
	}{{"capacity", node.Status.Capacity}, {"allocatable", node.Status.Allocatable}} {
		for _, name := range sortedKeys(list.resources) {
			errs = append(errs, quantityValue(name, list.resources[name], field.NewPath("status", list.name, string(name)))...)
		}
	}
	return errs
}

// ---- Event (core/v1) ----

// Limits for events written by new-style (eventTime) reporters.
const (
	reportingInstanceLimit = 128
	actionLimit            = 128
	reasonLimit            = 128
	noteLimit              = 1024
)

// validateEvent: core/v1 events only get kube-apiserver's "legacy" event
// checks, for compatibility with old clients; the generic ObjectMeta checks
// still apply.
func validateEvent(ev *corev1.Event) field.ErrorList {
	return legacyEvent(ev)
}

func validateEventUpdate(ev, _ *corev1.Event) field.ErrorList {
	return legacyEvent(ev)
}

// legacyEvent: an event must live in the namespace of the object it is
// about (cluster-scoped objects' events go to "default").
func legacyEvent(ev *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	involvedNS := field.NewPath("involvedObject", "namespace")
	const mismatch = "does not match event.namespace"
	if ev.EventTime.IsZero() {
		if ev.InvolvedObject.Namespace == "" {
			if ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(involvedNS, ev.InvolvedObject.Namespace, mismatch))
			}
		} else if ev.Namespace != ev.InvolvedObject.Namespace {
			errs = append(errs, field.Invalid(involvedNS, ev.InvolvedObject.Namespace, mismatch))
		}
	} else {
		if ev.InvolvedObject.Namespace == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(involvedNS, ev.InvolvedObject.Namespace, mismatch))
		}
		errs = append(errs, requiredAndShort(ev.ReportingController, "reportingController", -1)...)
		errs = append(errs, qualifiedName(ev.ReportingController, field.NewPath("reportingController"))...)
		errs = append(errs, requiredAndShort(ev.ReportingInstance, "reportingInstance", reportingInstanceLimit)...)
		errs = append(errs, requiredAndShort(ev.Action, "action", actionLimit)...)
		errs = append(errs, requiredAndShort(ev.Reason, "reason", reasonLimit)...)
		if len(ev.Message) > noteLimit {
			errs = append(errs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", noteLimit)))
		}
	}
	return append(errs, dnsSubdomain(ev.Namespace, field.NewPath("namespace"))...)
}

func requiredAndShort(value, name string, limit int) field.ErrorList {
	p := field.NewPath(name)
	var errs field.ErrorList
	if value == "" {
		errs = append(errs, field.Required(p, ""))
	}
	if limit >= 0 && len(value) > limit {
		errs = append(errs, field.Invalid(p, "", fmt.Sprintf("can have at most %v characters", limit)))
	}
	return errs
}

// ---- ConfigMap ----

// maxConfigMapSize is the limit on the total size of a ConfigMap's data,
// the same as for Secrets (1 MiB).
const maxConfigMapSize = 1 * 1024 * 1024

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	errs := objectMeta(&cm.ObjectMeta, true, nameIsDNSSubdomain)
	total := 0
	for _, key := range sortedKeys(cm.Data) {
		p := field.NewPath("data").Key(key)
		errs = append(errs, invalidEach(p, key, validation.IsConfigMapKey(key))...)
		if _, dup := cm.BinaryData[key]; dup {
			errs = append(errs, field.Invalid(p, key, "duplicate of key present in binaryData"))
		}
		total += len(cm.Data[key])
	}
	for _, key := range sortedKeys(cm.BinaryData) {
		errs = append(errs, invalidEach(field.NewPath("binaryData").Key(key), key, validation.IsConfigMapKey(key))...)
		total += len(cm.BinaryData[key])
	}
	if total > maxConfigMapSize {
		// An empty path: the error is about the object as a whole.
		errs = append(errs, field.TooLong(field.NewPath(""), "", maxConfigMapSize))
	}
	return errs
}

// validateConfigMapUpdate: once marked immutable, a ConfigMap's data is
// frozen and the mark cannot be removed.
func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	errs := objectMetaUpdate(&cm.ObjectMeta, &old.ObjectMeta)
	if old.Immutable != nil && *old.Immutable {
		const msg = "field is immutable when `immutable` is set"
		if cm.Immutable == nil || !*cm.Immutable {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), msg))
		}
		if !reflect.DeepEqual(cm.Data, old.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), msg))
		}
		if !reflect.DeepEqual(cm.BinaryData, old.BinaryData) {
			errs = append(errs, field.Forbidden(field.NewPath("binaryData"), msg))
		}
	}
	return append(errs, validateConfigMap(cm)...)
}

// ---- ServiceAccount ----

func validateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	return objectMeta(&sa.ObjectMeta, true, nameIsDNSSubdomain)
}

func validateServiceAccountUpdate(sa, old *corev1.ServiceAccount) field.ErrorList {
	return append(objectMetaUpdate(&sa.ObjectMeta, &old.ObjectMeta), validateServiceAccount(sa)...)
}
