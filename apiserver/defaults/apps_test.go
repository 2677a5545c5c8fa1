package defaults

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// kubectlCreateDeployment is the body `kubectl create deployment hello
// --image=gcr.io/google-samples/hello-app:1.0` sends.
const kubectlCreateDeployment = `
kind: Deployment
apiVersion: apps/v1
metadata:
  name: hello
  creationTimestamp: null
  labels: {app: hello}
spec:
  replicas: 1
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      creationTimestamp: null
      labels: {app: hello}
    spec:
      containers:
      - name: hello-app
        image: gcr.io/google-samples/hello-app:1.0
        resources: {}
  strategy: {}
status: {}
`

const statefulSetWeb = `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  selector:
    matchLabels: {app: nginx}
  serviceName: nginx
  replicas: 3
  template:
    metadata:
      labels: {app: nginx}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: nginx
        image: registry.k8s.io/nginx-slim:0.24
        ports:
        - containerPort: 80
          name: web
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: my-storage-class
      resources:
        requests: {storage: 1Gi}
`

const daemonSetAgent = `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector:
    matchLabels: {name: agent}
  template:
    metadata:
      labels: {name: agent}
    spec:
      tolerations:
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      containers:
      - name: agent
        image: busybox:latest
        command: [sleep, infinity]
`

