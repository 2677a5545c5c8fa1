package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxClientIPAffinitySeconds is the upper bound of
// sessionAffinityConfig.clientIP.timeoutSeconds (one day).
const maxClientIPAffinitySeconds = 86400

// Allowed values, in the order kube-apiserver lists them in
// "supported values: ..." messages (it sorts these sets).
var (
	serviceTypes          = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	sessionAffinities     = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	portProtocols         = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}
	ipFamilies            = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	ipFamilyPolicies      = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}
	trafficPolicies       = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	internalPolicies      = []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
	loadBalancerIPModes   = []corev1.LoadBalancerIPMode{corev1.LoadBalancerIPModeProxy, corev1.LoadBalancerIPModeVIP}
	trafficDistributions  = []string{corev1.ServiceTrafficDistributionPreferClose}
	loadBalancerSourceKey = corev1.AnnotationLoadBalancerSourceRangesKey
)

func validateService(svc *corev1.Service) field.ErrorList {
	return serviceRules(normalizeClusterIPs(svc, nil), nil)
}

// serviceRules is kube-apiserver's ValidateService. old is the stored
// object on update (nil on create): values it already holds are accepted in
// the legacy IP/CIDR fields even if they would not pass today.
func serviceRules(svc, old *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	specPath := field.NewPath("spec")
	errs := objectMeta(&svc.ObjectMeta, true, nameIsDNS1035Label)
	errs = append(errs, topologyAnnotations(svc.Annotations)...)

	if len(spec.Ports) == 0 && !isHeadless(svc) && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(specPath.Child("ports"), ""))
	}
	errs = append(errs, typeSpecificFields(svc)...)

	names := map[string]bool{}
	for i := range spec.Ports {
		errs = append(errs, servicePort(&spec.Ports[i], len(spec.Ports) > 1, names, specPath.Child("ports").Index(i))...)
	}
	if spec.Selector != nil {
		errs = append(errs, metavalidation.ValidateLabels(spec.Selector, specPath.Child("selector"))...)
	}
	errs = append(errs, sessionAffinity(spec, specPath)...)
	errs = append(errs, clusterIPFields(svc, oldField(old, func(s *corev1.Service) []string { return s.Spec.ClusterIPs }))...)

	oldExternalIPs := oldField(old, func(s *corev1.Service) []string { return s.Spec.ExternalIPs })
	for i, ip := range spec.ExternalIPs {
		idxPath := specPath.Child("externalIPs").Index(i)
		if ipErrs := legacyIP(idxPath, ip, oldExternalIPs...); len(ipErrs) != 0 {
			errs = append(errs, ipErrs...)
		} else {
			errs = append(errs, endpointIP(ip, idxPath)...)
		}
	}

	switch {
	case spec.Type == "":
		errs = append(errs, field.Required(specPath.Child("type"), ""))
	case !oneOf(spec.Type, serviceTypes...):
		errs = append(errs, notSupported(specPath.Child("type"), spec.Type, serviceTypes...))
	}
	if spec.Type == corev1.ServiceTypeClusterIP {
		for i, p := range spec.Ports {
			if p.NodePort != 0 {
				errs = append(errs, field.Forbidden(specPath.Child("ports").Index(i).Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			}
		}
	}
	errs = append(errs, duplicatePorts(spec.Ports, specPath.Child("ports"))...)
	errs = append(errs, sourceRanges(svc, oldField(old, func(s *corev1.Service) []string { return s.Spec.LoadBalancerSourceRanges }))...)

	if spec.AllocateLoadBalancerNodePorts != nil && spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		// kube-apiserver reports this one without the "spec." prefix.
		errs = append(errs, field.Required(field.NewPath("allocateLoadBalancerNodePorts"), ""))
	}
	errs = append(errs, loadBalancerClass(svc, nil)...)
	errs = append(errs, externalTrafficPolicy(svc)...)
	errs = append(errs, internalTrafficPolicy(svc)...)
	if td := spec.TrafficDistribution; td != nil && !oneOf(*td, trafficDistributions...) {
		errs = append(errs, notSupported(specPath.Child("trafficDistribution"), *td, trafficDistributions...))
	}
	return append(errs, singleStackConsistency(svc)...)
}

