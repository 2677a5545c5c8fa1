package validation

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Workload controllers (Deployment, ReplicaSet, StatefulSet, DaemonSet) own
// the pods their selector matches, so the selector must match the pods they
// create from the template, and it cannot change afterwards in apps/v1.

const selectorMismatch = "`selector` does not match template `labels`"

// workloadSelector is the selector check shared by Deployments and
// ReplicaSets: required, well formed and not empty.
func workloadSelector(sel *metav1.LabelSelector, kind string, fldPath *field.Path) field.ErrorList {
	if sel == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	errs := metavalidation.ValidateLabelSelector(sel, metavalidation.LabelSelectorValidationOptions{}, fldPath)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(fldPath, sel, "empty selector is invalid for "+kind))
	}
	return errs
}

// replicaSetTemplate is ValidatePodTemplateSpecForReplicaSet: the template
// must carry the selector's labels, be a valid pod template, and describe
// pods that are restarted forever.
func replicaSetTemplate(t *corev1.PodTemplateSpec, selector labels.Selector, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !selector.Empty() && !selector.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(fldPath.Child("metadata", "labels"), t.Labels, selectorMismatch))
	}
	errs = append(errs, podTemplate(t, fldPath)...)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, notSupported(fldPath.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, corev1.RestartPolicyAlways))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(fldPath.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicaSet is not Supported"))
	}
	return errs
}

// templateAgainst parses the selector and checks the template against it.
func templateAgainst(sel *metav1.LabelSelector, t *corev1.PodTemplateSpec, specPath *field.Path) field.ErrorList {
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return field.ErrorList{field.Invalid(specPath.Child("selector"), sel, "invalid label selector")}
	}
	return replicaSetTemplate(t, selector, specPath.Child("template"))
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1 // the apps/v1 default
	}
	return *r
}

// ---- Deployment ----

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := objectMeta(&d.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, deploymentSpec(&d.Spec, field.NewPath("spec"))...)
}

func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := objectMetaUpdate(&d.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, deploymentSpec(&d.Spec, field.NewPath("spec"))...)
	return append(errs, immutable(d.Spec.Selector, old.Spec.Selector, field.NewPath("spec").Child("selector"))...)
}

