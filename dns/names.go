package dns

import (
	"errors"
	"strings"
)

// The only two labels allowed right under the cluster zone (spec §2).
const (
	labelSvc = "svc"
	labelPod = "pod"
)

// errNameError means the name does not exist: the answer is NXDOMAIN
// (CoreDNS's errNoItems / errNsNotExposed / errInvalidRequest).
var errNameError = errors.New("name does not exist")

// zoneMatch is the zone a query name falls in.
type zoneMatch struct {
	zone    string // the configured zone, lowercase, with trailing dot
	spelled string // the same zone as the client spelled it (CoreDNS keeps the query's case)
	reverse bool   // in-addr.arpa. or ip6.arpa.
	base    string // the lowercased labels in front of the zone, without trailing dot; "" at the apex
}

// matchZone finds the zone lname (the lowercased query name) belongs to.
func matchZone(qname, lname string, zones []string) (zoneMatch, bool) {
	for i, z := range zones {
		switch {
		case lname == z:
			return zoneMatch{zone: z, spelled: qname, reverse: i > 0}, true
		case len(lname) > len(z) && strings.HasSuffix(lname, z) && lname[len(lname)-len(z)-1] == '.':
			return zoneMatch{
				zone:    z,
				spelled: qname[len(qname)-len(z):],
				reverse: i > 0,
				base:    lname[:len(lname)-len(z)-1],
			}, true
		}
	}
	return zoneMatch{}, false
}

// request is a query name taken apart the way CoreDNS's parseRequest does:
//
//	_<port>._<protocol>.<service>.<namespace>.svc.<zone>
//	<endpoint>.<service>.<namespace>.svc.<zone>
//	<service>.<namespace>.svc.<zone>
//	<ip-label>.<namespace>.pod.<zone>
//
// Missing parts stay empty; port and protocol lose their leading underscore.
type request struct {
	port, protocol, endpoint, service, namespace string
	podOrSvc                                     string // "", svc or pod
}

// parseRequest splits base (the labels in front of the zone). A name with
// more labels than the port/protocol form, or whose last label is neither
// svc nor pod, does not exist. The apex, svc.<zone> and pod.<zone> give an
// empty request, which CoreDNS answers with NODATA.
func parseRequest(base string) (request, error) {
	var r request
	if base == "" || base == labelSvc || base == labelPod {
		return r, nil
	}
	var segs [6]string
	n := 0
	for rest := base; ; {
		i := strings.LastIndexByte(rest, '.')
		if n == len(segs) {
			return r, errNameError
		}
		segs[n] = rest[i+1:]
		n++
		if i < 0 {
			break
		}
		rest = rest[:i]
	}
	// segs holds the labels right to left.
	r.podOrSvc = segs[0]
	if r.podOrSvc != labelSvc && r.podOrSvc != labelPod {
		return request{}, errNameError
	}
	if n > 1 {
		r.namespace = segs[1]
	}
	if n > 2 {
		r.service = segs[2]
	}
	switch n {
	case 4:
		r.endpoint = segs[3]
	case 5:
		r.protocol = strings.TrimPrefix(segs[3], "_")
		r.port = strings.TrimPrefix(segs[4], "_")
	case 6:
		return request{}, errNameError
	}
	return r, nil
}

// lowerASCII lowercases a DNS name without allocating when it is already
// lowercase (the usual case). Comparisons between queries and Kubernetes
// data are case-insensitive (spec §2.1).
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}