// topologyAnnotations: the old topology-aware-hints annotation and its
// replacement topology-mode must agree when both are present.
func topologyAnnotations(annotations map[string]string) field.ErrorList {
	hints, hintsSet := annotations[corev1.DeprecatedAnnotationTopologyAwareHints]
	mode, modeSet := annotations[corev1.AnnotationTopologyMode]
	if hintsSet && modeSet && hints != mode {
		msg := fmt.Sprintf("must match annotations[%s] when both are specified", corev1.DeprecatedAnnotationTopologyAwareHints)
		return field.ErrorList{field.Invalid(field.NewPath("metadata", "annotations").Key(corev1.AnnotationTopologyMode), mode, msg)}
	}
	return nil
}

// typeSpecificFields: headless (clusterIP None) makes no sense for types that
// need a virtual IP on every node, and an ExternalName service is only a DNS
// CNAME: it has no cluster IP at all, only a name to point at.
func typeSpecificFields(svc *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	specPath := field.NewPath("spec")
	var errs field.ErrorList
	switch spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		if isHeadless(svc) {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), spec.ClusterIPs[0],
				fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	case corev1.ServiceTypeExternalName:
		if len(spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		// A trailing dot marks the CNAME target as fully qualified.
		if cname := strings.TrimSuffix(spec.ExternalName, "."); cname != "" {
			errs = append(errs, dnsSubdomain(cname, specPath.Child("externalName"))...)
		} else {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		}
	}
	return errs
}

func servicePort(sp *corev1.ServicePort, requireName bool, names map[string]bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && sp.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	} else if sp.Name != "" {
		errs = append(errs, dnsLabel(sp.Name, fldPath.Child("name"))...)
		if names[sp.Name] {
			errs = append(errs, field.Duplicate(fldPath.Child("name"), sp.Name))
		}
		names[sp.Name] = true
	}
	errs = append(errs, invalidEach(fldPath.Child("port"), sp.Port, validation.IsValidPortNum(int(sp.Port)))...)
	errs = append(errs, protocol(sp.Protocol, fldPath.Child("protocol"))...)
	errs = append(errs, portNumOrName(sp.TargetPort, fldPath.Child("targetPort"))...)
	if sp.AppProtocol != nil {
		errs = append(errs, qualifiedName(*sp.AppProtocol, fldPath.Child("appProtocol"))...)
	}
	return errs
}

func protocol(p corev1.Protocol, fldPath *field.Path) field.ErrorList {
	switch {
	case p == "":
		return field.ErrorList{field.Required(fldPath, "")}
	case !oneOf(p, portProtocols...):
		return field.ErrorList{notSupported(fldPath, p, portProtocols...)}
	}
	return nil
}

// portNumOrName: a port given either as a number (1-65535) or as the name of
// a container port (an IANA_SVC_NAME, e.g. "http").
func portNumOrName(port intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	switch port.Type {
	case intstr.Int:
		return invalidEach(fldPath, port.IntValue(), validation.IsValidPortNum(port.IntValue()))
	case intstr.String:
		return invalidEach(fldPath, port.StrVal, validation.IsValidPortName(port.StrVal))
	}
	return field.ErrorList{field.InternalError(fldPath, fmt.Errorf("unknown type: %v", port.Type))}
}

// duplicatePorts: a (protocol, nodePort) and a (protocol, port) pair may each
// appear only once.
func duplicatePorts(ports []corev1.ServicePort, portsPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	nodePorts := map[corev1.ServicePort]bool{}
	for i, p := range ports {
		if p.NodePort == 0 {
			continue
		}
		key := corev1.ServicePort{Protocol: p.Protocol, NodePort: p.NodePort}
		if nodePorts[key] {
			errs = append(errs, field.Duplicate(portsPath.Index(i).Child("nodePort"), p.NodePort))
		}
		nodePorts[key] = true
	}
	seen := map[corev1.ServicePort]bool{}
	for i, p := range ports {
		key := corev1.ServicePort{Protocol: p.Protocol, Port: p.Port}
		if seen[key] {
			errs = append(errs, field.Duplicate(portsPath.Index(i), asInternal(key, "core")))
		}
		seen[key] = true
	}
	return errs
}

