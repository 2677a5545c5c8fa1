package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// containerContext is what container validation needs to know about the pod
// around it.
type containerContext struct {
	volumes       map[string]corev1.VolumeSource // valid volumes by name
	podClaims     map[string]bool                // spec.resourceClaims names
	grace         *int64                         // terminationGracePeriodSeconds
	restartPolicy corev1.RestartPolicy
	hostUsers     bool
}

var (
	pullPolicies        = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	terminationPolicies = []corev1.TerminationMessagePolicy{corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError}
	resizeResources     = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
	resizePolicies      = []corev1.ResourceResizeRestartPolicy{corev1.NotRequired, corev1.RestartContainer}
	httpSchemes         = []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}
)

const sidecarOnly = "may not be set for init containers without restartPolicy=Always"

func containers(list []corev1.Container, cc containerContext, fldPath *field.Path) field.ErrorList {
	if len(list) == 0 {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var errs field.ErrorList
	names := map[string]bool{}
	for i := range list {
		c := &list[i]
		p := fldPath.Index(i)
		errs = append(errs, containerCommon(c, cc, p)...)
		if names[c.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		}
		names[c.Name] = true
		errs = append(errs, probesAndLifecycle(c, cc, p)...)
		if c.RestartPolicy != nil {
			errs = append(errs, field.Forbidden(p.Child("restartPolicy"), "may not be set for non-init containers"))
		}
	}
	// Host ports are shared by all containers running together.
	return append(errs, hostPortConflicts(list, fldPath)...)
}

// initContainers run one after another before the regular containers;
// those with restartPolicy Always are sidecars that keep running and so may
// have probes and lifecycle hooks like regular containers.
func initContainers(list, regular []corev1.Container, cc containerContext, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for _, c := range regular {
		names[c.Name] = true
	}
	for i := range list {
		c := &list[i]
		p := fldPath.Index(i)
		errs = append(errs, containerCommon(c, cc, p)...)
		sidecar := false
		if c.RestartPolicy != nil {
			if *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				errs = append(errs, notSupported(p.Child("restartPolicy"), *c.RestartPolicy, corev1.ContainerRestartPolicyAlways))
			}
			sidecar = *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
		if names[c.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		} else if c.Name != "" {
			names[c.Name] = true
		}
		errs = append(errs, hostPortConflicts([]corev1.Container{*c}, fldPath)...)
		if sidecar {
			errs = append(errs, probesAndLifecycle(c, cc, p)...)
			continue
		}
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"lifecycle", c.Lifecycle != nil},
			{"livenessProbe", c.LivenessProbe != nil},
			{"readinessProbe", c.ReadinessProbe != nil},
			{"startupProbe", c.StartupProbe != nil},
		} {
			if f.set {
				errs = append(errs, field.Forbidden(p.Child(f.name), sidecarOnly))
			}
		}
	}
	return errs
}

// ephemeralContainers are debugging containers added to a running pod; they
// get the common checks and must have a name no other container uses.
func ephemeralContainers(spec *corev1.PodSpec, cc containerContext, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	others, all := map[string]bool{}, map[string]bool{}
	for _, c := range append(append([]corev1.Container(nil), spec.Containers...), spec.InitContainers...) {
		others[c.Name], all[c.Name] = true, true
	}
	for i := range spec.EphemeralContainers {
		ec := &spec.EphemeralContainers[i]
		p := fldPath.Index(i)
		c := (*corev1.Container)(&ec.EphemeralContainerCommon)
		errs = append(errs, containerCommon(c, cc, p)...)
		if all[ec.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), ec.Name))
		}
		all[ec.Name] = true
		if ec.TargetContainerName != "" && !others[ec.TargetContainerName] {
			errs = append(errs, field.NotFound(p.Child("targetContainerName"), ec.TargetContainerName))
		}
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"ports", len(c.Ports) > 0},
			{"resources", len(c.Resources.Limits)+len(c.Resources.Requests)+len(c.Resources.Claims) > 0},
			{"livenessProbe", c.LivenessProbe != nil},
			{"readinessProbe", c.ReadinessProbe != nil},
			{"startupProbe", c.StartupProbe != nil},
			{"lifecycle", c.Lifecycle != nil},
		} {
			if f.set {
				errs = append(errs, field.Forbidden(p.Child(f.name), "cannot be set for an Ephemeral Container"))
			}
		}
	}
	return errs
}

