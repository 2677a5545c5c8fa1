package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestServiceRows(t *testing.T) {
	tcp := func(port, nodePort int32) corev1.ServicePort {
		return corev1.ServicePort{Port: port, NodePort: nodePort, Protocol: corev1.ProtocolTCP}
	}
	svc := func(typ corev1.ServiceType, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
		s := &corev1.Service{
			ObjectMeta: objectMeta("hello-world", 5*time.Minute),
			Spec:       corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP, Ports: ports, Selector: map[string]string{"app": "hello-world"}},
		}
		if clusterIP != "" {
			s.Spec.ClusterIPs = []string{clusterIP}
		}
		return s
	}
	lbIngress := func(s *corev1.Service, ingress ...corev1.LoadBalancerIngress) *corev1.Service {
		s.Status.LoadBalancer.Ingress = ingress
		return s
	}
	externalIPs := func(s *corev1.Service, ips ...string) *corev1.Service {
		s.Spec.ExternalIPs = ips
		return s
	}

	clusterIPOnly := svc(corev1.ServiceTypeClusterIP, "", tcp(80, 0))
	clusterIPOnly.Spec.ClusterIP = "10.96.0.20" // clusterIPs not filled in

	noSelector := svc(corev1.ServiceTypeClusterIP, "10.96.0.1", corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP})
	noSelector.Name = "kubernetes"
	noSelector.Spec.Selector = nil

	dns := svc(corev1.ServiceTypeClusterIP, "10.96.0.10",
		corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
		corev1.ServicePort{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP},
		corev1.ServicePort{Name: "metrics", Port: 9153, Protocol: corev1.ProtocolTCP})
	dns.Spec.Selector = map[string]string{"k8s-app": "kube-dns", "tier": "dns"}

	externalName := &corev1.Service{
		ObjectMeta: objectMeta("db", time.Minute),
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"},
	}

	tests := []struct {
		name string
		svc  *corev1.Service
		want []interface{}
	}{
		{"cluster IP", svc(corev1.ServiceTypeClusterIP, "10.96.12.34", tcp(80, 0)),
			[]interface{}{"hello-world", "ClusterIP", "10.96.12.34", "<none>", "80/TCP", "5m", "app=hello-world"}},
		{"cluster IP only in the single-stack field", clusterIPOnly,
			[]interface{}{"hello-world", "ClusterIP", "10.96.0.20", "<none>", "80/TCP", "5m", "app=hello-world"}},
		{"no selector", noSelector,
			[]interface{}{"kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP", "5m", "<none>"}},
		{"several ports and a sorted selector", dns,
			[]interface{}{"hello-world", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP,9153/TCP", "5m", "k8s-app=kube-dns,tier=dns"}},
		{"cluster IP with external IPs", externalIPs(svc(corev1.ServiceTypeClusterIP, "10.96.12.34", tcp(80, 0)), "172.30.0.50", "172.30.0.51"),
			[]interface{}{"hello-world", "ClusterIP", "10.96.12.34", "172.30.0.50,172.30.0.51", "80/TCP", "5m", "app=hello-world"}},
		{"headless", svc(corev1.ServiceTypeClusterIP, "None", tcp(80, 0)),
			[]interface{}{"hello-world", "ClusterIP", "None", "<none>", "80/TCP", "5m", "app=hello-world"}},
		{"headless without ports", svc(corev1.ServiceTypeClusterIP, "None"),
			[]interface{}{"hello-world", "ClusterIP", "None", "<none>", "<none>", "5m", "app=hello-world"}},
		{"node port", svc(corev1.ServiceTypeNodePort, "10.96.100.200", tcp(80, 30080)),
			[]interface{}{"hello-world", "NodePort", "10.96.100.200", "<none>", "80:30080/TCP", "5m", "app=hello-world"}},
		{"node port, two ports", svc(corev1.ServiceTypeNodePort, "10.96.100.200", tcp(80, 30080), tcp(443, 30443)),
			[]interface{}{"hello-world", "NodePort", "10.96.100.200", "<none>", "80:30080/TCP,443:30443/TCP", "5m", "app=hello-world"}},
		{"load balancer pending", svc(corev1.ServiceTypeLoadBalancer, "10.96.5.6", tcp(80, 31234)),
			[]interface{}{"hello-world", "LoadBalancer", "10.96.5.6", "<pending>", "80:31234/TCP", "5m", "app=hello-world"}},
		{"load balancer with ingress IP", lbIngress(svc(corev1.ServiceTypeLoadBalancer, "10.96.5.6", tcp(80, 31234)), corev1.LoadBalancerIngress{IP: "172.30.0.200"}),
			[]interface{}{"hello-world", "LoadBalancer", "10.96.5.6", "172.30.0.200", "80:31234/TCP", "5m", "app=hello-world"}},
		{"load balancer without node ports", svc(corev1.ServiceTypeLoadBalancer, "10.96.5.6", tcp(80, 0)),
			[]interface{}{"hello-world", "LoadBalancer", "10.96.5.6", "<pending>", "80/TCP", "5m", "app=hello-world"}},
		{"external name", externalName,
			[]interface{}{"db", "ExternalName", "<none>", "db.example.com", "<none>", "60s", "<none>"}},
	}
	p := mustPrinter(t, "", "services")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectRow(t, p, tt.svc, tt.want...) })
	}
}

func TestServiceLoadBalancerExternalIP(t *testing.T) {
	lb := func(externalIPs []string, ingress ...corev1.LoadBalancerIngress) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: objectMeta("web", time.Minute),
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.99"}, ExternalIPs: externalIPs},
			Status:     corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: ingress}},
		}
	}
	tests := []struct {
		name string
		svc  *corev1.Service
		want string
	}{
		{"hostname ingress", lb(nil, corev1.LoadBalancerIngress{Hostname: "lb.example.com"}), "lb.example.com"},
		{"IP preferred over hostname", lb(nil, corev1.LoadBalancerIngress{IP: "172.30.0.201", Hostname: "lb.example.com"}), "172.30.0.201"},
		{"ingress sorted and deduplicated", lb(nil,
			corev1.LoadBalancerIngress{IP: "172.30.0.210"}, corev1.LoadBalancerIngress{IP: "172.30.0.201"}, corev1.LoadBalancerIngress{IP: "172.30.0.210"}),
			"172.30.0.201,172.30.0.210"},
		{"ingress then external IPs", lb([]string{"192.168.50.9"}, corev1.LoadBalancerIngress{IP: "172.30.0.201"}), "172.30.0.201,192.168.50.9"},
		{"external IPs without ingress", lb([]string{"192.168.50.9"}), "192.168.50.9"},
		// The server builds the wide form, which is never clipped to 16 characters.
		{"long list not clipped", lb(nil, corev1.LoadBalancerIngress{Hostname: "a1b2c3d4e5f6.elb.us-east-1.amazonaws.com"}), "a1b2c3d4e5f6.elb.us-east-1.amazonaws.com"},
	}
	p := mustPrinter(t, "", "services")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectCells(t, p, tt.svc, map[string]interface{}{"External-IP": tt.want})
		})
	}
}

func TestServiceUnknownType(t *testing.T) {
	s := &corev1.Service{ObjectMeta: objectMeta("odd", time.Minute)}
	expectCells(t, mustPrinter(t, "", "services"), s, map[string]interface{}{"Type": "", "External-IP": "<unknown>", "Cluster-IP": "<none>"})
}
