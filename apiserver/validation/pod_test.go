package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// sidecar is a defaulted container, usable as a second or init container.
func sidecar(name string) corev1.Container {
	return corev1.Container{
		Name: name, Image: "busybox",
		TerminationMessagePath: corev1.TerminationMessagePathDefault, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		ImagePullPolicy: corev1.PullAlways,
	}
}

func TestPodCreate(t *testing.T) {
	c0 := func(p *corev1.Pod) *corev1.Container { return &p.Spec.Containers[0] }
	cases := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		// containers
		{"container without image", func(p *corev1.Pod) { c0(p).Image = "" },
			[]string{`spec.containers[0].image: Required value`}},
		{"image with surrounding spaces", func(p *corev1.Pod) { c0(p).Image = " nginx" },
			[]string{`spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace`}},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil },
			[]string{`spec.containers: Required value`}},
		{"container names are DNS labels", func(p *corev1.Pod) { c0(p).Name = "Web" },
			[]string{`spec.containers[0].name: Invalid value: "Web": ` + dns1123LabelMsg}},
		{"container names are unique", func(p *corev1.Pod) { p.Spec.Containers = append(p.Spec.Containers, sidecar("web")) },
			[]string{`spec.containers[1].name: Duplicate value: "web"`}},
		{"init and regular container names are unique", func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{sidecar("web")} },
			[]string{`spec.initContainers[0].name: Duplicate value: "web"`}},
		{"imagePullPolicy", func(p *corev1.Pod) { c0(p).ImagePullPolicy = "Sometimes" },
			[]string{`spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`}},
		{"regular containers have no restartPolicy", func(p *corev1.Pod) { c0(p).RestartPolicy = ptrTo(corev1.ContainerRestartPolicyAlways) },
			[]string{`spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers`}},
		{"init containers have no probes", func(p *corev1.Pod) {
			ic := sidecar("init")
			ic.ReadinessProbe = c0(p).ReadinessProbe
			p.Spec.InitContainers = []corev1.Container{ic}
		}, []string{`spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always`}},
		{"sidecars may have probes", func(p *corev1.Pod) {
			ic := sidecar("proxy")
			ic.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(15000)}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
			ic.RestartPolicy = ptrTo(corev1.ContainerRestartPolicyAlways)
			p.Spec.InitContainers = []corev1.Container{ic}
		}, nil},
		{"init container restartPolicy", func(p *corev1.Pod) {
			ic := sidecar("init")
			ic.RestartPolicy = ptrTo(corev1.ContainerRestartPolicy("OnFailure"))
			p.Spec.InitContainers = []corev1.Container{ic}
		}, []string{`spec.initContainers[0].restartPolicy: Unsupported value: "OnFailure": supported values: "Always"`}},

		// ports
		{"containerPort 0", func(p *corev1.Pod) { c0(p).Ports[0].ContainerPort = 0 },
			[]string{`spec.containers[0].ports[0].containerPort: Required value`}},
		{"containerPort too large", func(p *corev1.Pod) { c0(p).Ports[0].ContainerPort = 80000 },
			[]string{`spec.containers[0].ports[0].containerPort: Invalid value: 80000: must be between 1 and 65535, inclusive`}},
		{"port names are IANA service names", func(p *corev1.Pod) { c0(p).Ports[0].Name = "web-http-port-alt" },
			[]string{`spec.containers[0].ports[0].name: Invalid value: "web-http-port-alt": must be no more than 15 characters`}},
		{"duplicate port names", func(p *corev1.Pod) {
			c0(p).Ports = append(c0(p).Ports, corev1.ContainerPort{Name: "http", ContainerPort: 9090, Protocol: corev1.ProtocolTCP})
		}, []string{`spec.containers[0].ports[1].name: Duplicate value: "http"`}},
		{"port protocol", func(p *corev1.Pod) { c0(p).Ports[0].Protocol = "tcp" },
			[]string{`spec.containers[0].ports[0].protocol: Unsupported value: "tcp": supported values: "SCTP", "TCP", "UDP"`}},
		{"host port conflict", func(p *corev1.Pod) {
			c0(p).Ports[0].HostPort = 8080
			other := sidecar("other")
			other.Ports = []corev1.ContainerPort{{ContainerPort: 9090, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
			p.Spec.Containers = append(p.Spec.Containers, other)
		}, []string{`spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"`}},
		{"hostNetwork needs matching host ports", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			c0(p).Ports[0].HostPort = 9090
		}, []string{"spec.containers[0].ports[0].hostPort: Invalid value: 9090: must match `containerPort` when `hostNetwork` is true"}},

		// environment
		{"relaxed env var names", func(p *corev1.Pod) { c0(p).Env[0].Name = "1st.greeting-text" }, nil},
		{"env var names cannot contain '='", func(p *corev1.Pod) { c0(p).Env[0].Name = "A=B" },
			[]string{`spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`}},
		{"env var name required", func(p *corev1.Pod) { c0(p).Env[0].Name = "" },
			[]string{`spec.containers[0].env[0].name: Required value`}},
		{"valueFrom with a value", func(p *corev1.Pod) { c0(p).Env[1].Value = "x" },
			[]string{"spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty"}},
		{"valueFrom with two sources", func(p *corev1.Pod) {
			c0(p).Env[1].ValueFrom.ConfigMapKeyRef = &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}, Key: "APP_MODE"}
		}, []string{`spec.containers[0].env[1].valueFrom: Invalid value: "": may not have more than one field specified at a time`}},
		{"empty valueFrom", func(p *corev1.Pod) { c0(p).Env[1].ValueFrom = &corev1.EnvVarSource{} },
			[]string{"spec.containers[0].env[1].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"}},
		{"unknown downward API field", func(p *corev1.Pod) { c0(p).Env[1].ValueFrom.FieldRef.FieldPath = "status.ip" },
			[]string{`spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Invalid value: "status.ip": error converting fieldPath: field label not supported: status.ip`}},
		{"downward API field not usable in env", func(p *corev1.Pod) { c0(p).Env[1].ValueFrom.FieldRef.FieldPath = "metadata.labels" },
			[]string{`spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value: "metadata.labels": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"`}},
		{"one label through the downward API", func(p *corev1.Pod) { c0(p).Env[1].ValueFrom.FieldRef.FieldPath = "metadata.labels['app']" }, nil},
		{"configMapKeyRef key", func(p *corev1.Pod) {
			c0(p).Env[1].ValueFrom = &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}, Key: "app/mode"}}
		}, []string{`spec.containers[0].env[1].valueFrom.configMapKeyRef.key: Invalid value: "app/mode": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`}},
		{"envFrom needs a source", func(p *corev1.Pod) { c0(p).EnvFrom = []corev1.EnvFromSource{{Prefix: "APP_"}} },
			[]string{"spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`"}},

		// resources
		{"request above limit", func(p *corev1.Pod) { c0(p).Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1") },
			[]string{`spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m`}},
		{"negative request", func(p *corev1.Pod) { c0(p).Resources.Requests[corev1.ResourceMemory] = resource.MustParse("-64Mi") },
			[]string{`spec.containers[0].resources.requests[memory]: Invalid value: "-64Mi": must be greater than or equal to 0`}},
		{"unknown resource", func(p *corev1.Pod) { c0(p).Resources.Limits["gpu"] = resource.MustParse("1") },
			[]string{
				`spec.containers[0].resources.limits[gpu]: Invalid value: gpu: must be a standard resource type or fully qualified`,
				`spec.containers[0].resources.limits[gpu]: Invalid value: gpu: must be a standard resource for containers`,
			}},
		{"extended resources need a limit", func(p *corev1.Pod) { c0(p).Resources.Requests["example.com/gpu"] = resource.MustParse("1") },
			[]string{`spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources`}},
		{"extended resource with limit", func(p *corev1.Pod) {
			c0(p).Resources.Limits["example.com/gpu"] = resource.MustParse("1")
			c0(p).Resources.Requests["example.com/gpu"] = resource.MustParse("1")
		}, nil},

		// probes
		{"liveness successThreshold", func(p *corev1.Pod) {
			pr := *c0(p).ReadinessProbe
			pr.SuccessThreshold = 2
			c0(p).LivenessProbe = &pr
		}, []string{`spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1`}},
		{"two probe handlers", func(p *corev1.Pod) {
			c0(p).ReadinessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}, []string{`spec.containers[0].readinessProbe.httpGet: Forbidden: may not specify more than 1 handler type`}},
		{"probe without handler", func(p *corev1.Pod) { c0(p).ReadinessProbe.HTTPGet = nil },
			[]string{`spec.containers[0].readinessProbe: Required value: must specify a handler type`}},
		{"negative probe period", func(p *corev1.Pod) { c0(p).ReadinessProbe.PeriodSeconds = -1 },
			[]string{`spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0`}},
		{"probe port", func(p *corev1.Pod) { c0(p).ReadinessProbe.HTTPGet.Port = intstr.FromInt32(0) },
			[]string{`spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive`}},
		{"preStop sleep longer than the grace period", func(p *corev1.Pod) {
			c0(p).Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 60}}}
		}, []string{`spec.containers[0].lifecycle.preStop.sleep: Invalid value: 60: must be non-negative and less than terminationGracePeriodSeconds (30)`}},

		// volumes
		{"duplicate volume names", func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, p.Spec.Volumes[0]) },
			[]string{`spec.volumes[1].name: Duplicate value: "kube-api-access-x7k2p"`}},
		{"volume without source", func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data"}) },
			[]string{`spec.volumes[1]: Required value: must specify a volume type`}},
		{"volume with two sources", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{}, ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}},
			}})
		}, []string{`spec.volumes[1].configMap: Forbidden: may not specify more than 1 volume type`}},
		{"hostPath with backsteps", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/../etc"}}})
		}, []string{`spec.volumes[1].hostPath.path: Invalid value: "/var/../etc": must not contain '..'`}},
		{"mount of a missing volume", func(p *corev1.Pod) {
			c0(p).VolumeMounts = append(c0(p).VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
		}, []string{`spec.containers[0].volumeMounts[1].name: Not found: "data"`}},
		{"mount paths are unique", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			c0(p).VolumeMounts = append(c0(p).VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"})
		}, []string{`spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/var/run/secrets/kubernetes.io/serviceaccount": must be unique`}},
		{"projected token needs a service account", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "" },
			[]string{`spec.volumes[0].projected.sources[0].serviceAccountToken: Forbidden: must not be specified when serviceAccountName is not set`}},

		// pod-level fields
		{"restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			[]string{`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`}},
		{"dnsPolicy", func(p *corev1.Pod) { p.Spec.DNSPolicy = "Cluster" },
			[]string{`spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"`}},
		{"dnsPolicy None needs dnsConfig", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone },
			[]string{"spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"}},
		{"dnsPolicy None needs a nameserver", func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Searches: []string{"lab.local"}}
		}, []string{"spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when `dnsPolicy` is None"}},
		{"dnsConfig with a custom resolver", func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"10.96.0.10"}, Searches: []string{"default.svc.cluster.local", "."},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptrTo("5")}}}
		}, nil},
		{"too many nameservers", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "8.8.8.8", "9.9.9.9", "10.96.0.10"}}
		}, []string{`spec.dnsConfig.nameservers: Invalid value: []string{"1.1.1.1", "8.8.8.8", "9.9.9.9", "10.96.0.10"}: must not have more than 3 nameservers`}},
		{"terminationGracePeriodSeconds required", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil },
			[]string{`spec.terminationGracePeriodSeconds: Required value`}},
		{"activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo[int64](0) },
			[]string{`spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive`}},
		{"hostname is a DNS label", func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "web.0", "web" },
			[]string{`spec.hostname: Invalid value: "web.0": must not contain dots`}},
		{"nodeSelector labels", func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "minilab worker"}
		},
			[]string{`spec.nodeSelector: Invalid value: "minilab worker": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`}},
		{"toleration without key", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpEqual, Value: "x"})
		}, []string{"spec.tolerations[2].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""}},
		{"tolerationSeconds needs NoExecute", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptrTo[int64](10)})
		}, []string{"spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"}},
		{"runAsUser range", func(p *corev1.Pod) { c0(p).SecurityContext = &corev1.SecurityContext{RunAsUser: ptrTo[int64](-1)} },
			[]string{`spec.containers[0].securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive`}},
		{"ephemeral containers are added later", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(sidecar("debug"))}}
		}, []string{`spec.ephemeralContainers: Forbidden: cannot be set on create`}},
		{"node affinity operator", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}}}},
			}}}
		}, []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"}},
		{"pod deletion cost", func(p *corev1.Pod) {
			p.Annotations = map[string]string{"controller.kubernetes.io/pod-deletion-cost": "high"}
		},
			[]string{`metadata.annotations[controller.kubernetes.io/pod-deletion-cost]: Invalid value: "high": must be a 32bit integer`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := pod()
			tc.mutate(p)
			expectErrors(t, ValidateCreate(p), tc.want...)
		})
	}
}