func deploymentSpec(spec *appsv1.DeploymentSpec, p *field.Path) field.ErrorList {
	errs := nonNegative(int64(replicas(spec.Replicas)), p.Child("replicas"))
	errs = append(errs, workloadSelector(spec.Selector, "deployment", p.Child("selector"))...)
	errs = append(errs, templateAgainst(spec.Selector, &spec.Template, p)...)
	errs = append(errs, deploymentStrategy(&spec.Strategy, p.Child("strategy"))...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*spec.RevisionHistoryLimit), p.Child("revisionHistoryLimit"))...)
	}
	// The deadline for making progress must leave room for pods to become
	// available after minReadySeconds.
	if pd := spec.ProgressDeadlineSeconds; pd != nil {
		errs = append(errs, nonNegative(int64(*pd), p.Child("progressDeadlineSeconds"))...)
		if *pd <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(p.Child("progressDeadlineSeconds"), pd, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func deploymentStrategy(s *appsv1.DeploymentStrategy, p *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(p.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(p.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		return rollingUpdateDeployment(s.RollingUpdate, p.Child("rollingUpdate"))
	default:
		return field.ErrorList{notSupported(p, asInternal(s, "apps"), appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType)}
	}
	return nil
}

// rollingUpdateDeployment: a rollout needs room to move, either by
// starting extra pods (maxSurge) or by stopping old ones (maxUnavailable).
func rollingUpdateDeployment(ru *appsv1.RollingUpdateDeployment, p *field.Path) field.ErrorList {
	maxUnavailable, maxSurge := deref(ru.MaxUnavailable), deref(ru.MaxSurge)
	errs := positiveIntOrPercent(maxUnavailable, p.Child("maxUnavailable"))
	errs = append(errs, positiveIntOrPercent(maxSurge, p.Child("maxSurge"))...)
	if intOrPercentValue(maxUnavailable) == 0 && intOrPercentValue(maxSurge) == 0 {
		errs = append(errs, field.Invalid(p.Child("maxUnavailable"), maxUnavailable, "may not be 0 when `maxSurge` is 0"))
	}
	return append(errs, notMoreThan100Percent(maxUnavailable, p.Child("maxUnavailable"))...)
}

func deref(v *intstr.IntOrString) intstr.IntOrString {
	if v == nil {
		return intstr.IntOrString{}
	}
	return *v
}

func positiveIntOrPercent(v intstr.IntOrString, p *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		return invalidEach(p, v, validation.IsValidPercent(v.StrVal))
	case intstr.Int:
		return nonNegative(int64(v.IntValue()), p)
	}
	return field.ErrorList{field.Invalid(p, v, "must be an integer or percentage (e.g '5%%')")}
}

func percentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, _ := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	return n, true
}

func intOrPercentValue(v intstr.IntOrString) int {
	if n, ok := percentValue(v); ok {
		return n
	}
	return v.IntValue()
}

func notMoreThan100Percent(v intstr.IntOrString, p *field.Path) field.ErrorList {
	if n, ok := percentValue(v); ok && n > 100 {
		return field.ErrorList{field.Invalid(p, v, "must not be greater than 100%")}
	}
	return nil
}

func validateDeploymentStatusUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := objectMetaUpdate(&d.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	s := &d.Status
	errs = append(errs, nonNegatives(p, map[string]int64{
		"observedGeneration": s.ObservedGeneration, "replicas": int64(s.Replicas), "updatedReplicas": int64(s.UpdatedReplicas),
		"readyReplicas": int64(s.ReadyReplicas), "availableReplicas": int64(s.AvailableReplicas), "unavailableReplicas": int64(s.UnavailableReplicas),
	})...)
	errs = append(errs, replicaCounts(p, s.Replicas, map[string]int32{"updatedReplicas": s.UpdatedReplicas, "readyReplicas": s.ReadyReplicas, "availableReplicas": s.AvailableReplicas})...)
	errs = append(errs, availableNotAboveReady(p, s.AvailableReplicas, s.ReadyReplicas)...)
	return append(errs, collisionCount(s.CollisionCount, old.Status.CollisionCount, p)...)
}

// ---- ReplicaSet ----

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := objectMeta(&rs.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, replicaSetSpec(&rs.Spec, field.NewPath("spec"))...)
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := objectMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, replicaSetSpec(&rs.Spec, field.NewPath("spec"))...)
	return append(errs, immutable(rs.Spec.Selector, old.Spec.Selector, field.NewPath("spec").Child("selector"))...)
}

func replicaSetSpec(spec *appsv1.ReplicaSetSpec, p *field.Path) field.ErrorList {
	errs := nonNegative(int64(replicas(spec.Replicas)), p.Child("replicas"))
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	// kube-apiserver's message says "deployment" here too.
	errs = append(errs, workloadSelector(spec.Selector, "deployment", p.Child("selector"))...)
	return append(errs, templateAgainst(spec.Selector, &spec.Template, p)...)
}

func validateReplicaSetStatusUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := objectMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	s := &rs.Status
	errs = append(errs, nonNegatives(p, map[string]int64{
		"replicas": int64(s.Replicas), "fullyLabeledReplicas": int64(s.FullyLabeledReplicas), "readyReplicas": int64(s.ReadyReplicas),
		"availableReplicas": int64(s.AvailableReplicas), "observedGeneration": s.ObservedGeneration,
	})...)
	errs = append(errs, replicaCounts(p, s.Replicas, map[string]int32{"fullyLabeledReplicas": s.FullyLabeledReplicas, "readyReplicas": s.ReadyReplicas, "availableReplicas": s.AvailableReplicas})...)
	return append(errs, availableNotAboveReady(p, s.AvailableReplicas, s.ReadyReplicas)...)
}