// TestWorkloadSpecs compares the defaulted spec with what `kubectl get -o yaml` shows on a
// v1.33 kubeadm cluster.
func TestWorkloadSpecs(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		obj      runtime.Object
		wantSpec string
	}{
		{
			name:     "kubectl create deployment hello",
			manifest: kubectlCreateDeployment,
			obj:      &appsv1.Deployment{},
			wantSpec: `
progressDeadlineSeconds: 600
replicas: 1
revisionHistoryLimit: 10
selector:
  matchLabels:
    app: hello
strategy:
  rollingUpdate:
    maxSurge: 25%
    maxUnavailable: 25%
  type: RollingUpdate
template:
  metadata:
    creationTimestamp: null
    labels:
      app: hello
  spec:
    containers:
    - image: gcr.io/google-samples/hello-app:1.0
      imagePullPolicy: IfNotPresent
      name: hello-app
      resources: {}
      terminationMessagePath: /dev/termination-log
      terminationMessagePolicy: File
    dnsPolicy: ClusterFirst
    restartPolicy: Always
    schedulerName: default-scheduler
    securityContext: {}
    terminationGracePeriodSeconds: 30
`,
		},
		{
			name:     "statefulset web with a volume claim template",
			manifest: statefulSetWeb,
			obj:      &appsv1.StatefulSet{},
			wantSpec: `
persistentVolumeClaimRetentionPolicy:
  whenDeleted: Retain
  whenScaled: Retain
podManagementPolicy: OrderedReady
replicas: 3
revisionHistoryLimit: 10
selector:
  matchLabels:
    app: nginx
serviceName: nginx
template:
  metadata:
    creationTimestamp: null
    labels:
      app: nginx
  spec:
    containers:
    - image: registry.k8s.io/nginx-slim:0.24
      imagePullPolicy: IfNotPresent
      name: nginx
      ports:
      - containerPort: 80
        name: web
        protocol: TCP
      resources: {}
      terminationMessagePath: /dev/termination-log
      terminationMessagePolicy: File
      volumeMounts:
      - mountPath: /usr/share/nginx/html
        name: www
    dnsPolicy: ClusterFirst
    restartPolicy: Always
    schedulerName: default-scheduler
    securityContext: {}
    terminationGracePeriodSeconds: 10
updateStrategy:
  rollingUpdate:
    partition: 0
  type: RollingUpdate
volumeClaimTemplates:
- apiVersion: v1
  kind: PersistentVolumeClaim
  metadata:
    creationTimestamp: null
    name: www
  spec:
    accessModes:
    - ReadWriteOnce
    resources:
      requests:
        storage: 1Gi
    storageClassName: my-storage-class
    volumeMode: Filesystem
  status:
    phase: Pending
`,
		},
		{
			name:     "daemonset: rolling update one node at a time, template tolerations untouched",
			manifest: daemonSetAgent,
			obj:      &appsv1.DaemonSet{},
			wantSpec: `
revisionHistoryLimit: 10
selector:
  matchLabels:
    name: agent
template:
  metadata:
    creationTimestamp: null
    labels:
      name: agent
  spec:
    containers:
    - command: [sleep, infinity]
      image: busybox:latest
      imagePullPolicy: Always
      name: agent
      resources: {}
      terminationMessagePath: /dev/termination-log
      terminationMessagePolicy: File
    dnsPolicy: ClusterFirst
    restartPolicy: Always
    schedulerName: default-scheduler
    securityContext: {}
    terminationGracePeriodSeconds: 30
    tolerations:
    - effect: NoSchedule
      key: node-role.kubernetes.io/control-plane
      operator: Exists
updateStrategy:
  rollingUpdate:
    maxSurge: 0
    maxUnavailable: 1
  type: RollingUpdate
`,
		},
		{
			name: "replicaset without replicas",
			manifest: `
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:
  selector:
    matchLabels: {app: rs}
  template:
    metadata:
      labels: {app: rs}
    spec:
      containers:
      - {name: c, image: "nginx:1.25"}
`,
			obj: &appsv1.ReplicaSet{},
			wantSpec: `
replicas: 1
selector:
  matchLabels:
    app: rs
template:
  metadata:
    creationTimestamp: null
    labels:
      app: rs
  spec:
    containers:
    - image: nginx:1.25
      imagePullPolicy: IfNotPresent
      name: c
      resources: {}
      terminationMessagePath: /dev/termination-log
      terminationMessagePolicy: File
    dnsPolicy: ClusterFirst
    restartPolicy: Always
    schedulerName: default-scheduler
    securityContext: {}
    terminationGracePeriodSeconds: 30
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decodeYAML(t, tt.manifest, tt.obj)
			Default(tt.obj)
			assertYAML(t, field(t, tt.obj, "spec"), tt.wantSpec)
		})
	}
}

// TestPodTemplateGetsNoPodOnlyDefaults: a template inside a workload does not get the defaults
// upstream reserves for Pod objects (enableServiceLinks, requests from limits, hostPort on
// hostNetwork).
func TestPodTemplateGetsNoPodOnlyDefaults(t *testing.T) {
	d := &appsv1.Deployment{}
	decodeYAML(t, `
spec:
  template:
    spec:
      hostNetwork: true
      containers:
      - name: c
        image: nginx:1.25
        ports: [{containerPort: 80}]
        resources:
          limits: {cpu: 200m}
`, d)
	Default(d)
	assertYAML(t, field(t, &d.Spec.Template, "spec"), `
containers:
- image: nginx:1.25
  imagePullPolicy: IfNotPresent
  name: c
  ports:
  - containerPort: 80
    protocol: TCP
  resources:
    limits:
      cpu: 200m
  terminationMessagePath: /dev/termination-log
  terminationMessagePolicy: File
dnsPolicy: ClusterFirst
hostNetwork: true
restartPolicy: Always
schedulerName: default-scheduler
securityContext: {}
terminationGracePeriodSeconds: 30
`)
}

// TestStrategyQuirks pins upstream behaviour that depends on what the client already chose.
func TestStrategyQuirks(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		obj      runtime.Object
		path     func(runtime.Object) any
		want     string
	}{
		{
			name:     "Recreate deployment gets no rollingUpdate",
			manifest: `spec: {strategy: {type: Recreate}}`,
			obj:      &appsv1.Deployment{},
			path:     func(o runtime.Object) any { return o.(*appsv1.Deployment).Spec.Strategy },
			want:     `type: Recreate`,
		},
		{
			name:     "deployment rollingUpdate half given is completed",
			manifest: `spec: {strategy: {rollingUpdate: {maxSurge: 1}}}`,
			obj:      &appsv1.Deployment{},
			path:     func(o runtime.Object) any { return o.(*appsv1.Deployment).Spec.Strategy },
			want:     "type: RollingUpdate\nrollingUpdate: {maxSurge: 1, maxUnavailable: 25%}",
		},
		{
			name:     "statefulset type RollingUpdate written by the client gets no partition",
			manifest: `spec: {updateStrategy: {type: RollingUpdate}}`,
			obj:      &appsv1.StatefulSet{},
			path:     func(o runtime.Object) any { return o.(*appsv1.StatefulSet).Spec.UpdateStrategy },
			want:     `type: RollingUpdate`,
		},
		{
			name:     "statefulset rollingUpdate given without partition gets partition 0",
			manifest: `spec: {updateStrategy: {type: RollingUpdate, rollingUpdate: {}}}`,
			obj:      &appsv1.StatefulSet{},
			path:     func(o runtime.Object) any { return o.(*appsv1.StatefulSet).Spec.UpdateStrategy },
			want:     "type: RollingUpdate\nrollingUpdate: {partition: 0}",
		},
		{
			name:     "statefulset retention policy half given is completed",
			manifest: `spec: {persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete}}`,
			obj:      &appsv1.StatefulSet{},
			path:     func(o runtime.Object) any { return o.(*appsv1.StatefulSet).Spec.PersistentVolumeClaimRetentionPolicy },
			want:     `{whenDeleted: Delete, whenScaled: Retain}`,
		},
		{
			name:     "OnDelete daemonset gets no rollingUpdate",
			manifest: `spec: {updateStrategy: {type: OnDelete}}`,
			obj:      &appsv1.DaemonSet{},
			path:     func(o runtime.Object) any { return o.(*appsv1.DaemonSet).Spec.UpdateStrategy },
			want:     `type: OnDelete`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decodeYAML(t, tt.manifest, tt.obj)
			Default(tt.obj)
			assertYAML(t, tt.path(tt.obj), tt.want)
		})
	}
}
