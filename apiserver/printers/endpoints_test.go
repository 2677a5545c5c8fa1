package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func addresses(ips ...string) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, len(ips))
	for i, ip := range ips {
		out[i] = corev1.EndpointAddress{IP: ip}
	}
	return out
}

func ports(numbers ...int32) []corev1.EndpointPort {
	out := make([]corev1.EndpointPort, len(numbers))
	for i, n := range numbers {
		out[i] = corev1.EndpointPort{Port: n, Protocol: corev1.ProtocolTCP}
	}
	return out
}

func TestEndpointsRows(t *testing.T) {
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"no subsets", nil, "<none>"},
		{"one address", []corev1.EndpointSubset{{Addresses: addresses("10.244.1.5"), Ports: ports(8080)}}, "10.244.1.5:8080"},
		{"three addresses, no summary", []corev1.EndpointSubset{{Addresses: addresses("10.244.1.5", "10.244.2.6", "10.244.1.7"), Ports: ports(8080)}},
			"10.244.1.5:8080,10.244.2.6:8080,10.244.1.7:8080"},
		{"five addresses", []corev1.EndpointSubset{{Addresses: addresses("10.244.1.5", "10.244.2.6", "10.244.1.7", "10.244.2.8", "10.244.1.9"), Ports: ports(80)}},
			"10.244.1.5:80,10.244.2.6:80,10.244.1.7:80 + 2 more..."},
		{"every address with every port", []corev1.EndpointSubset{{Addresses: addresses("10.244.1.5", "10.244.2.6"), Ports: ports(80, 443)}},
			"10.244.1.5:80,10.244.2.6:80,10.244.1.5:443 + 1 more..."},
		{"several subsets", []corev1.EndpointSubset{
			{Addresses: addresses("10.244.1.5"), Ports: ports(80)},
			{Addresses: addresses("10.244.2.6"), Ports: ports(8080)},
		}, "10.244.1.5:80,10.244.2.6:8080"},
		{"headless without ports", []corev1.EndpointSubset{{Addresses: addresses("10.244.1.5", "10.244.2.6")}}, "10.244.1.5,10.244.2.6"},
		{"IPv6", []corev1.EndpointSubset{{Addresses: addresses("fd00:10:244:1::5"), Ports: ports(80)}}, "[fd00:10:244:1::5]:80"},
		{"not-ready addresses are not listed", []corev1.EndpointSubset{{
			Addresses: addresses("10.244.1.5"), NotReadyAddresses: addresses("10.244.2.6"), Ports: ports(80),
		}}, "10.244.1.5:80"},
		{"only not-ready addresses", []corev1.EndpointSubset{{NotReadyAddresses: addresses("10.244.2.6"), Ports: ports(80)}}, ""},
	}
	p := mustPrinter(t, "", "endpoints")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: objectMeta("hello-world", 7*time.Minute), Subsets: tt.subsets}
			expectRow(t, p, ep, "hello-world", tt.want, "7m")
		})
	}
}

func TestEndpointSliceRows(t *testing.T) {
	endpoint := func(ips ...string) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: ips, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}}
	}
	port := func(name string, number int32) discoveryv1.EndpointPort {
		return discoveryv1.EndpointPort{Name: ptr(name), Port: ptr(number), Protocol: ptr(corev1.ProtocolTCP)}
	}
	tests := []struct {
		name      string
		ports     []discoveryv1.EndpointPort
		endpoints []discoveryv1.Endpoint
		wantPorts string
		wantEps   string
	}{
		{"empty slice", nil, nil, "<unset>", "<unset>"},
		{"one port, two endpoints", []discoveryv1.EndpointPort{port("", 8080)}, []discoveryv1.Endpoint{endpoint("10.244.1.5"), endpoint("10.244.2.6")},
			"8080", "10.244.1.5,10.244.2.6"},
		{"two ports", []discoveryv1.EndpointPort{port("http", 80), port("https", 443)}, []discoveryv1.Endpoint{endpoint("10.244.1.5")},
			"80,443", "10.244.1.5"},
		{"four ports, five endpoints", []discoveryv1.EndpointPort{port("a", 80), port("b", 81), port("c", 82), port("d", 83)},
			[]discoveryv1.Endpoint{endpoint("10.244.1.1"), endpoint("10.244.1.2"), endpoint("10.244.1.3"), endpoint("10.244.1.4"), endpoint("10.244.1.5")},
			"80,81,82 + 1 more...", "10.244.1.1,10.244.1.2,10.244.1.3 + 2 more..."},
		{"endpoint with several addresses", []discoveryv1.EndpointPort{port("", 80)}, []discoveryv1.Endpoint{endpoint("10.244.1.1", "10.244.1.2")},
			"80", "10.244.1.1,10.244.1.2"},
		{"port without number shows its name", []discoveryv1.EndpointPort{{Name: ptr("metrics")}}, nil, "metrics", "<unset>"},
		{"port without number or name is all ports", []discoveryv1.EndpointPort{{}}, nil, "*", "<unset>"},
	}
	p := mustPrinter(t, "discovery.k8s.io", "endpointslices")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slice := &discoveryv1.EndpointSlice{
				ObjectMeta:  objectMeta("hello-world-x7k2p", 90*time.Second),
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       tt.ports,
				Endpoints:   tt.endpoints,
			}
			expectRow(t, p, slice, "hello-world-x7k2p", "IPv4", tt.wantPorts, tt.wantEps, "90s")
		})
	}
}