// ---- StatefulSet ----

func validateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	errs := objectMeta(&ss.ObjectMeta, true, nameIsDNSLabel)
	return append(errs, statefulSetSpec(&ss.Spec, field.NewPath("spec"))...)
}

// validateStatefulSetUpdate: the name is not checked again (older servers
// allowed DNS subdomains), and only a few spec fields may change.
func validateStatefulSetUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	errs := objectMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, statefulSetSpec(&ss.Spec, field.NewPath("spec"))...)
	changed := ss.Spec.DeepCopy()
	changed.Replicas = old.Spec.Replicas
	changed.Template = old.Spec.Template
	changed.UpdateStrategy = old.Spec.UpdateStrategy
	changed.MinReadySeconds = old.Spec.MinReadySeconds
	changed.Ordinals = old.Spec.Ordinals
	changed.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	if !equality.Semantic.DeepEqual(*changed, old.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	return errs
}

var pvcRetentionPolicies = []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}

// statefulSetSpec: unlike the other workloads, kube-apiserver does not run
// the full pod spec validation on a StatefulSet's template; a broken
// template shows up when the controller creates the pods.
func statefulSetSpec(spec *appsv1.StatefulSetSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(p.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(p.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	strategyPath := p.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		errs = append(errs, field.Required(strategyPath, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(strategyPath.Child("rollingUpdate"), internalRollingUpdate{spec.UpdateStrategy.RollingUpdate},
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			errs = append(errs, rollingUpdateStatefulSet(ru, strategyPath.Child("rollingUpdate"))...)
		}
	default:
		errs = append(errs, field.Invalid(strategyPath, asInternal(spec.UpdateStrategy, "apps"),
			fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}
	if rp := spec.PersistentVolumeClaimRetentionPolicy; rp != nil {
		rpPath := p.Child("persistentVolumeClaimRetentionPolicy")
		for _, f := range []struct {
			name  string
			value appsv1.PersistentVolumeClaimRetentionPolicyType
		}{{"whenDeleted", rp.WhenDeleted}, {"whenScaled", rp.WhenScaled}} {
			if !oneOf(f.value, pvcRetentionPolicies...) {
				errs = append(errs, notSupported(rpPath.Child(f.name), f.value, pvcRetentionPolicies...))
			}
		}
	}
	errs = append(errs, nonNegative(int64(replicas(spec.Replicas)), p.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		errs = append(errs, nonNegative(int64(spec.Ordinals.Start), p.Child("ordinals.start"))...)
	}
	if spec.Selector == nil {
		errs = append(errs, field.Required(p.Child("selector"), ""))
	} else {
		errs = append(errs, metavalidation.ValidateLabelSelector(spec.Selector, metavalidation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
		if len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(p.Child("selector"), spec.Selector, "empty selector is invalid for statefulset"))
		}
	}
	selector, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil {
		errs = append(errs, field.Invalid(p.Child("selector"), spec.Selector, ""))
	} else {
		t, tp := &spec.Template, p.Child("template")
		if !selector.Empty() && !selector.Matches(labels.Set(t.Labels)) {
			errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), t.Labels, selectorMismatch))
		}
		errs = append(errs, metavalidation.ValidateLabels(t.Labels, tp.Child("labels"))...)
		errs = append(errs, templateAnnotations(t, tp)...)
	}
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, notSupported(p.Child("template", "spec", "restartPolicy"), spec.Template.Spec.RestartPolicy, corev1.RestartPolicyAlways))
	}
	if spec.Template.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(p.Child("template", "spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in StatefulSet is not Supported"))
	}
	return errs
}