func TestPodUpdate(t *testing.T) {
	const forbidden = "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
	cases := []struct {
		name          string
		mutate        func(*corev1.Pod)
		want          []string
		wantForbidden bool // one error: the "may not change fields" refusal
	}{
		{"image may change", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "gcr.io/google-samples/hello-app:2.0" }, nil, false},
		{"labels may change", func(p *corev1.Pod) { p.Labels["version"] = "v2" }, nil, false},
		{"image may not be removed", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			[]string{`spec.containers[0].image: Required value`}, false},
		{"containers may not be added", func(p *corev1.Pod) { p.Spec.Containers = append(p.Spec.Containers, sidecar("extra")) },
			[]string{`spec.containers: Forbidden: pod updates may not add or remove containers`}, false},
		{"activeDeadlineSeconds may only shrink", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo[int64](600) },
			[]string{`spec.activeDeadlineSeconds: Invalid value: 600: must be less than or equal to previous value`}, false},
		{"tolerations may be added", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists})
		}, nil, false},
		{"tolerationSeconds may change", func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptrTo[int64](60) }, nil, false},
		{"tolerations may not be removed", func(p *corev1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[:1] },
			[]string{`spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds`}, false},
		{"ports may not change", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 }, nil, true},
		{"nodeName may not change", func(p *corev1.Pod) { p.Spec.NodeName = "minilab-worker2" }, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := pod()
			old.Spec.ActiveDeadlineSeconds = ptrTo[int64](300)
			p := old.DeepCopy()
			tc.mutate(p)
			errs := ValidateUpdate(p, old)
			if !tc.wantForbidden {
				expectErrors(t, errs, tc.want...)
				return
			}
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), forbidden) {
				t.Fatalf("got %v, want one error starting %q", messages(errs), forbidden)
			}
		})
	}
}