func sessionAffinity(spec *corev1.ServiceSpec, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case spec.SessionAffinity == "":
		errs = append(errs, field.Required(specPath.Child("sessionAffinity"), ""))
	case !oneOf(spec.SessionAffinity, sessionAffinities...):
		errs = append(errs, notSupported(specPath.Child("sessionAffinity"), spec.SessionAffinity, sessionAffinities...))
	}
	configPath := specPath.Child("sessionAffinityConfig")
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityClientIP:
		errs = append(errs, clientIPAffinityConfig(spec.SessionAffinityConfig, configPath)...)
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Forbidden(configPath, fmt.Sprintf("must not be set when session affinity is %s", corev1.ServiceAffinityNone)))
		}
	}
	return errs
}

func clientIPAffinityConfig(config *corev1.SessionAffinityConfig, fldPath *field.Path) field.ErrorList {
	required := fmt.Sprintf("when session affinity type is %s", corev1.ServiceAffinityClientIP)
	switch {
	case config == nil:
		return field.ErrorList{field.Required(fldPath, required)}
	case config.ClientIP == nil:
		return field.ErrorList{field.Required(fldPath.Child("clientIP"), required)}
	case config.ClientIP.TimeoutSeconds == nil:
		return field.ErrorList{field.Required(fldPath.Child("clientIP").Child("timeoutSeconds"), required)}
	}
	if t := *config.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
		return field.ErrorList{field.Invalid(fldPath.Child("clientIP").Child("timeoutSeconds"), t,
			fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds))}
	}
	return nil
}

// clusterIPFields checks clusterIP, clusterIPs, ipFamilies and ipFamilyPolicy
// against each other (ValidateServiceClusterIPsRelatedFields). ExternalName
// services have none of these; typeSpecificFields already covered them.
func clusterIPFields(svc *corev1.Service, oldClusterIPs []string) field.ErrorList {
	spec := &svc.Spec
	if spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	specPath := field.NewPath("spec")
	ipsPath := specPath.Child("clusterIPs")
	familiesPath := specPath.Child("ipFamilies")
	var errs field.ErrorList

	// clusterIP is the legacy single-value view of clusterIPs[0].
	if spec.ClusterIP != "" {
		if len(spec.ClusterIPs) == 0 {
			errs = append(errs, field.Required(ipsPath, ""))
		} else if spec.ClusterIPs[0] != spec.ClusterIP {
			errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "first value must match `clusterIP`"))
		}
	} else if len(spec.ClusterIPs) != 0 {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	}

	seen := map[corev1.IPFamily]bool{}
	for i, family := range spec.IPFamilies {
		if !oneOf(family, ipFamilies...) {
			errs = append(errs, notSupported(familiesPath.Index(i), family, ipFamilies...))
		}
		if seen[family] {
			errs = append(errs, field.Duplicate(familiesPath.Index(i), family))
		}
		seen[family] = true
	}
	if p := spec.IPFamilyPolicy; p != nil && !oneOf(*p, ipFamilyPolicies...) {
		errs = append(errs, notSupported(specPath.Child("ipFamilyPolicy"), p, ipFamilyPolicies...))
	}

	invalidIPs := false
	for i, ip := range spec.ClusterIPs {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(spec.ClusterIPs) > 1 {
				invalidIPs = true
				errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "'None' must be the first and only value"))
			}
			continue
		}
		ipErrs := legacyIP(ipsPath.Index(i), ip, oldClusterIPs...)
		invalidIPs = invalidIPs || len(ipErrs) != 0
		errs = append(errs, ipErrs...)
	}
	if len(spec.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may only hold up to 2 values"))
	}
	// Family checks on addresses that do not parse would only add noise.
	if invalidIPs {
		return errs
	}
	if len(spec.ClusterIPs) > 1 && !isDualStack(spec.ClusterIPs, ipFamilyOf) {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may specify no more than one IP for each IP family"))
	}
	if !isHeadless(svc) {
		for i, ip := range spec.ClusterIPs {
			if i >= len(spec.IPFamilies) {
				break
			}
			switch {
			case spec.IPFamilies[i] == corev1.IPv4Protocol && isIPv6(ip):
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv4 value as indicated by `ipFamilies[%v]`", i)))
			case spec.IPFamilies[i] == corev1.IPv6Protocol && !isIPv6(ip):
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv6 value as indicated by `ipFamilies[%v]`", i)))
			}
		}
	}
	return errs
}

