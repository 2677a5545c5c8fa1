package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// kubectlExposeNodePort is the body `kubectl expose deployment hello --port=80 --target-port=8080
// --type=NodePort` sends.
const kubectlExposeNodePort = `
kind: Service
apiVersion: v1
metadata:
  name: hello
  creationTimestamp: null
  labels: {app: hello}
spec:
  ports:
  - protocol: TCP
    port: 80
    targetPort: 8080
  selector: {app: hello}
  type: NodePort
status:
  loadBalancer: {}
`

func TestServiceSpecs(t *testing.T) {
	tests := []struct {
		name       string
		manifest   string
		wantSpec   string
		wantStatus string // compared only when set
	}{
		{
			// clusterIP, clusterIPs, ipFamilies, ipFamilyPolicy and nodePort come from the
			// allocators, not from defaulting.
			name:     "kubectl expose --type=NodePort",
			manifest: kubectlExposeNodePort,
			wantSpec: `
externalTrafficPolicy: Cluster
internalTrafficPolicy: Cluster
ports:
- port: 80
  protocol: TCP
  targetPort: 8080
selector:
  app: hello
sessionAffinity: None
type: NodePort
`,
		},
		{
			name: "ClientIP affinity without timeout, port without protocol and targetPort",
			manifest: `
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports:
  - name: http
    port: 80
`,
			wantSpec: `
internalTrafficPolicy: Cluster
ports:
- name: http
  port: 80
  protocol: TCP
  targetPort: 80
selector:
  app: web
sessionAffinity: ClientIP
sessionAffinityConfig:
  clientIP:
    timeoutSeconds: 10800
type: ClusterIP
`,
		},
		{
			name: "ClientIP affinity with an empty clientIP block",
			manifest: `
spec:
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {}}
`,
			wantSpec: `
internalTrafficPolicy: Cluster
sessionAffinity: ClientIP
sessionAffinityConfig:
  clientIP:
    timeoutSeconds: 10800
type: ClusterIP
`,
		},
		{
			name: "affinity None drops a stray sessionAffinityConfig",
			manifest: `
spec:
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
`,
			wantSpec: `
internalTrafficPolicy: Cluster
sessionAffinity: None
type: ClusterIP
`,
		},
		{
			name: "LoadBalancer",
			manifest: `
spec:
  type: LoadBalancer
  ports:
  - {port: 443, targetPort: https}
status:
  loadBalancer:
    ingress:
    - ip: 172.30.0.200
    - hostname: lb.example.com
`,
			wantSpec: `
allocateLoadBalancerNodePorts: true
externalTrafficPolicy: Cluster
internalTrafficPolicy: Cluster
ports:
- port: 443
  protocol: TCP
  targetPort: https
sessionAffinity: None
type: LoadBalancer
`,
			wantStatus: `
loadBalancer:
  ingress:
  - ip: 172.30.0.200
    ipMode: VIP
  - hostname: lb.example.com
`,
		},
		{
			name: "ClusterIP with externalIPs is externally accessible",
			manifest: `
spec:
  externalIPs: [172.30.0.100]
  ports: [{port: 80}]
`,
			wantSpec: `
externalIPs: [172.30.0.100]
externalTrafficPolicy: Cluster
internalTrafficPolicy: Cluster
ports:
- port: 80
  protocol: TCP
  targetPort: 80
sessionAffinity: None
type: ClusterIP
`,
		},
		{
			name: "ExternalName gets no traffic policies",
			manifest: `
spec:
  type: ExternalName
  externalName: example.com
`,
			wantSpec: `
externalName: example.com
sessionAffinity: None
type: ExternalName
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &corev1.Service{}
			decodeYAML(t, tt.manifest, svc)
			Default(svc)
			assertYAML(t, field(t, svc, "spec"), tt.wantSpec)
			if tt.wantStatus != "" {
				assertYAML(t, field(t, svc, "status"), tt.wantStatus)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	ep := &corev1.Endpoints{}
	decodeYAML(t, `
subsets:
- addresses: [{ip: 10.244.1.5}]
  ports:
  - {port: 8080}
  - {name: dns, port: 53, protocol: UDP}
`, ep)
	Default(ep)
	assertYAML(t, field(t, ep, "subsets"), `
- addresses: [{ip: 10.244.1.5}]
  ports:
  - {port: 8080, protocol: TCP}
  - {name: dns, port: 53, protocol: UDP}
`)
}

func TestEndpointSlice(t *testing.T) {
	slice := &discoveryv1.EndpointSlice{}
	decodeYAML(t, `
addressType: IPv4
endpoints:
- addresses: [10.244.1.5]
ports:
- port: 8080
- {name: dns, port: 53, protocol: UDP}
`, slice)
	Default(slice)
	// The unnamed port reads back as name: "" (kubectl describe dereferences the name).
	assertYAML(t, field(t, slice, "ports"), `
- {name: "", port: 8080, protocol: TCP}
- {name: dns, port: 53, protocol: UDP}
`)
	if slice.Ports[0].Name == nil || slice.Ports[0].Protocol == nil {
		t.Fatal("port name and protocol must be non-nil after defaulting")
	}
	// Defaults are never shared between objects: changing one slice must not change another.
	other := &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{}}}
	Default(other)
	*slice.Ports[0].Protocol = corev1.ProtocolSCTP
	if *other.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("default protocol pointer is shared between objects")
	}
}
