package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// kubectlRunNginx is the body `kubectl run nginx --image=nginx` sends.
const kubectlRunNginx = `
kind: Pod
apiVersion: v1
metadata:
  name: nginx
  creationTimestamp: null
  labels: {run: nginx}
spec:
  containers:
  - name: nginx
    image: nginx
    resources: {}
  restartPolicy: Always
  dnsPolicy: ClusterFirst
status: {}
`

// TestBarePodAfterAdmission compares with `kubectl get pod nginx -o yaml` on a v1.33 kubeadm
// cluster, minus the kube-api-access-* token volume and its volumeMounts, and minus nodeName.
func TestBarePodAfterAdmission(t *testing.T) {
	pod := &corev1.Pod{}
	decodeYAML(t, kubectlRunNginx, pod)
	Default(pod)
	AdmitPod(pod)
	assertYAML(t, field(t, pod, "spec"), `
containers:
- image: nginx
  imagePullPolicy: Always
  name: nginx
  resources: {}
  terminationMessagePath: /dev/termination-log
  terminationMessagePolicy: File
dnsPolicy: ClusterFirst
enableServiceLinks: true
preemptionPolicy: PreemptLowerPriority
priority: 0
restartPolicy: Always
schedulerName: default-scheduler
securityContext: {}
serviceAccount: default
serviceAccountName: default
terminationGracePeriodSeconds: 30
tolerations:
- effect: NoExecute
  key: node.kubernetes.io/not-ready
  operator: Exists
  tolerationSeconds: 300
- effect: NoExecute
  key: node.kubernetes.io/unreachable
  operator: Exists
  tolerationSeconds: 300
`)
	if pod.Spec.AutomountServiceAccountToken != nil {
		t.Errorf("automountServiceAccountToken must stay unset, got %v", *pod.Spec.AutomountServiceAccountToken)
	}
}

func TestDefaultTolerationSeconds(t *testing.T) {
	notReady := `{effect: NoExecute, key: node.kubernetes.io/not-ready, operator: Exists, tolerationSeconds: 300}`
	unreachable := `{effect: NoExecute, key: node.kubernetes.io/unreachable, operator: Exists, tolerationSeconds: 300}`
	tests := []struct {
		name        string
		tolerations string
		want        string
	}{
		{"none", `[]`, "[" + notReady + ", " + unreachable + "]"},
		{
			"tolerate everything",
			`[{operator: Exists}]`,
			`[{operator: Exists}]`,
		},
		{
			"own not-ready toleration is kept, only unreachable is added after it",
			`[{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 60}]`,
			`[{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 60}, ` + unreachable + `]`,
		},
		{
			"a key with every effect counts",
			`[{key: node.kubernetes.io/unreachable, operator: Exists}]`,
			`[{key: node.kubernetes.io/unreachable, operator: Exists}, ` + notReady + `]`,
		},
		{
			"a NoSchedule toleration does not count",
			`[{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoSchedule}]`,
			`[{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoSchedule}, ` + notReady + ", " + unreachable + `]`,
		},
		{
			"empty key with NoExecute counts for both",
			`[{operator: Exists, effect: NoExecute}]`,
			`[{operator: Exists, effect: NoExecute}]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			decodeYAML(t, "spec: {tolerations: "+tt.tolerations+"}", pod)
			AdmitPod(pod)
			got := pod.Spec.Tolerations
			if got == nil {
				got = []corev1.Toleration{}
			}
			assertYAML(t, got, tt.want)
		})
	}
}

func TestAdmitPriority(t *testing.T) {
	tests := []struct {
		name, spec   string
		wantPriority *int32
		wantPolicy   *corev1.PreemptionPolicy
	}{
		{"no class", `{}`, ptrTo(int32(0)), ptrTo(corev1.PreemptLowerPriority)},
		{"system-cluster-critical", `{priorityClassName: system-cluster-critical}`, ptrTo(int32(2000000000)), ptrTo(corev1.PreemptLowerPriority)},
		{"system-node-critical", `{priorityClassName: system-node-critical}`, ptrTo(int32(2000001000)), ptrTo(corev1.PreemptLowerPriority)},
		{"unknown class is left for validation", `{priorityClassName: gold}`, nil, nil},
		{"client's preemptionPolicy kept", `{preemptionPolicy: Never}`, ptrTo(int32(0)), ptrTo(corev1.PreemptNever)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			decodeYAML(t, "spec: "+tt.spec, pod)
			AdmitPod(pod)
			assertSameJSON(t, pod.Spec.Priority, tt.wantPriority)
			assertSameJSON(t, pod.Spec.PreemptionPolicy, tt.wantPolicy)
		})
	}
}

func TestAdmitServiceAccount(t *testing.T) {
	tests := []struct {
		name, manifest, want string
	}{
		{"empty becomes default", `spec: {}`, "default"},
		{"named account kept", `spec: {serviceAccountName: robot}`, "robot"},
		{"deprecated field alone is honoured", `spec: {serviceAccount: robot}`, "robot"},
		{"mirror pods are left alone", `{metadata: {annotations: {kubernetes.io/config.mirror: abc}}, spec: {}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			decodeYAML(t, tt.manifest, pod)
			AdmitPod(pod)
			if pod.Spec.ServiceAccountName != tt.want || pod.Spec.DeprecatedServiceAccount != tt.want {
				t.Errorf("serviceAccountName=%q serviceAccount=%q, want both %q",
					pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount, tt.want)
			}
			if len(pod.Spec.Volumes) != 0 {
				t.Errorf("no token volume may be added, got %v", pod.Spec.Volumes)
			}
		})
	}
}