// containerCommon is what every kind of container must satisfy.
func containerCommon(c *corev1.Container, cc containerContext, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, dnsLabel(c.Name, p.Child("name"))...)
	}
	if c.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	}
	switch {
	case c.TerminationMessagePolicy == "":
		errs = append(errs, field.Required(p.Child("terminationMessagePolicy"), ""))
	case !oneOf(c.TerminationMessagePolicy, terminationPolicies...):
		errs = append(errs, notSupported(p.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, terminationPolicies...))
	}
	errs = append(errs, containerPorts(c.Ports, p.Child("ports"))...)
	errs = append(errs, envVars(c.Env, p.Child("env"))...)
	errs = append(errs, envFrom(c.EnvFrom, p.Child("envFrom"))...)
	errs = append(errs, volumeMounts(c, cc.volumes, p.Child("volumeMounts"))...)
	errs = append(errs, volumeDevices(c, cc.volumes, p.Child("volumeDevices"))...)
	switch {
	case c.ImagePullPolicy == "":
		errs = append(errs, field.Required(p.Child("imagePullPolicy"), ""))
	case !oneOf(c.ImagePullPolicy, pullPolicies...):
		errs = append(errs, notSupported(p.Child("imagePullPolicy"), c.ImagePullPolicy, pullPolicies...))
	}
	errs = append(errs, containerResources(&c.Resources, cc.podClaims, p.Child("resources"))...)
	errs = append(errs, resizePolicy(c.ResizePolicy, cc.restartPolicy, p.Child("resizePolicy"))...)
	return append(errs, securityContext(c.SecurityContext, cc.hostUsers, p.Child("securityContext"))...)
}

func containerPorts(ports []corev1.ContainerPort, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		p := fldPath.Index(i)
		if port.Name != "" {
			if msgs := validation.IsValidPortName(port.Name); len(msgs) != 0 {
				errs = append(errs, invalidEach(p.Child("name"), port.Name, msgs)...)
			} else if names[port.Name] {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			} else {
				names[port.Name] = true
			}
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(p.Child("containerPort"), ""))
		} else {
			errs = append(errs, invalidEach(p.Child("containerPort"), port.ContainerPort, validation.IsValidPortNum(int(port.ContainerPort)))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, invalidEach(p.Child("hostPort"), port.HostPort, validation.IsValidPortNum(int(port.HostPort)))...)
		}
		errs = append(errs, protocol(port.Protocol, p.Child("protocol"))...)
	}
	return errs
}

// hostPortConflicts: two containers cannot bind the same host port with the
// same protocol and host IP.
func hostPortConflicts(list []corev1.Container, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for ci, c := range list {
		for pi, port := range c.Ports {
			if port.HostPort == 0 {
				continue
			}
			key := fmt.Sprintf("%s/%s/%d", port.Protocol, port.HostIP, port.HostPort)
			if seen[key] {
				errs = append(errs, field.Duplicate(fldPath.Index(ci).Child("ports").Index(pi).Child("hostPort"), key))
			}
			seen[key] = true
		}
	}
	return errs
}

func resizePolicy(policies []corev1.ContainerResizePolicy, podRestart corev1.RestartPolicy, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[corev1.ResourceName]bool{}
	for i, p := range policies {
		if seen[p.ResourceName] {
			errs = append(errs, field.Duplicate(fldPath.Index(i), p.ResourceName))
		}
		seen[p.ResourceName] = true
		switch {
		case p.ResourceName == "":
			errs = append(errs, field.Required(fldPath, ""))
		case !oneOf(p.ResourceName, resizeResources...):
			errs = append(errs, notSupported(fldPath, p.ResourceName, resizeResources...))
		}
		switch {
		case p.RestartPolicy == "":
			errs = append(errs, field.Required(fldPath, ""))
		case !oneOf(p.RestartPolicy, resizePolicies...):
			errs = append(errs, notSupported(fldPath, p.RestartPolicy, resizePolicies...))
		}
		if podRestart == corev1.RestartPolicyNever && p.RestartPolicy != corev1.NotRequired {
			errs = append(errs, field.Invalid(fldPath, p.RestartPolicy, "must be 'NotRequired' when `restartPolicy` is 'Never'"))
		}
	}
	return errs
}

