package defaults

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// fixtures returns fresh, undefaulted copies of every kind of object the tests use.
func fixtures(t *testing.T) map[string]runtime.Object {
	t.Helper()
	decoded := func(manifest string, obj runtime.Object) runtime.Object {
		decodeYAML(t, manifest, obj)
		return obj
	}
	return map[string]runtime.Object{
		"deployment":    decoded(kubectlCreateDeployment, &appsv1.Deployment{}),
		"statefulset":   decoded(statefulSetWeb, &appsv1.StatefulSet{}),
		"daemonset":     decoded(daemonSetAgent, &appsv1.DaemonSet{}),
		"replicaset":    decoded(`spec: {template: {spec: {containers: [{name: c, image: nginx}]}}}`, &appsv1.ReplicaSet{}),
		"service":       decoded(kubectlExposeNodePort, &corev1.Service{}),
		"lb service":    decoded(`{spec: {type: LoadBalancer, sessionAffinity: ClientIP}, status: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}}`, &corev1.Service{}),
		"bare pod":      decoded(kubectlRunNginx, &corev1.Pod{}),
		"rich pod":      decoded(richPod, &corev1.Pod{}),
		"endpoints":     decoded(`{subsets: [{ports: [{port: 80}]}]}`, &corev1.Endpoints{}),
		"endpointslice": decoded(`{addressType: IPv4, ports: [{port: 80}]}`, &discoveryv1.EndpointSlice{}),
		"namespace":     decoded(`{metadata: {name: demo}}`, &corev1.Namespace{}),
		"node":          decoded(`{status: {capacity: {cpu: "2"}}}`, &corev1.Node{}),
		"configmap":     &corev1.ConfigMap{},
		"secret":        &corev1.Secret{},
	}
}

func TestDefaultIsIdempotent(t *testing.T) {
	for name, obj := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			Default(obj)
			if pod, ok := obj.(*corev1.Pod); ok {
				AdmitPod(pod)
			}
			once := obj.DeepCopyObject()
			Default(obj)
			if pod, ok := obj.(*corev1.Pod); ok {
				AdmitPod(pod)
			}
			assertSameJSON(t, obj, once)
		})
	}
}