func templateAnnotations(t *corev1.PodTemplateSpec, tp *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateAnnotations(t.Annotations, tp.Child("annotations"))
	return append(errs, podAnnotations(t.Annotations, &t.Spec, tp.Child("annotations"))...)
}

// internalRollingUpdate prints a StatefulSet rolling update the way the
// internal type kube-apiserver validates prints: there, partition is a
// plain number rather than a pointer.
type internalRollingUpdate struct {
	ru *appsv1.RollingUpdateStatefulSetStrategy
}

func (v internalRollingUpdate) String() string {
	partition := int32(0)
	if v.ru.Partition != nil {
		partition = *v.ru.Partition
	}
	return fmt.Sprintf("apps.RollingUpdateStatefulSetStrategy{Partition:%d, MaxUnavailable:%#v}", partition, v.ru.MaxUnavailable)
}

// rollingUpdateStatefulSet: partition holds back pods with a lower ordinal.
func rollingUpdateStatefulSet(ru *appsv1.RollingUpdateStatefulSetStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ru.Partition != nil {
		errs = append(errs, nonNegative(int64(*ru.Partition), p.Child("partition"))...)
	}
	if ru.MaxUnavailable != nil {
		mp := p.Child("maxUnavailable")
		errs = append(errs, positiveIntOrPercent(*ru.MaxUnavailable, mp)...)
		if intOrPercentValue(*ru.MaxUnavailable) == 0 {
			errs = append(errs, field.Invalid(mp, *ru.MaxUnavailable, "cannot be 0"))
		}
		errs = append(errs, notMoreThan100Percent(*ru.MaxUnavailable, mp)...)
	}
	return errs
}

func validateStatefulSetStatusUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	p := field.NewPath("status")
	s := &ss.Status
	errs := nonNegatives(p, map[string]int64{
		"replicas": int64(s.Replicas), "readyReplicas": int64(s.ReadyReplicas), "currentReplicas": int64(s.CurrentReplicas),
		"updatedReplicas": int64(s.UpdatedReplicas), "availableReplicas": int64(s.AvailableReplicas), "observedGeneration": s.ObservedGeneration,
	})
	errs = append(errs, replicaCounts(p, s.Replicas, map[string]int32{"readyReplicas": s.ReadyReplicas, "currentReplicas": s.CurrentReplicas, "updatedReplicas": s.UpdatedReplicas, "availableReplicas": s.AvailableReplicas})...)
	if s.AvailableReplicas > s.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than status.readyReplicas"))
	}
	errs = append(errs, objectMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta)...)
	return append(errs, collisionCount(s.CollisionCount, old.Status.CollisionCount, p)...)
}

// ---- DaemonSet ----

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	errs := objectMeta(&ds.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, daemonSetSpec(&ds.Spec, field.NewPath("spec"))...)
}

func validateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	errs := objectMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, daemonSetSpec(&ds.Spec, field.NewPath("spec"))...)
	return append(errs, immutable(ds.Spec.Selector, old.Spec.Selector, field.NewPath("spec").Child("selector"))...)
}

func daemonSetSpec(spec *appsv1.DaemonSetSpec, p *field.Path) field.ErrorList {
	errs := metavalidation.ValidateLabelSelector(spec.Selector, metavalidation.LabelSelectorValidationOptions{}, p.Child("selector"))
	if selector, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !selector.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), spec.Template.Labels, selectorMismatch))
	}
	if spec.Selector != nil && len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(p.Child("selector"), spec.Selector, "empty selector is invalid for daemonset"))
	}
	errs = append(errs, podTemplate(&spec.Template, p.Child("template"))...)
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, notSupported(p.Child("template", "spec", "restartPolicy"), spec.Template.Spec.RestartPolicy, corev1.RestartPolicyAlways))
	}
	if spec.Template.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(p.Child("template", "spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in DaemonSet is not Supported"))
	}
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	errs = append(errs, daemonSetUpdateStrategy(&spec.UpdateStrategy, p.Child("updateStrategy"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*spec.RevisionHistoryLimit), p.Child("revisionHistoryLimit"))...)
	}
	return errs
}