// probesAndLifecycle applies to regular containers and sidecars.
func probesAndLifecycle(c *corev1.Container, cc containerContext, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.Lifecycle != nil {
		if c.Lifecycle.PostStart != nil {
			errs = append(errs, handler(lifecycleHandler(c.Lifecycle.PostStart), cc.grace, p.Child("lifecycle").Child("postStart"))...)
		}
		if c.Lifecycle.PreStop != nil {
			errs = append(errs, handler(lifecycleHandler(c.Lifecycle.PreStop), cc.grace, p.Child("lifecycle").Child("preStop"))...)
		}
	}
	errs = append(errs, probe(c.LivenessProbe, cc.grace, p.Child("livenessProbe"), true)...)
	if rp := c.ReadinessProbe; rp != nil {
		errs = append(errs, probe(rp, cc.grace, p.Child("readinessProbe"), false)...)
		if rp.TerminationGracePeriodSeconds != nil {
			errs = append(errs, field.Invalid(p.Child("readinessProbe").Child("terminationGracePeriodSeconds"), rp.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
		}
	}
	return append(errs, probe(c.StartupProbe, cc.grace, p.Child("startupProbe"), true)...)
}

// probe: exactly one way to probe, and sane numbers. Liveness and startup
// probes decide about restarts, so one success must be enough.
func probe(pr *corev1.Probe, grace *int64, p *field.Path, mustSucceedOnce bool) field.ErrorList {
	if pr == nil {
		return nil
	}
	errs := handler(probeHandler(&pr.ProbeHandler), grace, p)
	errs = append(errs, nonNegative(int64(pr.InitialDelaySeconds), p.Child("initialDelaySeconds"))...)
	errs = append(errs, nonNegative(int64(pr.TimeoutSeconds), p.Child("timeoutSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.PeriodSeconds), p.Child("periodSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.SuccessThreshold), p.Child("successThreshold"))...)
	errs = append(errs, nonNegative(int64(pr.FailureThreshold), p.Child("failureThreshold"))...)
	if t := pr.TerminationGracePeriodSeconds; t != nil && *t <= 0 {
		errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *t, "must be greater than 0"))
	}
	if mustSucceedOnce && pr.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(p.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
	}
	return errs
}

// commonHandler is the union of probe and lifecycle-hook actions.
type commonHandler struct {
	exec      *corev1.ExecAction
	httpGet   *corev1.HTTPGetAction
	tcpSocket *corev1.TCPSocketAction
	grpc      *corev1.GRPCAction
	sleep     *corev1.SleepAction
}

func probeHandler(h *corev1.ProbeHandler) commonHandler {
	return commonHandler{exec: h.Exec, httpGet: h.HTTPGet, tcpSocket: h.TCPSocket, grpc: h.GRPC}
}

func lifecycleHandler(h *corev1.LifecycleHandler) commonHandler {
	return commonHandler{exec: h.Exec, httpGet: h.HTTPGet, tcpSocket: h.TCPSocket, sleep: h.Sleep}
}

// handler: exactly one action; later ones are reported as extra.
func handler(h commonHandler, grace *int64, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	actions := []struct {
		name     string
		set      bool
		validate func(*field.Path) field.ErrorList
	}{
		{"exec", h.exec != nil, func(p *field.Path) field.ErrorList {
			if len(h.exec.Command) == 0 {
				return field.ErrorList{field.Required(p.Child("command"), "")}
			}
			return nil
		}},
		{"httpGet", h.httpGet != nil, func(p *field.Path) field.ErrorList { return httpGet(h.httpGet, p) }},
		{"tcpSocket", h.tcpSocket != nil, func(p *field.Path) field.ErrorList { return portNumOrName(h.tcpSocket.Port, p.Child("port")) }},
		{"grpc", h.grpc != nil, func(p *field.Path) field.ErrorList {
			return portNumOrName(intstr.FromInt32(h.grpc.Port), p.Child("port"))
		}},
		{"sleep", h.sleep != nil, func(p *field.Path) field.ErrorList { return sleepAction(h.sleep, grace, p) }},
	}
	count := 0
	for _, a := range actions {
		if !a.set {
			continue
		}
		if count > 0 {
			errs = append(errs, field.Forbidden(p.Child(a.name), "may not specify more than 1 handler type"))
			continue
		}
		count++
		errs = append(errs, a.validate(p.Child(a.name))...)
	}
	if count == 0 {
		errs = append(errs, field.Required(p, "must specify a handler type"))
	}
	return errs
}

func httpGet(h *corev1.HTTPGetAction, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, portNumOrName(h.Port, p.Child("port"))...)
	if !oneOf(h.Scheme, httpSchemes...) {
		errs = append(errs, notSupported(p.Child("scheme"), h.Scheme, httpSchemes...))
	}
	for _, hdr := range h.HTTPHeaders {
		errs = append(errs, invalidEach(p.Child("httpHeaders"), hdr.Name, validation.IsHTTPHeaderName(hdr.Name))...)
	}
	return errs
}

// sleepAction: a preStop sleep must fit in the grace period (zero is allowed
// since PodLifecycleSleepActionAllowZero).
func sleepAction(s *corev1.SleepAction, grace *int64, p *field.Path) field.ErrorList {
	if grace != nil && (s.Seconds < 0 || s.Seconds > *grace) {
		return field.ErrorList{field.Invalid(p, s.Seconds, fmt.Sprintf("must be non-negative and less than terminationGracePeriodSeconds (%d)", *grace))}
	}
	return nil
}

