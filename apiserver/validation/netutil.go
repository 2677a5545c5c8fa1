package validation

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// IP and CIDR fields that predate Kubernetes' strict address rules (cluster
// IPs, external IPs, endpoint addresses, pod IPs, ...) are checked the
// "legacy" way in 1.33 because the StrictIPCIDRValidation gate is off: IPv4
// octets may carry leading zeros and IPv4-mapped IPv6 is tolerated. On update,
// values already stored in the old object are accepted as they are.

func legacyIP(fldPath *field.Path, value string, oldValues ...string) field.ErrorList {
	return validation.IsValidIPForLegacyField(fldPath, value, false, oldValues)
}

func legacyCIDR(fldPath *field.Path, value string, oldValues ...string) field.ErrorList {
	return validation.IsValidCIDRForLegacyField(fldPath, value, false, oldValues)
}

// endpointIP rejects addresses that make no sense as a destination for
// Service traffic (kube-apiserver's ValidateEndpointIP / ValidateNonSpecialIP):
// unspecified, loopback and link-local addresses.
func endpointIP(value string, fldPath *field.Path) field.ErrorList {
	ip := parseIPSloppy(value)
	if ip == nil {
		return field.ErrorList{field.Invalid(fldPath, value, "must be a valid IP address")}
	}
	var errs field.ErrorList
	if ip.IsUnspecified() {
		errs = append(errs, field.Invalid(fldPath, value, fmt.Sprintf("may not be unspecified (%v)", value)))
	}
	if ip.IsLoopback() {
		errs = append(errs, field.Invalid(fldPath, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, field.Invalid(fldPath, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, field.Invalid(fldPath, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return errs
}

// parseIPSloppy parses an IP the way Kubernetes' legacy fields accept it:
// like net.ParseIP, but IPv4 octets may have leading zeros ("010.1.2.3").
func parseIPSloppy(value string) net.IP {
	if ip := net.ParseIP(value); ip != nil {
		return ip
	}
	if strings.Contains(value, ":") {
		return nil
	}
	parts := strings.Split(value, ".")
	if len(parts) != 4 {
		return nil
	}
	for i, p := range parts {
		trimmed := strings.TrimLeft(p, "0")
		if trimmed == "" && p != "" {
			trimmed = "0"
		}
		parts[i] = trimmed
	}
	return net.ParseIP(strings.Join(parts, "."))
}

func isIPv6(value string) bool {
	ip := parseIPSloppy(value)
	return ip != nil && ip.To4() == nil
}

func parseCIDRSloppy(value string) *net.IPNet {
	addr, bits, found := strings.Cut(value, "/")
	if !found {
		return nil
	}
	ip := parseIPSloppy(addr)
	n, err := strconv.Atoi(bits)
	if ip == nil || err != nil || n < 0 {
		return nil
	}
	size := 8 * net.IPv6len
	if ip4 := ip.To4(); ip4 != nil && !strings.Contains(addr, ":") {
		ip, size = ip4, 8*net.IPv4len
	}
	if n > size {
		return nil
	}
	mask := net.CIDRMask(n, size)
	return &net.IPNet{IP: ip.Mask(mask), Mask: mask}
}

// isDualStack reports whether the values hold exactly one address of each
// family (netutils.IsDualStackIPStrings / IsDualStackCIDRStrings).
func isDualStack(values []string, family func(string) (v6 bool, ok bool)) bool {
	seen4, seen6 := false, false
	for _, v := range values {
		v6, ok := family(v)
		if !ok {
			return false
		}
		if v6 {
			seen6 = true
		} else {
			seen4 = true
		}
	}
	return seen4 && seen6
}

func ipFamilyOf(value string) (bool, bool) {
	ip := parseIPSloppy(value)
	return ip != nil && ip.To4() == nil, ip != nil
}

func cidrFamilyOf(value string) (bool, bool) {
	n := parseCIDRSloppy(value)
	return n != nil && n.IP.To4() == nil, n != nil
}
