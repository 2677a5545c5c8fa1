package validation

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---- Endpoints (core/v1) ----

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	errs := objectMeta(&ep.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, endpointSubsets(ep.Subsets, nil, field.NewPath("subsets"))...)
}

func validateEndpointsUpdate(ep, old *corev1.Endpoints) field.ErrorList {
	errs := objectMetaUpdate(&ep.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, objectMeta(&ep.ObjectMeta, true, nameIsDNSSubdomain)...)
	return append(errs, endpointSubsets(ep.Subsets, endpointsIPs(old), field.NewPath("subsets"))...)
}

func endpointsIPs(ep *corev1.Endpoints) []string {
	var ips []string
	for _, ss := range ep.Subsets {
		for _, a := range append(append([]corev1.EndpointAddress(nil), ss.Addresses...), ss.NotReadyAddresses...) {
			ips = append(ips, a.IP)
		}
	}
	return ips
}

// endpointSubsets: each subset is a set of addresses sharing a set of ports.
// Headless services may publish addresses without ports.
func endpointSubsets(subsets []corev1.EndpointSubset, oldIPs []string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range subsets {
		p := fldPath.Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			errs = append(errs, endpointAddress(&ss.Addresses[j], oldIPs, p.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			errs = append(errs, endpointAddress(&ss.NotReadyAddresses[j], oldIPs, p.Child("notReadyAddresses").Index(j))...)
		}
		for j := range ss.Ports {
			errs = append(errs, endpointPort(&ss.Ports[j], len(ss.Ports) > 1, p.Child("ports").Index(j))...)
		}
	}
	return errs
}

func endpointAddress(a *corev1.EndpointAddress, oldIPs []string, p *field.Path) field.ErrorList {
	ipErrs := legacyIP(p.Child("ip"), a.IP, oldIPs...)
	errs := ipErrs
	if a.Hostname != "" {
		errs = append(errs, dnsLabel(a.Hostname, p.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, nameRule(nameIsDNSSubdomain, *a.NodeName, p.Child("nodeName"))...)
	}
	if len(ipErrs) == 0 {
		errs = append(errs, endpointIP(a.IP, p.Child("ip"))...)
	}
	return errs
}

func endpointPort(port *corev1.EndpointPort, requireName bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && port.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else if port.Name != "" {
		errs = append(errs, dnsLabel(port.Name, p.Child("name"))...)
	}
	errs = append(errs, invalidEach(p.Child("port"), port.Port, validation.IsValidPortNum(int(port.Port)))...)
	errs = append(errs, protocol(port.Protocol, p.Child("protocol"))...)
	if port.AppProtocol != nil {
		errs = append(errs, qualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
	}
	return errs
}

// ---- EndpointSlice (discovery.k8s.io/v1) ----

// Limits on one EndpointSlice.
const (
	maxSliceEndpoints = 1000
	maxSliceAddresses = 100
	maxSlicePorts     = 20000
	maxTopologyLabels = 16
	maxZoneHints      = 8
)

var sliceAddressTypes = []string{string(discoveryv1.AddressTypeFQDN), string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6)}

func validateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	return endpointSliceRules(es, nil)
}

func validateEndpointSliceUpdate(es, old *discoveryv1.EndpointSlice) field.ErrorList {
	errs := objectMetaUpdate(&es.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, endpointSliceRules(es, old)...)
	return append(errs, immutable(es.AddressType, old.AddressType, field.NewPath("addressType"))...)
}

func endpointSliceRules(es, old *discoveryv1.EndpointSlice) field.ErrorList {
	errs := objectMeta(&es.ObjectMeta, true, nameIsDNSSubdomain)
	typePath := field.NewPath("addressType")
	switch {
	case es.AddressType == "":
		errs = append(errs, field.Required(typePath, ""))
	case !oneOf(string(es.AddressType), sliceAddressTypes...):
		errs = append(errs, notSupported(typePath, es.AddressType, sliceAddressTypes...))
	}
	var oldAddresses []string
	if old != nil {
		for _, e := range old.Endpoints {
			oldAddresses = append(oldAddresses, e.Addresses...)
		}
	}
	errs = append(errs, sliceEndpoints(es.Endpoints, es.AddressType, oldAddresses, field.NewPath("endpoints"))...)
	return append(errs, slicePorts(es.Ports, field.NewPath("ports"))...)
}

func sliceEndpoints(endpoints []discoveryv1.Endpoint, addrType discoveryv1.AddressType, oldAddresses []string, fldPath *field.Path) field.ErrorList {
	if len(endpoints) > maxSliceEndpoints {
		return field.ErrorList{field.TooMany(fldPath, len(endpoints), maxSliceEndpoints)}
	}
	var errs field.ErrorList
	for i, ep := range endpoints {
		p := fldPath.Index(i)
		addrPath := p.Child("addresses")
		if len(ep.Addresses) == 0 {
			errs = append(errs, field.Required(addrPath, "must contain at least 1 address"))
		} else if len(ep.Addresses) > maxSliceAddresses {
			errs = append(errs, field.TooMany(addrPath, len(ep.Addresses), maxSliceAddresses))
		}
		for j, addr := range ep.Addresses {
			errs = append(errs, sliceAddress(addr, addrType, oldAddresses, addrPath.Index(j))...)
		}
		if ep.NodeName != nil {
			errs = append(errs, nameRule(nameIsDNSSubdomain, *ep.NodeName, p.Child("nodeName"))...)
		}
		topoPath := p.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > maxTopologyLabels {
			errs = append(errs, field.TooMany(topoPath, len(ep.DeprecatedTopology), maxTopologyLabels))
		}
		errs = append(errs, metavalidation.ValidateLabels(ep.DeprecatedTopology, topoPath)...)
		if ep.Hostname != nil {
			errs = append(errs, dnsLabel(*ep.Hostname, p.Child("hostname"))...)
		}
		if ep.Hints != nil {
			errs = append(errs, zoneHints(ep.Hints.ForZones, p.Child("hints").Child("forZones"))...)
		}
	}
	return errs
}

// sliceAddress checks one address against the slice's address type; types
// kube-apiserver does not know are left alone.
func sliceAddress(addr string, addrType discoveryv1.AddressType, oldAddresses []string, p *field.Path) field.ErrorList {
	switch addrType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		if errs := legacyIP(p, addr, oldAddresses...); len(errs) != 0 {
			return errs
		}
		var errs field.ErrorList
		if addrType == discoveryv1.AddressTypeIPv4 && isIPv6(addr) {
			errs = append(errs, field.Invalid(p, addr, "must be an IPv4 address"))
		}
		if addrType == discoveryv1.AddressTypeIPv6 && !isIPv6(addr) {
			errs = append(errs, field.Invalid(p, addr, "must be an IPv6 address"))
		}
		return append(errs, endpointIP(addr, p)...)
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(p, addr)
	}
	return nil
}

