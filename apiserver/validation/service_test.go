package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestServiceCreate(t *testing.T) {
	secondPort := func(s *corev1.Service, p corev1.ServicePort) {
		s.Spec.Ports = append(s.Spec.Ports, p)
	}
	cases := []struct {
		name   string
		base   func() *corev1.Service
		mutate func(*corev1.Service)
		want   []string
	}{
		// ports
		{"port 0", service, func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 },
			[]string{`spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`}},
		{"port 70000", service, func(s *corev1.Service) { s.Spec.Ports[0].Port = 70000 },
			[]string{`spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive`}},
		{"ports required", service, func(s *corev1.Service) { s.Spec.Ports = nil },
			[]string{`spec.ports: Required value`}},
		{"headless services need no ports", headlessService, func(s *corev1.Service) { s.Spec.Ports = nil }, nil},
		{"second port needs a name", service, func(s *corev1.Service) {
			secondPort(s, corev1.ServicePort{Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(8443)})
		}, []string{`spec.ports[1].name: Required value`}},
		{"duplicate port names", service, func(s *corev1.Service) {
			secondPort(s, corev1.ServicePort{Name: "http", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(8443)})
		}, []string{`spec.ports[1].name: Duplicate value: "http"`}},
		{"port names are DNS labels", service, func(s *corev1.Service) { s.Spec.Ports[0].Name = "HTTP" },
			[]string{`spec.ports[0].name: Invalid value: "HTTP": ` + dns1123LabelMsg}},
		{"unknown protocol", service, func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" },
			[]string{`spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"`}},
		{"targetPort 0", service, func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(0) },
			[]string{`spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive`}},
		{"targetPort by name", service, func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("http") }, nil},
		{"targetPort name must be an IANA service name", service, func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("HTTP_PORT") },
			[]string{
				`spec.ports[0].targetPort: Invalid value: "HTTP_PORT": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
				`spec.ports[0].targetPort: Invalid value: "HTTP_PORT": must contain at least one letter (a-z)`,
			}},
		{"appProtocol is a qualified name", service, func(s *corev1.Service) { s.Spec.Ports[0].AppProtocol = ptrTo("kubernetes.io/h2c") }, nil},
		{"nodePort on a ClusterIP service", service, func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 },
			[]string{"spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"}},
		{"duplicate port and protocol", service, func(s *corev1.Service) {
			secondPort(s, corev1.ServicePort{Name: "alt", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8081)})
		}, []string{`spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}`}},
		{"same port, other protocol", service, func(s *corev1.Service) {
			secondPort(s, corev1.ServicePort{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 80, TargetPort: intstr.FromInt32(8080)})
		}, nil},
		{"duplicate nodePort", nodePortService, func(s *corev1.Service) {
			secondPort(s, corev1.ServicePort{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(8443), NodePort: 30080})
		}, []string{`spec.ports[1].nodePort: Duplicate value: 30080`}},

		// type and ExternalName
		{"unknown type", service, func(s *corev1.Service) { s.Spec.Type = "Internal" },
			[]string{`spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`}},
		{"ExternalName without externalName", externalNameService, func(s *corev1.Service) { s.Spec.ExternalName = "" },
			[]string{`spec.externalName: Required value`}},
		{"ExternalName with a trailing dot", externalNameService, func(s *corev1.Service) { s.Spec.ExternalName = "db.example.com." }, nil},
		{"ExternalName must be a DNS name", externalNameService, func(s *corev1.Service) { s.Spec.ExternalName = "db_host" },
			[]string{`spec.externalName: Invalid value: "db_host": ` + dns1123SubdomainMsg}},
		{"ExternalName has no cluster IP", externalNameService, func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.5"
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}, []string{
			`spec.clusterIPs: Forbidden: may not be set for ExternalName services`,
			`spec.ipFamilies: Forbidden: may not be set for ExternalName services`,
		}},

		// cluster IPs and families
		{"clusterIPs[0] must match clusterIP", service, func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.99"} },
			[]string{"spec.clusterIPs: Invalid value: []string{\"10.96.0.99\"}: first value must match `clusterIP`"}},
		{"clusterIPs without clusterIP", service, func(s *corev1.Service) { s.Spec.ClusterIP = "" },
			[]string{"spec.clusterIPs: Invalid value: []string{\"10.96.12.34\"}: must be empty when `clusterIP` is not specified"}},
		{"invalid cluster IP", service, func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.300", []string{"10.96.0.300"}
		}, []string{`spec.clusterIPs[0]: Invalid value: "10.96.0.300": ` + ipMsg}},
		{"legacy IPs with leading zeros are still accepted", service, func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "010.096.000.010", []string{"010.096.000.010"}
		}, nil},
		{"headless NodePort", nodePortService, func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}, []string{`spec.clusterIPs[0]: Invalid value: "None": may not be set to 'None' for NodePort services`}},
		{"family does not match the address", service, func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} },
			[]string{"spec.clusterIPs[0]: Invalid value: \"10.96.12.34\": expected an IPv6 value as indicated by `ipFamilies[0]`"}},
		{"unknown family", service, func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{"IPv5"} },
			[]string{`spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"`}},
		{"SingleStack with two families", service, func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		}, []string{`spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified`}},
		{"dual-stack service", service, func(s *corev1.Service) {
			s.Spec.ClusterIPs = append(s.Spec.ClusterIPs, "fd00:10:96::1234")
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
			s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyRequireDualStack)
		}, nil},
		{"two addresses of one family", service, func(s *corev1.Service) {
			s.Spec.ClusterIPs = append(s.Spec.ClusterIPs, "10.96.12.35")
			s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyPreferDualStack)
		}, []string{`spec.clusterIPs: Invalid value: []string{"10.96.12.34", "10.96.12.35"}: may specify no more than one IP for each IP family`}},
		{"unknown family policy", service, func(s *corev1.Service) { s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicy("Dual")) },
			[]string{`spec.ipFamilyPolicy: Unsupported value: "Dual": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"`}},

		// session affinity
		{"unknown session affinity", service, func(s *corev1.Service) { s.Spec.SessionAffinity = "Sticky" },
			[]string{`spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"`}},
		{"ClientIP needs its config", service, func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP },
			[]string{`spec.sessionAffinityConfig: Required value: when session affinity type is ClientIP`}},
		{"ClientIP timeout out of range", service, func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](86401)}}
		}, []string{`spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400`}},
		{"ClientIP with the default timeout", service, func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](10800)}}
		}, nil},
		{"config without ClientIP affinity", service, func(s *corev1.Service) {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](10800)}}
		}, []string{`spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None`}},

		// traffic policies
		{"externalTrafficPolicy on a ClusterIP service", service, func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal },
			[]string{`spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services`}},
		{"NodePort needs externalTrafficPolicy", nodePortService, func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = "" },
			[]string{`spec.externalTrafficPolicy: Required value`}},
		{"unknown externalTrafficPolicy", nodePortService, func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = "Nearest" },
			[]string{`spec.externalTrafficPolicy: Unsupported value: "Nearest": supported values: "Cluster", "Local"`}},
		{"Local LoadBalancer needs a health check port", loadBalancerService, func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal },
			[]string{`spec.healthCheckNodePort: Required value`}},
		{"Local LoadBalancer with health check port", loadBalancerService, func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Spec.HealthCheckNodePort = 31234
		}, nil},
		{"health check port on a NodePort service", nodePortService, func(s *corev1.Service) { s.Spec.HealthCheckNodePort = 31234 },
			[]string{"spec.healthCheckNodePort: Invalid value: 31234: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"}},
		{"internalTrafficPolicy required", service, func(s *corev1.Service) { s.Spec.InternalTrafficPolicy = nil },
			[]string{`spec.internalTrafficPolicy: Required value`}},
		{"unknown internalTrafficPolicy", service, func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptrTo(corev1.ServiceInternalTrafficPolicy("Zone"))
		}, []string{`spec.internalTrafficPolicy: Unsupported value: "Zone": supported values: "Cluster", "Local"`}},
		{"unknown trafficDistribution", service, func(s *corev1.Service) { s.Spec.TrafficDistribution = ptrTo("Random") },
			[]string{`spec.trafficDistribution: Unsupported value: "Random": supported values: "PreferClose"`}},

		// external IPs, load balancers
		{"external IPs", service, func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"172.30.0.10", "1.2.3", "127.0.0.1"}
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, []string{
			`spec.externalIPs[1]: Invalid value: "1.2.3": ` + ipMsg,
			`spec.externalIPs[2]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)`,
		}},
		{"external IPs make externalTrafficPolicy required", service, func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"172.30.0.10"} },
			[]string{`spec.externalTrafficPolicy: Required value`}},
		{"source ranges on a ClusterIP service", service, func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} },
			[]string{"spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"}},
		{"invalid source range", loadBalancerService, func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{" 10.0.0.0/8", "10.0.0.0/33"} },
			[]string{`spec.LoadBalancerSourceRanges[1]: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)`}},
		{"allocateLoadBalancerNodePorts on NodePort", nodePortService, func(s *corev1.Service) { s.Spec.AllocateLoadBalancerNodePorts = ptrTo(true) },
			[]string{"spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when `type` is 'LoadBalancer'"}},
		{"LoadBalancer needs allocateLoadBalancerNodePorts", loadBalancerService, func(s *corev1.Service) { s.Spec.AllocateLoadBalancerNodePorts = nil },
			[]string{`allocateLoadBalancerNodePorts: Required value`}},
		{"loadBalancerClass on a ClusterIP service", service, func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptrTo("minilab.dev/lb") },
			[]string{"spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'"}},
		{"loadBalancerClass must be a qualified name", loadBalancerService, func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptrTo("minilab.dev/") },
			[]string{`spec.loadBalancerClass: Invalid value: "minilab.dev/": name part must be non-empty`,
				`spec.loadBalancerClass: Invalid value: "minilab.dev/": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},

		// selector
		{"selector labels", service, func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "web!"} },
			[]string{`spec.selector: Invalid value: "web!": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.base()
			tc.mutate(s)
			expectErrors(t, ValidateCreate(s), tc.want...)
		})
	}
}

