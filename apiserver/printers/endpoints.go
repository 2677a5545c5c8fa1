package printers

import (
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var endpointsPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		nameColumn(),
		stringColumn("Endpoints", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
		ageColumn(),
	},
	Row: rowOf(endpointsCells),
}

func endpointsCells(ep *corev1.Endpoints, now time.Time) []interface{} {
	return []interface{}{ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp, now)}
}

// formatEndpoints renders ENDPOINTS: every ready address joined with every
// port of its subset ("10.244.1.5:8080"), or the bare IP for a subset without
// ports (headless services may have none), at most three then " + N more...".
// Not-ready addresses are not listed. An object without subsets is <none>.
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return none
	}
	var list []string
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			for _, addr := range ss.Addresses {
				list = append(list, addr.IP)
			}
			continue
		}
		for _, port := range ss.Ports {
			for _, addr := range ss.Addresses {
				list = append(list, net.JoinHostPort(addr.IP, strconv.Itoa(int(port.Port))))
			}
		}
	}
	return joinAtMost(list)
}

// The EndpointSlice columns keep the descriptions of discovery.k8s.io/v1beta1,
// which is what kube-apiserver's printer still references.
var endpointSliceDoc = discoveryv1beta1.EndpointSlice{}.SwaggerDoc()

var endpointSlicePrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		nameColumn(),
		stringColumn("AddressType", endpointSliceDoc["addressType"]),
		stringColumn("Ports", endpointSliceDoc["ports"]),
		stringColumn("Endpoints", endpointSliceDoc["endpoints"]),
		ageColumn(),
	},
	Row: rowOf(endpointSliceCells),
}

func endpointSliceCells(slice *discoveryv1.EndpointSlice, now time.Time) []interface{} {
	return []interface{}{
		slice.Name,
		string(slice.AddressType),
		orUnset(joinAtMost(endpointSlicePorts(slice.Ports))),
		orUnset(joinAtMost(endpointSliceAddresses(slice.Endpoints))),
		age(slice.CreationTimestamp, now),
	}
}

// endpointSlicePorts lists port numbers; a port without a number shows its
// name, and one with neither shows "*" (all ports).
func endpointSlicePorts(ports []discoveryv1.EndpointPort) []string {
	list := make([]string, 0, len(ports))
	for _, p := range ports {
		switch {
		case p.Port != nil:
			list = append(list, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			list = append(list, *p.Name)
		default:
			list = append(list, "*")
		}
	}
	return list
}

// endpointSliceAddresses lists every address of every endpoint, ready or not.
func endpointSliceAddresses(endpoints []discoveryv1.Endpoint) []string {
	var list []string
	for _, e := range endpoints {
		list = append(list, e.Addresses...)
	}
	return list
}

// orUnset replaces an empty cell with <unset>, as the EndpointSlice printer
// does for a slice with no ports or no endpoints.
func orUnset(s string) string {
	if s == "" {
		return unset
	}
	return s
}