// singleStackConsistency: a SingleStack service cannot carry two addresses or
// two families. kube-apiserver checks this while allocating cluster IPs
// (service storage, initIPFamilyFields); the messages are the same.
func singleStackConsistency(svc *corev1.Service) field.ErrorList {
	p := svc.Spec.IPFamilyPolicy
	if p == nil || *p != corev1.IPFamilyPolicySingleStack || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	policyPath := field.NewPath("spec", "ipFamilyPolicy")
	var errs field.ErrorList
	if len(svc.Spec.ClusterIPs) == 2 {
		errs = append(errs, field.Invalid(policyPath, p, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"))
	}
	if len(svc.Spec.IPFamilies) == 2 {
		errs = append(errs, field.Invalid(policyPath, p, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
	}
	return errs
}

// sourceRanges: spec.loadBalancerSourceRanges (or its older annotation form)
// restricts who may reach a load balancer, so it only makes sense there.
func sourceRanges(svc *corev1.Service, oldRanges []string) field.ErrorList {
	var errs field.ErrorList
	notLB := svc.Spec.Type != corev1.ServiceTypeLoadBalancer
	if len(svc.Spec.LoadBalancerSourceRanges) > 0 {
		// kube-apiserver names this path with a capital L.
		fldPath := field.NewPath("spec", "LoadBalancerSourceRanges")
		if notLB {
			errs = append(errs, field.Forbidden(fldPath, "may only be used when `type` is 'LoadBalancer'"))
		}
		for i, value := range svc.Spec.LoadBalancerSourceRanges {
			// Historically these values may be padded with spaces.
			errs = append(errs, legacyCIDR(fldPath.Index(i), strings.TrimSpace(value), oldRanges...)...)
		}
		return errs
	}
	val, set := svc.Annotations[loadBalancerSourceKey]
	if !set {
		return nil
	}
	fldPath := field.NewPath("metadata", "annotations").Key(loadBalancerSourceKey)
	if notLB {
		errs = append(errs, field.Forbidden(fldPath, "may only be used when `type` is 'LoadBalancer'"))
	}
	if val = strings.TrimSpace(val); val != "" {
		for _, value := range strings.Split(val, ",") {
			errs = append(errs, legacyCIDR(fldPath, strings.TrimSpace(value))...)
		}
	}
	return errs
}

// loadBalancerClass may only be set on LoadBalancer services, must be a
// qualified name, and cannot change while the service stays a LoadBalancer
// (the controller that owns the load balancer is chosen by it).
func loadBalancerClass(svc, old *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	fldPath := field.NewPath("spec", "loadBalancerClass")
	isLB := svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	if old != nil && old.Spec.Type == corev1.ServiceTypeLoadBalancer && isLB && !sameString(old.Spec.LoadBalancerClass, svc.Spec.LoadBalancerClass) {
		errs = append(errs, field.Invalid(fldPath, svc.Spec.LoadBalancerClass, "may not change once set"))
	}
	if svc.Spec.LoadBalancerClass == nil {
		return errs
	}
	if isLB {
		return append(errs, qualifiedName(*svc.Spec.LoadBalancerClass, fldPath)...)
	}
	return append(errs, field.Forbidden(fldPath, "may only be used when `type` is 'LoadBalancer'"))
}

// externallyAccessible: traffic can arrive from outside the cluster (node
// ports, load balancers, external IPs), so externalTrafficPolicy applies.
func externallyAccessible(svc *corev1.Service) bool {
	t := svc.Spec.Type
	return t == corev1.ServiceTypeLoadBalancer || t == corev1.ServiceTypeNodePort ||
		(t == corev1.ServiceTypeClusterIP && len(svc.Spec.ExternalIPs) > 0)
}

// needsHealthCheck: a LoadBalancer with externalTrafficPolicy Local gets a
// health-check node port so the load balancer can skip nodes without local
// endpoints.
func needsHealthCheck(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func externalTrafficPolicy(svc *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	specPath := field.NewPath("spec")
	var errs field.ErrorList
	switch {
	case !externallyAccessible(svc):
		if spec.ExternalTrafficPolicy != "" {
			errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy,
				"may only be set for externally-accessible services"))
		}
	case spec.ExternalTrafficPolicy == "":
		errs = append(errs, field.Required(specPath.Child("externalTrafficPolicy"), ""))
	case !oneOf(spec.ExternalTrafficPolicy, trafficPolicies...):
		errs = append(errs, notSupported(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, trafficPolicies...))
	}
	hcPath := specPath.Child("healthCheckNodePort")
	switch {
	case !needsHealthCheck(svc):
		if spec.HealthCheckNodePort != 0 {
			errs = append(errs, field.Invalid(hcPath, spec.HealthCheckNodePort,
				"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		}
	case spec.HealthCheckNodePort == 0:
		errs = append(errs, field.Required(hcPath, ""))
	default:
		errs = append(errs, invalidEach(hcPath, spec.HealthCheckNodePort, validation.IsValidPortNum(int(spec.HealthCheckNodePort)))...)
	}
	return errs
}

func internalTrafficPolicy(svc *corev1.Service) field.ErrorList {
	fldPath := field.NewPath("spec").Child("internalTrafficPolicy")
	p := svc.Spec.InternalTrafficPolicy
	if p == nil {
		// Not required on ExternalName services: they were never checked.
		if oneOf(svc.Spec.Type, corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer) {
			return field.ErrorList{field.Required(fldPath, "")}
		}
		return nil
	}
	if !oneOf(*p, internalPolicies...) {
		return field.ErrorList{notSupported(fldPath, *p, internalPolicies...)}
	}
	return nil
}

func validateServiceStatusUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := objectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	var oldIPs []string
	for _, ing := range old.Status.LoadBalancer.Ingress {
		oldIPs = append(oldIPs, ing.IP)
	}
	return append(errs, loadBalancerStatus(&svc.Status.LoadBalancer, &svc.Spec, oldIPs)...)
}

// loadBalancerStatus checks what a load-balancer controller reports in
// status.loadBalancer.ingress.
func loadBalancerStatus(status *corev1.LoadBalancerStatus, spec *corev1.ServiceSpec, oldIPs []string) field.ErrorList {
	ingressPath := field.NewPath("status", "loadBalancer").Child("ingress")
	if spec.Type != corev1.ServiceTypeLoadBalancer && len(status.Ingress) != 0 {
		return field.ErrorList{field.Forbidden(ingressPath, "may only be used when `spec.type` is 'LoadBalancer'")}
	}
	var errs field.ErrorList
	for i, ing := range status.Ingress {
		idxPath := ingressPath.Index(i)
		if ing.IP != "" {
			errs = append(errs, legacyIP(idxPath.Child("ip"), ing.IP, oldIPs...)...)
		}
		switch {
		case ing.IPMode == nil:
			if ing.IP != "" {
				errs = append(errs, field.Required(idxPath.Child("ipMode"), "must be specified when `ip` is set"))
			}
		case ing.IP == "":
			errs = append(errs, field.Forbidden(idxPath.Child("ipMode"), "may not be specified when `ip` is not set"))
		case !oneOf(*ing.IPMode, loadBalancerIPModes...):
			errs = append(errs, notSupported(idxPath.Child("ipMode"), ing.IPMode, loadBalancerIPModes...))
		}
		if ing.Hostname != "" {
			errs = append(errs, dnsSubdomain(ing.Hostname, idxPath.Child("hostname"))...)
			if parseIPSloppy(ing.Hostname) != nil {
				errs = append(errs, field.Invalid(idxPath.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}

func isHeadless(svc *corev1.Service) bool {
	return svc != nil && len(svc.Spec.ClusterIPs) == 1 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone
}

func sameString(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// oldField reads a list from the stored object, or nothing on create.
func oldField(old *corev1.Service, get func(*corev1.Service) []string) []string {
	if old == nil {
		return nil
	}
	return get(old)
}
