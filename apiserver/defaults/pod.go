package defaults

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// defaultPod applies the defaults of a Pod object. A Pod gets a few defaults that a pod template
// inside a Deployment, ReplicaSet, StatefulSet or DaemonSet does not (upstream SetDefaults_Pod):
// they would otherwise change every existing template on an API server upgrade and roll out
// every workload.
func defaultPod(pod *corev1.Pod) {
	defaultPodSpec(&pod.Spec)

	spec := &pod.Spec
	for i := range spec.InitContainers {
		defaultRequestsFromLimits(&spec.InitContainers[i].Resources)
	}
	for i := range spec.Containers {
		defaultRequestsFromLimits(&spec.Containers[i].Resources)
	}
	// Service environment variables (<SVC>_SERVICE_HOST, ...) are on unless the pod opts out.
	setIfNil(&spec.EnableServiceLinks, corev1.DefaultEnableServiceLinks)
	// A pod in the node's network namespace listens on the node's ports: hostPort = containerPort.
	// Since v1.28 this is done for Pods only, not for pod templates.
	if spec.HostNetwork {
		defaultHostPorts(spec.InitContainers)
		defaultHostPorts(spec.Containers)
	}
}

// defaultPodTemplate applies the defaults every PodTemplateSpec gets, wherever it is embedded.
func defaultPodTemplate(template *corev1.PodTemplateSpec) {
	defaultPodSpec(&template.Spec)
}

// defaultPodSpec applies the defaults shared by Pods and pod templates (upstream SetDefaults_PodSpec
// plus the defaults of every nested type: volumes, containers, probes, ...).
func defaultPodSpec(spec *corev1.PodSpec) {
	setIfEmpty(&spec.DNSPolicy, corev1.DNSClusterFirst)
	setIfEmpty(&spec.RestartPolicy, corev1.RestartPolicyAlways)
	setIfNil(&spec.SecurityContext, corev1.PodSecurityContext{})
	setIfNil(&spec.TerminationGracePeriodSeconds, int64(corev1.DefaultTerminationGracePeriodSeconds))
	setIfEmpty(&spec.SchedulerName, corev1.DefaultSchedulerName)
	syncDeprecatedServiceAccount(spec)

	for i := range spec.Volumes {
		defaultVolumeSource(&spec.Volumes[i].VolumeSource)
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		// An ephemeral container shares the Container field set and its defaults.
		defaultContainer((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	roundResourceList(spec.Overhead)
	if spec.Resources != nil {
		roundResourceList(spec.Resources.Limits)
		roundResourceList(spec.Resources.Requests)
	}
}

// syncDeprecatedServiceAccount mirrors what the v1 <-> internal conversion does with the old
// spec.serviceAccount alias: a client that only sends serviceAccount gets it as
// serviceAccountName, and every object read back shows serviceAccount equal to
// serviceAccountName (serviceAccountName wins when both are given).
func syncDeprecatedServiceAccount(spec *corev1.PodSpec) {
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName
}

// defaultContainer applies upstream SetDefaults_Container and the defaults of the types nested in
// a container.
func defaultContainer(c *corev1.Container) {
	setIfEmpty(&c.ImagePullPolicy, defaultPullPolicy(c.Image))
	setIfEmpty(&c.TerminationMessagePath, corev1.TerminationMessagePathDefault)
	setIfEmpty(&c.TerminationMessagePolicy, corev1.TerminationMessageReadFile)

	for i := range c.Ports {
		setIfEmpty(&c.Ports[i].Protocol, corev1.ProtocolTCP)
	}
	for i := range c.Env {
		if from := c.Env[i].ValueFrom; from != nil && from.FieldRef != nil {
			defaultFieldRef(from.FieldRef)
		}
	}
	roundResourceList(c.Resources.Limits)
	roundResourceList(c.Resources.Requests)

	for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if probe != nil {
			defaultProbe(probe)
		}
	}
	if c.Lifecycle != nil {
		for _, handler := range []*corev1.LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if handler != nil && handler.HTTPGet != nil {
				defaultHTTPGet(handler.HTTPGet)
			}
		}
	}
}

// defaultProbe gives a probe the timing the kubelet documents: every 10s, 1s timeout, one
// success to pass, three failures to fail.
func defaultProbe(p *corev1.Probe) {
	setIfZero(&p.TimeoutSeconds, 1)
	setIfZero(&p.PeriodSeconds, 10)
	setIfZero(&p.SuccessThreshold, 1)
	setIfZero(&p.FailureThreshold, 3)
	if p.HTTPGet != nil {
		defaultHTTPGet(p.HTTPGet)
	}
	if p.GRPC != nil {
		// The empty service name asks the gRPC health server about the server as a whole.
		setIfNil(&p.GRPC.Service, "")
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	setIfEmpty(&h.Path, "/")
	setIfEmpty(&h.Scheme, corev1.URISchemeHTTP)
}

// defaultFieldRef: a downward-API field path is read from the v1 version of the Pod.
func defaultFieldRef(ref *corev1.ObjectFieldSelector) {
	setIfEmpty(&ref.APIVersion, "v1")
}

// defaultRequestsFromLimits: a container that states only limits gets requests equal to them,
// which makes "limits only" pods Guaranteed. Only for Pods, never for templates.
func defaultRequestsFromLimits(r *corev1.ResourceRequirements) {
	if r.Limits == nil {
		return
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	for name, limit := range r.Limits {
		if _, set := r.Requests[name]; !set {
			r.Requests[name] = limit.DeepCopy()
		}
	}
}

// roundResourceList rounds every quantity up to milli precision (0.0001 CPU becomes 1m), as the
// API server has always done instead of rejecting finer values.
func roundResourceList(list corev1.ResourceList) {
	for name, q := range list {
		q.RoundUp(resource.Milli)
		list[name] = q
	}
}

func defaultHostPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			port := &containers[i].Ports[j]
			if port.HostPort == 0 {
				port.HostPort = port.ContainerPort
			}
		}
	}
}