func TestPodStatusUpdate(t *testing.T) {
	running := func() *corev1.Pod {
		p := pod()
		p.Spec.NodeName = "minilab-worker"
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "172.30.0.3", HostIPs: []corev1.HostIP{{IP: "172.30.0.3"}},
			PodIP: "10.244.1.5", PodIPs: []corev1.PodIP{{IP: "10.244.1.5"}}, QOSClass: corev1.PodQOSBurstable}
		return p
	}
	cases := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{"ready condition", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}, nil},
		{"invalid pod IP", func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1"}} },
			[]string{`status.podIPs[0]: Invalid value: "10.244.1": ` + ipMsg}},
		{"one pod IP per family", func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.5"}, {IP: "10.244.1.6"}} },
			[]string{`status.podIPs: Invalid value: []core.PodIP{core.PodIP{IP:"10.244.1.5"}, core.PodIP{IP:"10.244.1.6"}}: may specify no more than one IP for each IP family`}},
		{"hostIPs[0] is hostIP", func(p *corev1.Pod) { p.Status.HostIPs = []corev1.HostIP{{IP: "172.30.0.4"}} },
			[]string{"status.hostIPs[0].ip: Invalid value: \"172.30.0.4\": must be equal to `hostIP`"}},
		{"nodeName is not set through status", func(p *corev1.Pod) { p.Spec.NodeName = "minilab-worker2" },
			[]string{`status.nodeName: Forbidden: may not be changed directly`}},
		{"qosClass is fixed", func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSGuaranteed },
			[]string{`status.qosClass: Invalid value: "Guaranteed": field is immutable`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := running()
			tc.mutate(p)
			expectErrors(t, ValidateStatusUpdate(p, running()), tc.want...)
		})
	}
}

func TestTerminatedContainersStayTerminated(t *testing.T) {
	old := pod()
	old.Spec.RestartPolicy = corev1.RestartPolicyNever
	old.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
	p := old.DeepCopy()
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	expectErrors(t, ValidateStatusUpdate(p, old), `status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state`)
}

// The refusal ends with a diff naming what changed.
func TestPodUpdateDiff(t *testing.T) {
	old := pod()
	p := old.DeepCopy()
	p.Spec.NodeName = "minilab-worker2"
	p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("256Mi")
	errs := ValidateUpdate(p, old)
	if len(errs) != 1 {
		t.Fatalf("got %v", messages(errs))
	}
	for _, want := range []string{
		"  core.PodSpec{\n",
		"- \tContainers[0].Resources.Limits[memory]: 128Mi,\n+ \tContainers[0].Resources.Limits[memory]: 256Mi,\n",
		"- \tNodeName: \"\",\n+ \tNodeName: \"minilab-worker2\",\n",
		"  \t... // 38 identical fields\n  }\n",
	} {
		if !strings.Contains(errs[0].Detail, want) {
			t.Errorf("diff lacks %q:\n%s", want, errs[0].Detail)
		}
	}
}