func zoneHints(zones []discoveryv1.ForZone, p *field.Path) field.ErrorList {
	if len(zones) > maxZoneHints {
		return field.ErrorList{field.TooMany(p, len(zones), maxZoneHints)}
	}
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, z := range zones {
		zp := p.Index(i).Child("name")
		if seen[z.Name] {
			errs = append(errs, field.Duplicate(zp, z.Name))
		}
		seen[z.Name] = true
		errs = append(errs, invalidEach(zp, z.Name, validation.IsValidLabelValue(z.Name))...)
	}
	return errs
}

func slicePorts(ports []discoveryv1.EndpointPort, fldPath *field.Path) field.ErrorList {
	if len(ports) > maxSlicePorts {
		return field.ErrorList{field.TooMany(fldPath, len(ports), maxSlicePorts)}
	}
	var errs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		p := fldPath.Index(i)
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			errs = append(errs, dnsLabel(name, p.Child("name"))...)
		}
		if names[name] {
			errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
		}
		names[name] = true
		switch {
		case port.Protocol == nil:
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		case !oneOf(*port.Protocol, portProtocols...):
			errs = append(errs, notSupported(p.Child("protocol"), *port.Protocol, portProtocols...))
		}
		if port.AppProtocol != nil {
			errs = append(errs, qualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
		}
	}
	return errs
}