// The exact text kubectl shows for a Service with a bad port.
func TestServiceInvalidMessage(t *testing.T) {
	s := service()
	s.Spec.Ports[0].Port = 70000
	got := ValidateCreate(s).ToAggregate().Error()
	want := "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestServiceUpdate(t *testing.T) {
	cases := []struct {
		name   string
		old    func() *corev1.Service
		mutate func(*corev1.Service)
		want   []string
	}{
		{"clusterIP is fixed", service, func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.99", []string{"10.96.0.99"}
		}, []string{`spec.clusterIPs[0]: Invalid value: []string{"10.96.0.99"}: may not change once set`}},
		{"changing only clusterIP reads as changing clusterIPs", service, func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.99" },
			[]string{`spec.clusterIPs[0]: Invalid value: []string{"10.96.0.99"}: may not change once set`}},
		{"clusterIP cannot be removed", service, func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil },
			[]string{`spec.clusterIPs[0]: Invalid value: []string(nil): primary clusterIP can not be unset`}},
		{"an old client omits clusterIPs", service, func(s *corev1.Service) { s.Spec.ClusterIPs = nil }, nil},
		{"ipFamilies are fixed", service, func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} },
			[]string{
				`spec.ipFamilies[0]: Invalid value: []core.IPFamily{"IPv6"}: may not change once set`,
				"spec.clusterIPs[0]: Invalid value: \"10.96.12.34\": expected an IPv6 value as indicated by `ipFamilies[0]`",
			}},
		{"upgrade to dual-stack", service, func(s *corev1.Service) {
			s.Spec.ClusterIPs = append(s.Spec.ClusterIPs, "fd00:10:96::1234")
			s.Spec.IPFamilies = append(s.Spec.IPFamilies, corev1.IPv6Protocol)
			s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyRequireDualStack)
		}, nil},
		{"downgrade needs SingleStack", dualStackService, func(s *corev1.Service) {
			s.Spec.ClusterIPs = s.Spec.ClusterIPs[:1]
			s.Spec.IPFamilies = s.Spec.IPFamilies[:1]
		}, []string{
			`spec.ipFamilyPolicy: Invalid value: "RequireDualStack": must be set to 'SingleStack' when releasing the secondary clusterIP`,
			`spec.ipFamilyPolicy: Invalid value: "RequireDualStack": must be set to 'SingleStack' when releasing the secondary ipFamily`,
		}},
		{"downgrade to SingleStack", dualStackService, func(s *corev1.Service) {
			s.Spec.ClusterIPs = s.Spec.ClusterIPs[:1]
			s.Spec.IPFamilies = s.Spec.IPFamilies[:1]
			s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack)
		}, nil},
		{"to ExternalName, with the cluster IP fields cleared", service, func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "web.example.com"
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = "", nil, nil, nil
		}, nil},
		{"to ExternalName, keeping the cluster IP", service, func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "web.example.com"
			s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = nil, nil
		}, []string{`spec.clusterIPs: Forbidden: may not be set for ExternalName services`}},
		{"from ExternalName to ClusterIP", externalNameService, func(s *corev1.Service) {
			n := service()
			n.ObjectMeta = s.ObjectMeta
			*s = *n
		}, nil},
		{"ClusterIP to NodePort", service, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 31000
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, nil},
		{"loadBalancerClass is fixed", loadBalancerService, func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptrTo("minilab.dev/other") },
			[]string{`spec.loadBalancerClass: Invalid value: "minilab.dev/other": may not change once set`}},
		{"healthCheckNodePort is fixed", localLoadBalancerService, func(s *corev1.Service) { s.Spec.HealthCheckNodePort = 31999 },
			[]string{`spec.healthCheckNodePort: Forbidden: field is immutable`}},
		{"selector may change", service, func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "web-v2"} }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.old()
			tc.mutate(s)
			expectErrors(t, ValidateUpdate(s, tc.old()), tc.want...)
		})
	}
}