// TestUserValuesAreKept: objects that already state a non-default value for every defaulted
// field come out of Default (and AdmitPod) unchanged.
func TestUserValuesAreKept(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		obj      runtime.Object
	}{
		{
			name: "pod",
			obj:  &corev1.Pod{},
			manifest: `
metadata: {name: p}
spec:
  dnsPolicy: Default
  restartPolicy: Never
  schedulerName: my-scheduler
  securityContext: {runAsUser: 1000}
  terminationGracePeriodSeconds: 0
  enableServiceLinks: false
  serviceAccountName: robot
  serviceAccount: robot
  automountServiceAccountToken: false
  hostNetwork: true
  priority: 7
  preemptionPolicy: Never
  tolerations: [{operator: Exists, effect: NoExecute, tolerationSeconds: 5}]
  containers:
  - name: c
    image: nginx
    imagePullPolicy: Never
    terminationMessagePath: /tmp/msg
    terminationMessagePolicy: FallbackToLogsOnError
    ports: [{containerPort: 80, hostPort: 80, protocol: SCTP}]
    env: [{name: X, valueFrom: {fieldRef: {apiVersion: v1, fieldPath: metadata.name}}}]
    resources: {limits: {cpu: "1"}, requests: {cpu: 500m, memory: 1Mi}}
    livenessProbe:
      httpGet: {path: /healthz, port: 80, scheme: HTTPS}
      timeoutSeconds: 2
      periodSeconds: 3
      successThreshold: 1
      failureThreshold: 5
    startupProbe:
      grpc: {port: 1, service: liveness}
      timeoutSeconds: 4
      periodSeconds: 4
      successThreshold: 1
      failureThreshold: 40
    lifecycle:
      postStart: {httpGet: {path: /start, port: 80, scheme: HTTPS}}
  volumes:
  - {name: e, emptyDir: {medium: Memory}}
  - {name: cm, configMap: {name: x, defaultMode: 256}}
  - {name: s, secret: {secretName: x, defaultMode: 384}}
  - {name: h, hostPath: {path: /x, type: Directory}}
  - {name: d, downwardAPI: {defaultMode: 292, items: [{path: n, fieldRef: {apiVersion: v1, fieldPath: metadata.name}}]}}
  - {name: p, projected: {defaultMode: 256, sources: [{serviceAccountToken: {path: t, expirationSeconds: 7200}}]}}
  - {name: v, ephemeral: {volumeClaimTemplate: {spec: {volumeMode: Block, resources: {requests: {storage: 1Gi}}}}}}
`,
		},
		{
			name: "system-critical pod",
			obj:  &corev1.Pod{},
			manifest: `
spec:
  serviceAccountName: coredns
  serviceAccount: coredns
  priorityClassName: system-cluster-critical
  priority: 2000000000
  preemptionPolicy: PreemptLowerPriority
  tolerations: [{key: node.kubernetes.io/not-ready, effect: NoExecute, operator: Exists}, {key: node.kubernetes.io/unreachable, effect: NoExecute, operator: Exists}]
  enableServiceLinks: true
  dnsPolicy: Default
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
`,
		},
		{
			name: "service",
			obj:  &corev1.Service{},
			manifest: `
spec:
  type: LoadBalancer
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  ports: [{name: dns, port: 53, protocol: UDP, targetPort: dns}]
  externalTrafficPolicy: Local
  internalTrafficPolicy: Local
  allocateLoadBalancerNodePorts: false
status:
  loadBalancer: {ingress: [{ip: 1.2.3.4, ipMode: Proxy}]}
`,
		},
		{
			name: "deployment",
			obj:  &appsv1.Deployment{},
			manifest: `
spec:
  replicas: 0
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}
  revisionHistoryLimit: 0
  progressDeadlineSeconds: 60
`,
		},
		{
			name: "statefulset",
			obj:  &appsv1.StatefulSet{},
			manifest: `
spec:
  replicas: 0
  podManagementPolicy: Parallel
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Delete}
  revisionHistoryLimit: 2
  volumeClaimTemplates:
  - apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: data}
    spec: {volumeMode: Block}
    status: {phase: Bound}
`,
		},
		{
			name:     "daemonset",
			obj:      &appsv1.DaemonSet{},
			manifest: `spec: {updateStrategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}, revisionHistoryLimit: 1}`,
		},
		{
			name:     "replicaset",
			obj:      &appsv1.ReplicaSet{},
			manifest: `spec: {replicas: 0}`,
		},
		{
			name:     "endpointslice",
			obj:      &discoveryv1.EndpointSlice{},
			manifest: `{addressType: IPv4, ports: [{name: http, port: 80, protocol: UDP}]}`,
		},
		{
			name:     "secret",
			obj:      &corev1.Secret{},
			manifest: `{type: kubernetes.io/tls}`,
		},
		{
			name:     "node",
			obj:      &corev1.Node{},
			manifest: `{status: {capacity: {cpu: "2"}, allocatable: {cpu: 1500m}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decodeYAML(t, tt.manifest, tt.obj)
			want := tt.obj.DeepCopyObject()
			Default(tt.obj)
			if pod, ok := tt.obj.(*corev1.Pod); ok {
				AdmitPod(pod)
			}
			assertSameJSON(t, tt.obj, withTemplateDefaults(want))
		})
	}
}

// withTemplateDefaults applies only the pod template defaults to a workload, so that
// TestUserValuesAreKept can compare the workload fields on their own.
func withTemplateDefaults(obj runtime.Object) runtime.Object {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		defaultPodTemplate(&o.Spec.Template)
	case *appsv1.StatefulSet:
		defaultPodTemplate(&o.Spec.Template)
	case *appsv1.DaemonSet:
		defaultPodTemplate(&o.Spec.Template)
	case *appsv1.ReplicaSet:
		defaultPodTemplate(&o.Spec.Template)
	}
	return obj
}
