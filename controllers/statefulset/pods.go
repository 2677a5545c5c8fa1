package statefulset

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podNamePattern splits a pod name into its StatefulSet's name and its
// ordinal, as upstream's statefulPodRegex does.
var podNamePattern = regexp.MustCompile("^(.*)-([0-9]+)$")

// parentAndOrdinal returns the StatefulSet name and the ordinal encoded in a
// pod's name, or ("", -1) if it has none.
func parentAndOrdinal(pod *corev1.Pod) (string, int) {
	m := podNamePattern.FindStringSubmatch(pod.Name)
	if m == nil {
		return "", -1
	}
	n, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return "", -1
	}
	return m[1], int(n)
}

func ordinalOf(pod *corev1.Pod) int {
	_, ordinal := parentAndOrdinal(pod)
	return ordinal
}

// isMemberOf says whether a pod's name makes it one of set's: only such
// pods are adopted, whatever their labels.
func isMemberOf(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, ordinal := parentAndOrdinal(pod)
	return ordinal >= 0 && parent == set.Name
}

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", set.Name, ordinal)
}

// startOrdinal is spec.ordinals.start (StatefulSetStartOrdinal, GA in
// v1.31): the ordinal of the first pod.
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

func replicasOf(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

// inOrdinalRange says whether the pod is one the set wants now, as opposed
// to one left over from a larger scale (condemned).
func inOrdinalRange(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	o, start := ordinalOf(pod), startOrdinal(set)
	return o >= start && o < start+replicasOf(set)
}

func claimName(set *appsv1.StatefulSet, claim *corev1.PersistentVolumeClaim, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", claim.Name, set.Name, ordinal)
}

// newPod builds the pod of one ordinal from a revision's template, as
// upstream's newVersionedStatefulSetPod: the template's labels, annotations,
// finalizers and spec (GetPodFromTemplate, which also sets generateName
// "<set>-"), the set as controller, the identity (name, hostname,
// subdomain, identity labels), a volume per claim template and the
// revision label.
func newPod(set *appsv1.StatefulSet, template *corev1.PodTemplateSpec, ordinal int, revision string) *corev1.Pod {
	t := template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            podName(set, ordinal),
			Namespace:       set.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Spec: t.Spec,
	}
	pod.GenerateName = set.Name + "-"
	if len(validation.NameIsDNSSubdomain(pod.GenerateName, true)) != 0 {
		pod.GenerateName = set.Name
	}
	setIdentity(set, pod)
	// Set only at creation: both fields are immutable afterwards.
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
	pod.Spec.Volumes = withClaimVolumes(set, ordinal, pod.Spec.Volumes)
	pod.Labels[appsv1.StatefulSetRevisionLabel] = revision
	return pod
}

// setIdentity puts the identity labels on a pod (upstream's updateIdentity;
// the pod-index label is the PodIndexLabel feature, on by default).
func setIdentity(set *appsv1.StatefulSet, pod *corev1.Pod) {
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinalOf(pod))
}

// identityMatches is upstream's check that a pod still carries its
// identity; a pod that lost its pod-name label gets it back.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, ordinal := parentAndOrdinal(pod)
	return ordinal >= 0 && parent == set.Name && pod.Namespace == set.Namespace &&
		pod.Labels[appsv1.StatefulSetPodNameLabel] == pod.Name
}

// withClaimVolumes gives the pod one persistentVolumeClaim volume per claim
// template, named after the template and replacing a template volume of
// the same name (upstream's updateStorage, in template order rather than
// upstream's map order). The claims themselves are not created: minilab
// serves no PersistentVolumeClaims.
func withClaimVolumes(set *appsv1.StatefulSet, ordinal int, volumes []corev1.Volume) []corev1.Volume {
	if len(set.Spec.VolumeClaimTemplates) == 0 {
		return volumes
	}
	claims := map[string]bool{}
	var out []corev1.Volume
	for i := range set.Spec.VolumeClaimTemplates {
		claim := &set.Spec.VolumeClaimTemplates[i]
		claims[claim.Name] = true
		out = append(out, corev1.Volume{
			Name: claim.Name,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: claimName(set, claim, ordinal),
			}},
		})
	}
	for _, v := range volumes {
		if !claims[v.Name] {
			out = append(out, v)
		}
	}
	return out
}

// revisionOf is the revision a pod was made from.
func revisionOf(pod *corev1.Pod) string {
	return pod.Labels[appsv1.StatefulSetRevisionLabel]
}

// isCreated: the pod exists in the API (the API server sets phase Pending
// on create); the placeholders for missing ordinals have no phase.
func isCreated(pod *corev1.Pod) bool { return pod.Status.Phase != "" }

func isFinished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
}

func isTerminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

func isRunningAndReady(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && isPodReady(pod)
}

func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func isPodReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// isAvailable: Ready for at least minReadySeconds (upstream's
// podutil.IsPodAvailable).
func isAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !isPodReady(pod) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	since := readyCondition(pod).LastTransitionTime
	return !since.IsZero() && since.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// isUnavailable: not available, or on its way out.
func isUnavailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return !isAvailable(pod, minReadySeconds, now) || isTerminating(pod)
}