func securityContext(sc *corev1.SecurityContext, hostUsers bool, p *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.RunAsUser != nil {
		errs = append(errs, invalidEach(p.Child("runAsUser"), *sc.RunAsUser, validation.IsValidUserID(*sc.RunAsUser))...)
	}
	if sc.RunAsGroup != nil {
		errs = append(errs, invalidEach(p.Child("runAsGroup"), *sc.RunAsGroup, validation.IsValidGroupID(*sc.RunAsGroup))...)
	}
	if sc.ProcMount != nil {
		valid := []corev1.ProcMountType{corev1.DefaultProcMount, corev1.UnmaskedProcMount}
		if !oneOf(*sc.ProcMount, valid...) {
			errs = append(errs, notSupported(p.Child("procMount"), *sc.ProcMount, valid...))
		}
		if hostUsers && *sc.ProcMount == corev1.UnmaskedProcMount {
			errs = append(errs, field.Invalid(p.Child("procMount"), sc.ProcMount, "`hostUsers` must be false to use `Unmasked`"))
		}
	}
	errs = append(errs, seccompProfile(sc.SeccompProfile, p.Child("seccompProfile"))...)
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, field.Invalid(p, asInternal(sc, "core"), "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if sc.Capabilities != nil {
			for _, c := range sc.Capabilities.Add {
				if string(c) == "CAP_SYS_ADMIN" {
					errs = append(errs, field.Invalid(p, asInternal(sc, "core"), "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
				}
			}
		}
	}
	return append(errs, appArmorProfile(sc.AppArmorProfile, p.Child("appArmorProfile"))...)
}

func seccompProfile(sp *corev1.SeccompProfile, p *field.Path) field.ErrorList {
	if sp == nil {
		return nil
	}
	var errs field.ErrorList
	valid := []corev1.SeccompProfileType{corev1.SeccompProfileTypeLocalhost, corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined}
	switch {
	case sp.Type == "":
		errs = append(errs, field.Required(p.Child("type"), "type is required when seccompProfile is set"))
	case !oneOf(sp.Type, valid...):
		errs = append(errs, notSupported(p.Child("type"), sp.Type, valid...))
	}
	switch {
	case sp.Type == corev1.SeccompProfileTypeLocalhost && sp.LocalhostProfile == nil:
		errs = append(errs, field.Required(p.Child("localhostProfile"), "must be set when seccomp type is Localhost"))
	case sp.Type == corev1.SeccompProfileTypeLocalhost:
		errs = append(errs, localDescendingPath(*sp.LocalhostProfile, p.Child("localhostProfile"))...)
	case sp.LocalhostProfile != nil:
		errs = append(errs, field.Invalid(p.Child("localhostProfile"), asInternal(sp, "core"), "can only be set when seccomp type is Localhost"))
	}
	return errs
}

func appArmorProfile(ap *corev1.AppArmorProfile, p *field.Path) field.ErrorList {
	if ap == nil {
		return nil
	}
	switch ap.Type {
	case corev1.AppArmorProfileTypeLocalhost:
		required := field.Required(p.Child("localhostProfile"), "must be set when AppArmor type is Localhost")
		if ap.LocalhostProfile == nil {
			return field.ErrorList{required}
		}
		lp := *ap.LocalhostProfile
		var errs field.ErrorList
		if strings.TrimSpace(lp) != lp {
			errs = append(errs, field.Invalid(p.Child("localhostProfile"), lp, "must not be padded with whitespace"))
		} else if lp == "" {
			errs = append(errs, required)
		}
		if len(lp) > 4095 {
			errs = append(errs, field.TooLong(p.Child("localhostProfile"), "", 4095))
		}
		return errs
	case corev1.AppArmorProfileTypeRuntimeDefault, corev1.AppArmorProfileTypeUnconfined:
		if ap.LocalhostProfile != nil {
			return field.ErrorList{field.Invalid(p.Child("localhostProfile"), ap.LocalhostProfile, "can only be set when AppArmor type is Localhost")}
		}
		return nil
	case "":
		return field.ErrorList{field.Required(p.Child("type"), "type is required when appArmorProfile is set")}
	}
	return field.ErrorList{notSupported(p.Child("type"), ap.Type,
		corev1.AppArmorProfileTypeLocalhost, corev1.AppArmorProfileTypeRuntimeDefault, corev1.AppArmorProfileTypeUnconfined)}
}
