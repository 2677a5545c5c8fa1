package defaults

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// How many old ReplicaSets (Deployment) or ControllerRevisions (StatefulSet, DaemonSet) are kept
// for `kubectl rollout undo`.
const defaultRevisionHistoryLimit int32 = 10

// defaultDeployment applies upstream SetDefaults_Deployment (apps/v1) and the pod template defaults.
func defaultDeployment(d *appsv1.Deployment) {
	spec := &d.Spec
	setIfNil(&spec.Replicas, int32(1))

	strategy := &spec.Strategy
	setIfEmpty(&strategy.Type, appsv1.RollingUpdateDeploymentStrategyType)
	if strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		setIfNil(&strategy.RollingUpdate, appsv1.RollingUpdateDeployment{})
		// During a rollout at most a quarter of the pods may be down and at most a quarter extra
		// may exist.
		setIfNil(&strategy.RollingUpdate.MaxUnavailable, intstr.FromString("25%"))
		setIfNil(&strategy.RollingUpdate.MaxSurge, intstr.FromString("25%"))
	}
	setIfNil(&spec.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	// A rollout that makes no progress for ten minutes is reported as failed (ProgressDeadlineExceeded).
	setIfNil(&spec.ProgressDeadlineSeconds, int32(600))
	defaultPodTemplate(&spec.Template)
}

// defaultReplicaSet applies upstream SetDefaults_ReplicaSet (apps/v1) and the pod template defaults.
func defaultReplicaSet(rs *appsv1.ReplicaSet) {
	setIfNil(&rs.Spec.Replicas, int32(1))
	defaultPodTemplate(&rs.Spec.Template)
}

// defaultStatefulSet applies upstream SetDefaults_StatefulSet (apps/v1), the pod template
// defaults and the defaults of the volume claim templates.
func defaultStatefulSet(sts *appsv1.StatefulSet) {
	spec := &sts.Spec
	// Pods are created one at a time, in ordinal order, each waiting for the previous to be Ready.
	setIfEmpty(&spec.PodManagementPolicy, appsv1.OrderedReadyPodManagement)

	// Upstream only creates rollingUpdate (and so partition 0) when it also picks the strategy
	// type; a client that writes type RollingUpdate without rollingUpdate gets no partition.
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		setIfNil(&spec.UpdateStrategy.RollingUpdate, appsv1.RollingUpdateStatefulSetStrategy{})
	}
	if spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && spec.UpdateStrategy.RollingUpdate != nil {
		setIfNil(&spec.UpdateStrategy.RollingUpdate.Partition, int32(0))
		// maxUnavailable stays unset: its default belongs to the MaxUnavailableStatefulSet
		// feature gate, which is off in v1.33.
	}

	// StatefulSetAutoDeletePVC (GA in v1.32): claims are kept when the set is deleted or scaled down.
	setIfNil(&spec.PersistentVolumeClaimRetentionPolicy, appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{})
	setIfEmpty(&spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	setIfEmpty(&spec.PersistentVolumeClaimRetentionPolicy.WhenScaled, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)

	setIfNil(&spec.Replicas, int32(1))
	setIfNil(&spec.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	defaultPodTemplate(&spec.Template)

	for i := range spec.VolumeClaimTemplates {
		claim := &spec.VolumeClaimTemplates[i]
		// A claim template reads back as a full PersistentVolumeClaim with apiVersion and kind:
		// the apps/v1 conversion writes them to keep what clients saw before v1.17.
		claim.APIVersion = "v1"
		claim.Kind = "PersistentVolumeClaim"
		// SetDefaults_PersistentVolumeClaim runs on templates too, hence "status: {phase: Pending}".
		setIfEmpty(&claim.Status.Phase, corev1.ClaimPending)
		defaultPersistentVolumeClaimSpec(&claim.Spec)
		roundResourceList(claim.Status.Capacity)
	}
}

// defaultDaemonSet applies upstream SetDefaults_DaemonSet (apps/v1) and the pod template defaults.
func defaultDaemonSet(ds *appsv1.DaemonSet) {
	strategy := &ds.Spec.UpdateStrategy
	setIfEmpty(&strategy.Type, appsv1.RollingUpdateDaemonSetStrategyType)
	if strategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		setIfNil(&strategy.RollingUpdate, appsv1.RollingUpdateDaemonSet{})
		// One node at a time: delete the old pod, then start the new one (no surge).
		setIfNil(&strategy.RollingUpdate.MaxUnavailable, intstr.FromInt32(1))
		setIfNil(&strategy.RollingUpdate.MaxSurge, intstr.FromInt32(0))
	}
	setIfNil(&ds.Spec.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	defaultPodTemplate(&ds.Spec.Template)
}