// File modes kube-apiserver gives projected files when the volume does not say (0644).
const defaultVolumeFileMode int32 = 0o644

// defaultVolumeSource applies upstream SetDefaults_Volume and the defaults of each volume type.
func defaultVolumeSource(v *corev1.VolumeSource) {
	// A volume that names no source is an emptyDir.
	if *v == (corev1.VolumeSource{}) {
		v.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if v.HostPath != nil {
		// The empty type means "no check before mounting".
		setIfNil(&v.HostPath.Type, corev1.HostPathUnset)
	}
	if v.Secret != nil {
		setIfNil(&v.Secret.DefaultMode, defaultVolumeFileMode)
	}
	if v.ConfigMap != nil {
		setIfNil(&v.ConfigMap.DefaultMode, defaultVolumeFileMode)
	}
	if v.DownwardAPI != nil {
		setIfNil(&v.DownwardAPI.DefaultMode, defaultVolumeFileMode)
		defaultDownwardAPIItems(v.DownwardAPI.Items)
	}
	if v.Projected != nil {
		defaultProjected(v.Projected)
	}
	if v.Ephemeral != nil && v.Ephemeral.VolumeClaimTemplate != nil {
		defaultPersistentVolumeClaimSpec(&v.Ephemeral.VolumeClaimTemplate.Spec)
	}
	defaultLegacyVolumeSources(v)
}

func defaultProjected(p *corev1.ProjectedVolumeSource) {
	setIfNil(&p.DefaultMode, defaultVolumeFileMode)
	for i := range p.Sources {
		source := &p.Sources[i]
		if source.DownwardAPI != nil {
			defaultDownwardAPIItems(source.DownwardAPI.Items)
		}
		if source.ServiceAccountToken != nil {
			// A projected service-account token is valid for one hour unless asked otherwise.
			setIfNil(&source.ServiceAccountToken.ExpirationSeconds, int64(3600))
		}
	}
}

func defaultDownwardAPIItems(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if items[i].FieldRef != nil {
			defaultFieldRef(items[i].FieldRef)
		}
	}
}

// defaultPersistentVolumeClaimSpec: a claim asks for a filesystem unless it asks for a block device.
func defaultPersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec) {
	setIfNil(&spec.VolumeMode, corev1.PersistentVolumeFilesystem)
	roundResourceList(spec.Resources.Limits)
	roundResourceList(spec.Resources.Requests)
}

// defaultLegacyVolumeSources applies the declarative (+default=) defaults of the old in-tree
// volume plugins. minilab cannot mount them, but objects that name them read back as on a real
// cluster.
func defaultLegacyVolumeSources(v *corev1.VolumeSource) {
	if v.ISCSI != nil {
		setIfEmpty(&v.ISCSI.ISCSIInterface, "default")
	}
	if v.RBD != nil {
		setIfEmpty(&v.RBD.RBDPool, "rbd")
		setIfEmpty(&v.RBD.RadosUser, "admin")
		setIfEmpty(&v.RBD.Keyring, "/etc/ceph/keyring")
	}
	if v.AzureDisk != nil {
		setIfNil(&v.AzureDisk.CachingMode, corev1.AzureDataDiskCachingReadWrite)
		setIfNil(&v.AzureDisk.FSType, "ext4")
		setIfNil(&v.AzureDisk.ReadOnly, false)
		setIfNil(&v.AzureDisk.Kind, corev1.AzureSharedBlobDisk)
	}
	if v.ScaleIO != nil {
		setIfEmpty(&v.ScaleIO.StorageMode, "ThinProvisioned")
		setIfEmpty(&v.ScaleIO.FSType, "xfs")
	}
}
