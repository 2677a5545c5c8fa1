package validation

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// A running pod's spec is fixed except for these fields; kube-apiserver lists
// them in its refusal message.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	metaPath, specPath := field.NewPath("metadata"), field.NewPath("spec")
	errs := objectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, podMetadataAndSpec(pod)...)
	errs = append(errs, podAnnotationUpdates(pod, old, metaPath.Child("annotations"))...)

	for _, list := range []struct {
		name     string
		new, old []corev1.Container
	}{
		{"containers", pod.Spec.Containers, old.Spec.Containers},
		{"initContainers", pod.Spec.InitContainers, old.Spec.InitContainers},
	} {
		p := specPath.Child(list.name)
		if len(list.new) != len(list.old) {
			return append(errs, field.Forbidden(p, "pod updates may not add or remove containers"))
		}
		for i, c := range list.new {
			if c.Image == "" {
				errs = append(errs, field.Required(p.Index(i).Child("image"), ""))
			}
		}
	}

	// activeDeadlineSeconds may be set once, and afterwards only shortened.
	deadlinePath := specPath.Child("activeDeadlineSeconds")
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil {
		if *d < 0 || *d > math.MaxInt32 {
			return append(errs, field.Invalid(deadlinePath, *d, validation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if o := old.Spec.ActiveDeadlineSeconds; o != nil && *o < *d {
			return append(errs, field.Invalid(deadlinePath, *d, "must be less than or equal to previous value"))
		}
	} else if old.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(deadlinePath, pod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}
	errs = append(errs, onlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, onlyDeletedSchedulingGates(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	if equality.Semantic.DeepEqual(pod.Spec, old.Spec) {
		return errs
	}
	munged, mungeErrs := withUpdatableFieldsFrom(pod.Spec, old.Spec)
	errs = append(errs, mungeErrs...)
	if !equality.Semantic.DeepEqual(munged, old.Spec) {
		msg := fmt.Sprintf("pod updates may not change fields other than %s\n%v", strings.Join(updatablePodSpecFields, ","), specDiff(old.Spec, munged))
		errs = append(errs, field.Forbidden(specPath, msg))
	}
	return errs
}

// withUpdatableFieldsFrom returns the new spec with every field that may
// change copied from the old one, so that what remains different is what
// may not change.
func withUpdatableFieldsFrom(spec, old corev1.PodSpec) (corev1.PodSpec, field.ErrorList) {
	m := *spec.DeepCopy()
	for i := range m.Containers {
		m.Containers[i].Image = old.Containers[i].Image
	}
	for i := range m.InitContainers {
		m.InitContainers[i].Image = old.InitContainers[i].Image
	}
	m.ActiveDeadlineSeconds = old.ActiveDeadlineSeconds
	m.SchedulingGates = old.SchedulingGates
	m.Tolerations = old.Tolerations
	if o := old.TerminationGracePeriodSeconds; o != nil && *o < 0 && m.TerminationGracePeriodSeconds != nil && *m.TerminationGracePeriodSeconds == 1 {
		m.TerminationGracePeriodSeconds = o
	}
	// A pod still waiting on scheduling gates may gain node selector terms.
	var errs field.ErrorList
	if len(old.SchedulingGates) > 0 && !equality.Semantic.DeepEqual(m.NodeSelector, old.NodeSelector) {
		for k, v := range old.NodeSelector {
			if nv, ok := m.NodeSelector[k]; !ok || nv != v {
				errs = append(errs, field.Invalid(field.NewPath("spec", "nodeSelector"), m.NodeSelector, "only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
				break
			}
		}
		m.NodeSelector = old.NodeSelector
	}
	return m, errs
}

// specDiff lists what differs between two pod specs, one -/+ pair per
// changed value, in the spirit of the diff kube-apiserver appends to its
// refusal.
func specDiff(old, new corev1.PodSpec) string {
	var lines []string
	ov, nv := reflect.ValueOf(&old).Elem(), reflect.ValueOf(&new).Elem()
	same := 0
	for i := 0; i < ov.NumField(); i++ {
		before := len(lines)
		diffValues(ov.Type().Field(i).Name, ov.Field(i), nv.Field(i), &lines)
		if len(lines) == before {
			same++
		}
	}
	return fmt.Sprintf("  core.PodSpec{\n%s  \t... // %d identical fields\n  }\n", strings.Join(lines, ""), same)
}

// diffValues descends into structs, pointers and equally long slices so
// that the lines name the innermost values that changed.
func diffValues(path string, a, b reflect.Value, lines *[]string) {
	if equality.Semantic.DeepEqual(a.Interface(), b.Interface()) {
		return
	}
	switch {
	case a.Kind() == reflect.Struct && !strings.HasPrefix(a.Type().PkgPath(), "k8s.io/apimachinery"):
		for i := 0; i < a.NumField(); i++ {
			diffValues(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i), lines)
		}
		return
	case a.Kind() == reflect.Pointer && !a.IsNil() && !b.IsNil():
		diffValues(path, a.Elem(), b.Elem(), lines)
		return
	case a.Kind() == reflect.Slice && a.Len() == b.Len():
		for i := 0; i < a.Len(); i++ {
			diffValues(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i), lines)
		}
		return
	case a.Kind() == reflect.Map && a.Type().Key().Kind() == reflect.String && !a.IsNil() && !b.IsNil():
		keys := map[string]reflect.Value{}
		for _, k := range append(a.MapKeys(), b.MapKeys()...) {
			keys[k.String()] = k
		}
		for _, name := range sortedKeys(keys) {
			k := keys[name]
			av, bv := a.MapIndex(k), b.MapIndex(k)
			if !av.IsValid() || !bv.IsValid() {
				*lines = append(*lines, fmt.Sprintf("- \t%s[%s]: %s,\n+ \t%s[%s]: %s,\n", path, name, mapEntry(av), path, name, mapEntry(bv)))
				continue
			}
			diffValues(fmt.Sprintf("%s[%s]", path, name), av, bv, lines)
		}
		return
	}
	*lines = append(*lines, fmt.Sprintf("- \t%s: %s,\n+ \t%s: %s,\n", path, goValue(a), path, goValue(b)))
}

func mapEntry(v reflect.Value) string {
	if !v.IsValid() {
		return "<absent>"
	}
	return goValue(v)
}

// goValue prints a value for the diff: quantities and times by their text,
// everything else Go-syntax with internal package names.
func goValue(v reflect.Value) string {
	if !v.CanAddr() {
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		v = c
	}
	if s, ok := v.Addr().Interface().(fmt.Stringer); ok && strings.HasPrefix(v.Type().PkgPath(), "k8s.io/apimachinery") {
		return s.String()
	}
	return asInternal(v.Interface(), "core").String()
}

func onlyAddedTolerations(list, old []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range list {
			o.TolerationSeconds = t.TolerationSeconds // only tolerationSeconds may change
			if reflect.DeepEqual(o, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return tolerations(list, fldPath)
}

func onlyDeletedSchedulingGates(gates, old []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	existing := map[string]bool{}
	for _, g := range old {
		existing[g.Name] = true
	}
	var errs field.ErrorList
	for i, g := range gates {
		if !existing[g.Name] {
			errs = append(errs, field.Forbidden(fldPath.Index(i).Child("name"), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return errs
}

// podAnnotationUpdates: the mirror-pod marker and AppArmor annotations are
// fixed at creation.
func podAnnotationUpdates(pod, old *corev1.Pod, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedKeys(old.Annotations) {
		if v, ok := pod.Annotations[k]; ok && v == old.Annotations[k] {
			continue
		}
		if strings.HasPrefix(k, appArmorContainerPrefix) {
			errs = append(errs, field.Forbidden(fldPath.Key(k), "may not remove or update AppArmor annotations"))
		}
		if k == mirrorPodAnnotation {
			errs = append(errs, field.Forbidden(fldPath.Key(k), "may not remove or update mirror pod annotation"))
		}
	}
	for _, k := range sortedKeys(pod.Annotations) {
		if _, ok := old.Annotations[k]; ok {
			continue
		}
		if strings.HasPrefix(k, appArmorContainerPrefix) {
			errs = append(errs, field.Forbidden(fldPath.Key(k), "may not add AppArmor annotations"))
		}
		if k == mirrorPodAnnotation {
			errs = append(errs, field.Forbidden(fldPath.Key(k), "may not add mirror pod annotation"))
		}
	}
	return append(errs, podAnnotations(pod.Annotations, &pod.Spec, fldPath)...)
}

// validatePodStatusUpdate checks what the kubelet (or a scheduler) writes
// through pods/status.
func validatePodStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	metaPath := field.NewPath("metadata")
	errs := objectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, podAnnotationUpdates(pod, old, metaPath.Child("annotations"))...)
	// Custom condition types must be qualified names. (kube-apiserver
	// reports them under metadata.conditions.)
	for i, c := range pod.Status.Conditions {
		if oneOf(c.Type, corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized) {
			continue
		}
		errs = append(errs, qualifiedName(string(c.Type), metaPath.Child("conditions").Index(i).Child("Type"))...)
	}
	statusPath := field.NewPath("status")
	if pod.Spec.NodeName != old.Spec.NodeName {
		errs = append(errs, field.Forbidden(statusPath.Child("nodeName"), "may not be changed directly"))
	}
	if n := pod.Status.NominatedNodeName; n != old.Status.NominatedNodeName && n != "" {
		errs = append(errs, nameRule(nameIsDNSSubdomain, n, statusPath.Child("nominatedNodeName"))...)
	}
	errs = append(errs, immutable(pod.Status.QOSClass, old.Status.QOSClass, statusPath.Child("qosClass"))...)
	errs = append(errs, stateTransitions(pod.Status.ContainerStatuses, old.Status.ContainerStatuses, old.Spec.RestartPolicy, nil, statusPath.Child("containerStatuses"))...)
	errs = append(errs, stateTransitions(pod.Status.InitContainerStatuses, old.Status.InitContainerStatuses, old.Spec.RestartPolicy, sidecarNames(&old.Spec), statusPath.Child("initContainerStatuses"))...)
	errs = append(errs, stateTransitions(pod.Status.EphemeralContainerStatuses, old.Status.EphemeralContainerStatuses, corev1.RestartPolicyNever, nil, statusPath.Child("ephemeralContainerStatuses"))...)
	errs = append(errs, podIPs(pod, old)...)
	return append(errs, hostIPs(pod, old)...)
}

// stateTransitions: a container that will not be restarted stays terminated.
// Sidecars (restartable init containers) are always restarted.
func stateTransitions(statuses, old []corev1.ContainerStatus, policy corev1.RestartPolicy, restartable map[string]bool, fldPath *field.Path) field.ErrorList {
	if policy == corev1.RestartPolicyAlways {
		return nil
	}
	var errs field.ErrorList
	for i, o := range old {
		t := o.State.Terminated
		if t == nil || (t.ExitCode != 0 && policy == corev1.RestartPolicyOnFailure) || restartable[o.Name] {
			continue
		}
		for _, s := range statuses {
			if s.Name == o.Name && s.State.Terminated == nil {
				errs = append(errs, field.Forbidden(fldPath.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return errs
}

func sidecarNames(spec *corev1.PodSpec) map[string]bool {
	names := map[string]bool{}
	for _, c := range spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			names[c.Name] = true
		}
	}
	return names
}

// podIPs: at most one address per IP family, no repeats.
func podIPs(pod, old *corev1.Pod) field.ErrorList {
	p := field.NewPath("status", "podIPs")
	var oldIPs, ips []string
	for _, ip := range old.Status.PodIPs {
		oldIPs = append(oldIPs, ip.IP)
	}
	var errs field.ErrorList
	for i, ip := range pod.Status.PodIPs {
		errs = append(errs, legacyIP(p.Index(i), ip.IP, oldIPs...)...)
		ips = append(ips, ip.IP)
	}
	if len(ips) > 1 {
		if !isDualStack(ips, ipFamilyOf) || len(ips) > 2 {
			errs = append(errs, field.Invalid(p, asInternal(pod.Status.PodIPs, "core"), "may specify no more than one IP for each IP family"))
		}
		seen := map[string]bool{}
		for i, ip := range pod.Status.PodIPs {
			if seen[ip.IP] {
				errs = append(errs, field.Duplicate(p.Index(i), asInternal(ip, "core")))
			}
			seen[ip.IP] = true
		}
	}
	return errs
}

// hostIPs: hostIP is the legacy copy of hostIPs[0].
func hostIPs(pod, old *corev1.Pod) field.ErrorList {
	list := pod.Status.HostIPs
	if len(list) == 0 {
		return nil
	}
	p := field.NewPath("status", "hostIPs")
	var errs field.ErrorList
	if pod.Status.HostIP != list[0].IP {
		errs = append(errs, field.Invalid(p.Index(0).Child("ip"), list[0].IP, "must be equal to `hostIP`"))
	}
	var oldIPs, ips []string
	for _, ip := range old.Status.HostIPs {
		oldIPs = append(oldIPs, ip.IP)
	}
	for i, ip := range list {
		errs = append(errs, legacyIP(p.Index(i), ip.IP, oldIPs...)...)
		ips = append(ips, ip.IP)
	}
	if len(ips) > 1 {
		seen := map[string]bool{}
		for i, ip := range list {
			if seen[ip.IP] {
				errs = append(errs, field.Duplicate(p.Index(i), asInternal(ip, "core")))
			}
			seen[ip.IP] = true
		}
		if !isDualStack(ips, ipFamilyOf) || len(ips) > 2 {
			errs = append(errs, field.Invalid(p, asInternal(list, "core"), "may specify no more than one IP for each IP family"))
		}
	}
	return errs
}
