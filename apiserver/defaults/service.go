package defaults

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// defaultService applies upstream SetDefaults_Service. The fields the Service REST storage fills
// in while allocating (clusterIP(s), ipFamilies, ipFamilyPolicy, nodePort, healthCheckNodePort)
// are not defaults and are left to the allocators.
func defaultService(svc *corev1.Service) {
	spec := &svc.Spec
	setIfEmpty(&spec.SessionAffinity, corev1.ServiceAffinityNone)
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		// A config without affinity means nothing; the API server drops it.
		spec.SessionAffinityConfig = nil
	case corev1.ServiceAffinityClientIP:
		// ClientIP affinity sticks for three hours unless the timeout is given.
		if spec.SessionAffinityConfig == nil || spec.SessionAffinityConfig.ClientIP == nil ||
			spec.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{
				ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo(corev1.DefaultClientIPServiceAffinitySeconds)},
			}
		}
	}
	setIfEmpty(&spec.Type, corev1.ServiceTypeClusterIP)

	for i := range spec.Ports {
		port := &spec.Ports[i]
		setIfEmpty(&port.Protocol, corev1.ProtocolTCP)
		// Without a targetPort, traffic goes to the same port number on the pods.
		if port.TargetPort == intstr.FromInt32(0) || port.TargetPort == intstr.FromString("") {
			port.TargetPort = intstr.FromInt32(port.Port)
		}
	}

	if externallyAccessible(svc) {
		setIfEmpty(&spec.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster)
	}
	// Services with a cluster IP route in-cluster traffic to endpoints on every node. An
	// ExternalName service is only a DNS CNAME and gets no policy.
	switch spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		setIfNil(&spec.InternalTrafficPolicy, corev1.ServiceInternalTrafficPolicyCluster)
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer {
		setIfNil(&spec.AllocateLoadBalancerNodePorts, true)
		// A load-balancer IP is a virtual IP (traffic arrives addressed to it, and kube-proxy
		// handles it on the node) unless the load balancer says it proxies (ipMode Proxy).
		for i := range svc.Status.LoadBalancer.Ingress {
			ingress := &svc.Status.LoadBalancer.Ingress[i]
			if ingress.IP != "" {
				setIfNil(&ingress.IPMode, corev1.LoadBalancerIPModeVIP)
			}
		}
	}
}

// externallyAccessible tells whether traffic can reach the service from outside the cluster:
// through node ports, a load balancer, or external IPs.
func externallyAccessible(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		return true
	case corev1.ServiceTypeClusterIP:
		return len(svc.Spec.ExternalIPs) > 0
	}
	return false
}

// defaultEndpoints applies upstream SetDefaults_Endpoints.
func defaultEndpoints(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			setIfEmpty(&ep.Subsets[i].Ports[j].Protocol, corev1.ProtocolTCP)
		}
	}
}

// defaultEndpointSlice applies upstream SetDefaults_EndpointPort (discovery/v1): every port gets
// a name (the empty name of an unnamed service port) and a protocol. The EndpointSlice
// controller always sets the name too, and `kubectl describe` dereferences it.
func defaultEndpointSlice(slice *discoveryv1.EndpointSlice) {
	for i := range slice.Ports {
		setIfNil(&slice.Ports[i].Name, "")
		setIfNil(&slice.Ports[i].Protocol, corev1.ProtocolTCP)
	}
}

func ptrTo[T any](v T) *T { return &v }
