package defaults

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

var busyboxDigest = "busybox@sha256:" + strings.Repeat("0f", 32)

// richPod exercises every nested default of a Pod.
var richPod = `
apiVersion: v1
kind: Pod
metadata: {name: rich}
spec:
  hostNetwork: true
  serviceAccount: legacy-robot
  initContainers:
  - name: init
    image: ` + busyboxDigest + `
    ports: [{containerPort: 9000}]
    resources:
      limits: {cpu: "0.0001"}
  containers:
  - name: app
    image: registry:5000/app
    ports:
    - containerPort: 8080
    - {containerPort: 53, protocol: UDP, hostPort: 5353}
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - {name: PLAIN, value: x}
    resources:
      limits: {cpu: 500m, memory: 128Mi}
      requests: {cpu: 100m}
    livenessProbe:
      httpGet: {port: 8080}
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 5
    startupProbe:
      grpc: {port: 9090}
    lifecycle:
      preStop:
        httpGet: {port: 8080, path: /quit}
  ephemeralContainers:
  - name: debugger
    image: nicolaka/netshoot
    readinessProbe:
      exec: {command: ["true"]}
  volumes:
  - name: scratch
  - name: config
    configMap: {name: app-config}
  - name: creds
    secret: {secretName: app-creds}
  - name: host
    hostPath: {path: /var/log}
  - name: info
    downwardAPI:
      items:
      - path: labels
        fieldRef: {fieldPath: metadata.labels}
  - name: token
    projected:
      sources:
      - serviceAccountToken: {path: token}
      - downwardAPI:
          items:
          - path: ns
            fieldRef: {fieldPath: metadata.namespace}
  - name: cache
    ephemeral:
      volumeClaimTemplate:
        spec:
          accessModes: [ReadWriteOnce]
          resources:
            requests: {storage: 1Gi}
`

func TestPodNestedDefaults(t *testing.T) {
	pod := &corev1.Pod{}
	decodeYAML(t, richPod, pod)
	Default(pod)
	assertYAML(t, field(t, pod, "spec"), `
containers:
- env:
  - name: POD_NAME
    valueFrom:
      fieldRef:
        apiVersion: v1
        fieldPath: metadata.name
  - {name: PLAIN, value: x}
  image: registry:5000/app
  imagePullPolicy: Always
  lifecycle:
    preStop:
      httpGet:
        path: /quit
        port: 8080
        scheme: HTTP
  livenessProbe:
    failureThreshold: 3
    httpGet:
      path: /
      port: 8080
      scheme: HTTP
    periodSeconds: 10
    successThreshold: 1
    timeoutSeconds: 1
  name: app
  ports:
  - containerPort: 8080
    hostPort: 8080
    protocol: TCP
  - containerPort: 53
    hostPort: 5353
    protocol: UDP
  readinessProbe:
    failureThreshold: 3
    periodSeconds: 5
    successThreshold: 1
    tcpSocket:
      port: 8080
    timeoutSeconds: 1
  resources:
    limits:
      cpu: 500m
      memory: 128Mi
    requests:
      cpu: 100m
      memory: 128Mi
  startupProbe:
    failureThreshold: 3
    grpc:
      port: 9090
      service: ""
    periodSeconds: 10
    successThreshold: 1
    timeoutSeconds: 1
  terminationMessagePath: /dev/termination-log
  terminationMessagePolicy: File
dnsPolicy: ClusterFirst
enableServiceLinks: true
ephemeralContainers:
- image: nicolaka/netshoot
  imagePullPolicy: Always
  name: debugger
  readinessProbe:
    exec:
      command: ["true"]
    failureThreshold: 3
    periodSeconds: 10
    successThreshold: 1
    timeoutSeconds: 1
  resources: {}
  terminationMessagePath: /dev/termination-log
  terminationMessagePolicy: File
hostNetwork: true
initContainers:
- image: `+busyboxDigest+`
  imagePullPolicy: IfNotPresent
  name: init
  ports:
  - containerPort: 9000
    hostPort: 9000
    protocol: TCP
  resources:
    limits:
      cpu: 1m
    requests:
      cpu: 1m
  terminationMessagePath: /dev/termination-log
  terminationMessagePolicy: File
restartPolicy: Always
schedulerName: default-scheduler
securityContext: {}
serviceAccount: legacy-robot
serviceAccountName: legacy-robot
terminationGracePeriodSeconds: 30
volumes:
- emptyDir: {}
  name: scratch
- configMap:
    defaultMode: 420
    name: app-config
  name: config
- name: creds
  secret:
    defaultMode: 420
    secretName: app-creds
- hostPath:
    path: /var/log
    type: ""
  name: host
- downwardAPI:
    defaultMode: 420
    items:
    - fieldRef:
        apiVersion: v1
        fieldPath: metadata.labels
      path: labels
  name: info
- name: token
  projected:
    defaultMode: 420
    sources:
    - serviceAccountToken:
        expirationSeconds: 3600
        path: token
    - downwardAPI:
        items:
        - fieldRef:
            apiVersion: v1
            fieldPath: metadata.namespace
          path: ns
- ephemeral:
    volumeClaimTemplate:
      metadata:
        creationTimestamp: null
      spec:
        accessModes:
        - ReadWriteOnce
        resources:
          requests:
            storage: 1Gi
        volumeMode: Filesystem
  name: cache
`)
}

func TestLegacyVolumeSources(t *testing.T) {
	pod := &corev1.Pod{}
	decodeYAML(t, `
spec:
  volumes:
  - name: iscsi
    iscsi: {targetPortal: "10.0.0.1:3260", iqn: "iqn.2001-04.com.example:storage", lun: 0}
  - name: rbd
    rbd: {monitors: ["10.0.0.2:6789"], image: foo}
  - name: azure
    azureDisk: {diskName: d, diskURI: "https://example/d.vhd"}
  - name: scaleio
    scaleIO: {gateway: "https://gw", system: s, secretRef: {name: s}}
`, pod)
	Default(pod)
	assertYAML(t, field(t, pod, "spec").(map[string]any)["volumes"], `
- name: iscsi
  iscsi: {targetPortal: "10.0.0.1:3260", iqn: "iqn.2001-04.com.example:storage", lun: 0, iscsiInterface: default}
- name: rbd
  rbd: {monitors: ["10.0.0.2:6789"], image: foo, pool: rbd, user: admin, keyring: /etc/ceph/keyring}
- name: azure
  azureDisk: {diskName: d, diskURI: "https://example/d.vhd", cachingMode: ReadWrite, fsType: ext4, readOnly: false, kind: Shared}
- name: scaleio
  scaleIO: {gateway: "https://gw", system: s, secretRef: {name: s}, storageMode: ThinProvisioned, fsType: xfs}
`)
}

func TestServiceAccountAlias(t *testing.T) {
	tests := []struct {
		name, manifest, wantName string
	}{
		{"only the deprecated field", `{serviceAccount: old}`, "old"},
		{"only serviceAccountName", `{serviceAccountName: new}`, "new"},
		{"both: serviceAccountName wins", `{serviceAccount: old, serviceAccountName: new}`, "new"},
		{"neither stays empty in a template", `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &corev1.PodSpec{}
			decodeYAML(t, tt.manifest, spec)
			defaultPodSpec(spec)
			if spec.ServiceAccountName != tt.wantName || spec.DeprecatedServiceAccount != tt.wantName {
				t.Errorf("serviceAccountName=%q serviceAccount=%q, want both %q",
					spec.ServiceAccountName, spec.DeprecatedServiceAccount, tt.wantName)
			}
		})
	}
}