func daemonSetUpdateStrategy(s *appsv1.DaemonSetUpdateStrategy, p *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return nil
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(p.Child("rollingUpdate"), "")}
		}
		return rollingUpdateDaemonSet(s.RollingUpdate, p.Child("rollingUpdate"))
	}
	return field.ErrorList{notSupported(p, asInternal(s, "apps"), appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType)}
}

// rollingUpdateDaemonSet: a DaemonSet rolls node by node either by taking
// the old pod down first (maxUnavailable) or by starting the new one next to
// it (maxSurge) - exactly one of the two.
func rollingUpdateDaemonSet(ru *appsv1.RollingUpdateDaemonSet, p *field.Path) field.ErrorList {
	maxUnavailable, maxSurge := deref(ru.MaxUnavailable), deref(ru.MaxSurge)
	errs := positiveIntOrPercent(maxUnavailable, p.Child("maxUnavailable"))
	errs = append(errs, positiveIntOrPercent(maxSurge, p.Child("maxSurge"))...)
	errs = append(errs, notMoreThan100Percent(maxUnavailable, p.Child("maxUnavailable"))...)
	errs = append(errs, notMoreThan100Percent(maxSurge, p.Child("maxSurge"))...)
	hasUnavailable, hasSurge := intOrPercentValue(maxUnavailable) != 0, intOrPercentValue(maxSurge) != 0
	switch {
	case hasUnavailable && hasSurge:
		errs = append(errs, field.Invalid(p.Child("maxSurge"), maxSurge, "may not be set when maxUnavailable is non-zero"))
	case !hasUnavailable && !hasSurge:
		errs = append(errs, field.Required(p.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
	}
	return errs
}

func validateDaemonSetStatusUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	errs := objectMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	s := &ds.Status
	errs = append(errs, nonNegatives(p, map[string]int64{
		"currentNumberScheduled": int64(s.CurrentNumberScheduled), "numberMisscheduled": int64(s.NumberMisscheduled),
		"desiredNumberScheduled": int64(s.DesiredNumberScheduled), "numberReady": int64(s.NumberReady),
		"observedGeneration": s.ObservedGeneration, "updatedNumberScheduled": int64(s.UpdatedNumberScheduled),
		"numberAvailable": int64(s.NumberAvailable), "numberUnavailable": int64(s.NumberUnavailable),
	})...)
	return append(errs, collisionCount(s.CollisionCount, old.Status.CollisionCount, p)...)
}

// ---- status helpers ----

// nonNegatives checks named status counters, in name order.
func nonNegatives(p *field.Path, values map[string]int64) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(values) {
		errs = append(errs, nonNegative(values[name], p.Child(name))...)
	}
	return errs
}

// replicaCounts: no subset of the replicas can outnumber them.
func replicaCounts(p *field.Path, total int32, parts map[string]int32) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(parts) {
		if parts[name] > total {
			errs = append(errs, field.Invalid(p.Child(name), parts[name], "cannot be greater than status.replicas"))
		}
	}
	return errs
}

func availableNotAboveReady(p *field.Path, available, ready int32) field.ErrorList {
	if available > ready {
		return field.ErrorList{field.Invalid(p.Child("availableReplicas"), available, "cannot be greater than readyReplicas")}
	}
	return nil
}

// collisionCount only ever grows: it salts the names of new revisions.
func collisionCount(count, old *int32, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if count != nil {
		errs = append(errs, nonNegative(int64(*count), p.Child("collisionCount"))...)
	}
	if (count == nil && old != nil) || (count != nil && old != nil && *count < *old) {
		value := int32(0)
		if count != nil {
			value = *count
		}
		errs = append(errs, field.Invalid(p.Child("collisionCount"), value, "cannot be decremented"))
	}
	return errs
}
