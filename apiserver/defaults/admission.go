package defaults

import (
	corev1 "k8s.io/api/core/v1"
)

// AdmitPod applies what kube-apiserver's default admission plugins add to a new Pod (not to pod
// templates): serviceAccountName/serviceAccount "default" when empty (and automountServiceAccountToken untouched),
// the node.kubernetes.io/not-ready and node.kubernetes.io/unreachable NoExecute tolerations with
// tolerationSeconds 300 unless already tolerated (DefaultTolerationSeconds), priority 0 when no priorityClassName
// (Priority plugin), as the real plugins do. (The projected service-account token volume is NOT added.)
//
// Like the real Priority plugin it also sets preemptionPolicy PreemptLowerPriority, and it
// resolves the built-in system-cluster-critical and system-node-critical classes.
//
// Call it once, on create, after Default. The real plugins can also refuse a pod (unknown
// service account or PriorityClass, a priority that disagrees with its class); AdmitPod only
// mutates and leaves such pods as they are for validation to judge.
func AdmitPod(pod *corev1.Pod) {
	admitServiceAccount(pod)
	admitDefaultTolerationSeconds(pod)
	admitPriority(pod)
}

// mirrorPodAnnotation marks the API copy of a kubelet static pod; the ServiceAccount plugin leaves
// such pods alone because the kubelet, not the API, runs them.
const mirrorPodAnnotation = "kubernetes.io/config.mirror"

// admitServiceAccount mirrors the ServiceAccount admission plugin: a pod that names no service
// account runs as "default". (The plugin's token volume and the service account's
// imagePullSecrets are not added.)
func admitServiceAccount(pod *corev1.Pod) {
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return
	}
	syncDeprecatedServiceAccount(&pod.Spec) // a lone serviceAccount counts as serviceAccountName
	setIfEmpty(&pod.Spec.ServiceAccountName, "default")
	pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
}

// The DefaultTolerationSeconds plugin's flags --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds both default to 300: a pod stays bound to a node that
// went NotReady or unreachable for five minutes before the taint manager evicts it.
const defaultTolerationSeconds int64 = 300

// admitDefaultTolerationSeconds mirrors the DefaultTolerationSeconds admission plugin.
func admitDefaultTolerationSeconds(pod *corev1.Pod) {
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		if toleratesNoExecute(pod.Spec.Tolerations, key) {
			continue
		}
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key:               key,
			Operator:          corev1.TolerationOpExists,
			Effect:            corev1.TaintEffectNoExecute,
			TolerationSeconds: ptrTo(defaultTolerationSeconds),
		})
	}
}

// toleratesNoExecute is the plugin's own, coarse test: a toleration counts if its key is the
// taint's key or empty (all keys) and its effect is NoExecute or empty (all effects). Operator,
// value and tolerationSeconds are not looked at.
func toleratesNoExecute(tolerations []corev1.Toleration, key string) bool {
	for _, t := range tolerations {
		if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") {
			return true
		}
	}
	return false
}

// systemPriorityClasses are the PriorityClasses every cluster has (created by kube-apiserver at
// start-up). minilab serves no PriorityClass API, so these are the only ones a pod can name.
var systemPriorityClasses = map[string]int32{
	"system-cluster-critical": 2000000000,
	"system-node-critical":    2000001000,
}

// admitPriority mirrors the Priority admission plugin in a cluster without a globalDefault
// PriorityClass (kubeadm creates none): a pod without priorityClassName gets priority 0 and
// preemptionPolicy PreemptLowerPriority; a pod naming a system class gets that class's value.
// Values the client already set are kept (the real plugin refuses them if they disagree).
func admitPriority(pod *corev1.Pod) {
	spec := &pod.Spec
	priority := int32(0)
	if spec.PriorityClassName != "" {
		value, known := systemPriorityClasses[spec.PriorityClassName]
		if !known {
			return // the real plugin answers: no PriorityClass with name ... was found
		}
		priority = value
	}
	setIfNil(&spec.Priority, priority)
	setIfNil(&spec.PreemptionPolicy, corev1.PreemptLowerPriority)
}
