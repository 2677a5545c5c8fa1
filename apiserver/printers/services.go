package printers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

var serviceSpecDoc = corev1.ServiceSpec{}.SwaggerDoc()

var servicePrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		nameColumn(),
		stringColumn("Type", serviceSpecDoc["type"]),
		stringColumn("Cluster-IP", serviceSpecDoc["clusterIP"]),
		stringColumn("External-IP", serviceSpecDoc["externalIPs"]),
		stringColumn("Port(s)", serviceSpecDoc["ports"]),
		ageColumn(),
		wide(stringColumn("Selector", serviceSpecDoc["selector"])),
	},
	Row: rowOf(serviceCells),
}

func serviceCells(svc *corev1.Service, now time.Time) []interface{} {
	return []interface{}{
		svc.Name,
		string(svc.Spec.Type),
		orNone(serviceClusterIP(svc)),
		serviceExternalIP(svc),
		orNone(servicePorts(svc.Spec.Ports)),
		age(svc.CreationTimestamp, now),
		labels.FormatLabels(svc.Spec.Selector),
	}
}

// serviceClusterIP is the primary cluster IP ("None" for a headless service).
// clusterIPs[0] is authoritative; clusterIP is its older single-stack twin,
// which the API server copies into clusterIPs when only it is set.
func serviceClusterIP(svc *corev1.Service) string {
	if len(svc.Spec.ClusterIPs) > 0 {
		return svc.Spec.ClusterIPs[0]
	}
	return svc.Spec.ClusterIP
}

// serviceExternalIP is the EXTERNAL-IP cell, which depends on the service type:
// externalIPs for ClusterIP and NodePort services; the load balancer's
// ingress addresses plus externalIPs for LoadBalancer services (<pending>
// until the load balancer has any); the DNS name for ExternalName services.
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return orNone(strings.Join(svc.Spec.ExternalIPs, ","))
	case corev1.ServiceTypeLoadBalancer:
		addrs := append(loadBalancerAddresses(svc.Status.LoadBalancer), svc.Spec.ExternalIPs...)
		if len(addrs) == 0 {
			return "<pending>"
		}
		return strings.Join(addrs, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return unknown
}

// loadBalancerAddresses lists each ingress point once, by IP or else hostname,
// sorted. The upstream printer clips this list to 16 characters for narrow
// output only; the API server always builds the wide form, so a Table never
// carries a clipped list.
func loadBalancerAddresses(lb corev1.LoadBalancerStatus) []string {
	seen := map[string]bool{}
	var addrs []string
	for _, ing := range lb.Ingress {
		addr := ing.IP
		if addr == "" {
			addr = ing.Hostname
		}
		if addr != "" && !seen[addr] {
			seen[addr] = true
			addrs = append(addrs, addr)
		}
	}
	sort.Strings(addrs)
	return addrs
}

// servicePorts renders PORT(S): "80/TCP", or "80:30080/TCP" when a node port
// is allocated, comma-joined in spec order.
func servicePorts(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}