func dualStackService() *corev1.Service {
	s := service()
	s.Spec.ClusterIPs = append(s.Spec.ClusterIPs, "fd00:10:96::1234")
	s.Spec.IPFamilies = append(s.Spec.IPFamilies, corev1.IPv6Protocol)
	s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyRequireDualStack)
	return s
}

func localLoadBalancerService() *corev1.Service {
	s := loadBalancerService()
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	s.Spec.HealthCheckNodePort = 31234
	s.Spec.LoadBalancerClass = ptrTo("minilab.dev/lb")
	return s
}

func TestServiceStatusUpdate(t *testing.T) {
	vip := ptrTo(corev1.LoadBalancerIPModeVIP)
	cases := []struct {
		name    string
		base    func() *corev1.Service
		ingress []corev1.LoadBalancerIngress
		want    []string
	}{
		{"an assigned address", loadBalancerService, []corev1.LoadBalancerIngress{{IP: "172.30.0.200", IPMode: vip}}, nil},
		{"ipMode is required with ip", loadBalancerService, []corev1.LoadBalancerIngress{{IP: "172.30.0.200"}},
			[]string{"status.loadBalancer.ingress[0].ipMode: Required value: must be specified when `ip` is set"}},
		{"invalid address", loadBalancerService, []corev1.LoadBalancerIngress{{IP: "172.30.0.300", IPMode: vip}},
			[]string{`status.loadBalancer.ingress[0].ip: Invalid value: "172.30.0.300": ` + ipMsg}},
		{"hostname may not be an IP", loadBalancerService, []corev1.LoadBalancerIngress{{Hostname: "172.30.0.200"}},
			[]string{`status.loadBalancer.ingress[0].hostname: Invalid value: "172.30.0.200": must be a DNS name, not an IP address`}},
		{"ipMode without ip", loadBalancerService, []corev1.LoadBalancerIngress{{Hostname: "lb.example.com", IPMode: vip}},
			[]string{"status.loadBalancer.ingress[0].ipMode: Forbidden: may not be specified when `ip` is not set"}},
		{"only LoadBalancers have ingress", service, []corev1.LoadBalancerIngress{{IP: "172.30.0.200", IPMode: vip}},
			[]string{"status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.base()
			s.Status.LoadBalancer.Ingress = tc.ingress
			expectErrors(t, ValidateStatusUpdate(s, tc.base()), tc.want...)
		})
	}
}
