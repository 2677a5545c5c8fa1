package iptables

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// ServicePortName identifies one port of a Service, like kube-proxy's
// proxy.ServicePortName. Protocol is not part of String() but is part of
// every chain name derived from it.
type ServicePortName struct {
	Namespace, Name, Port string
	Protocol              corev1.Protocol
}

// String is "<namespace>/<name>:<port>", or "<namespace>/<name>" when the
// port is unnamed (a Service with a single port may leave it unnamed). This
// text appears in every comment kube-proxy writes and is hashed into chain
// names, so it must match kube-proxy byte for byte.
func (n ServicePortName) String() string {
	if n.Port == "" {
		return n.Namespace + "/" + n.Name
	}
	return n.Namespace + "/" + n.Name + ":" + n.Port
}

// protocol is the lowercase protocol used in `-p`/`-m` and in chain-name
// hashes. The API defaults an empty protocol to TCP.
func (n ServicePortName) protocol() string {
	if n.Protocol == "" {
		return "tcp"
	}
	return strings.ToLower(string(n.Protocol))
}

// Chain-name prefixes of the per-service and per-endpoint nat chains.
const (
	clusterPolicyChainPrefix = "KUBE-SVC-" // all usable endpoints ("Cluster" policy)
	localPolicyChainPrefix   = "KUBE-SVL-" // node-local endpoints ("Local" policy)
	externalChainPrefix      = "KUBE-EXT-" // NodePort / externalIP / LB entry point
	firewallChainPrefix      = "KUBE-FW-"  // loadBalancerSourceRanges filter
	endpointChainPrefix      = "KUBE-SEP-" // one endpoint: hairpin masquerade + DNAT
)

// ownedChainPrefixes are the prefixes kube-proxy treats as its own when it
// deletes stale chains; nothing else in the nat table is ever removed.
var ownedChainPrefixes = []string{
	clusterPolicyChainPrefix,
	localPolicyChainPrefix,
	endpointChainPrefix,
	firewallChainPrefix,
	externalChainPrefix,
}

// hash16 is kube-proxy's chain-name hash: SHA-256, standard base32, first 16
// characters. iptables chain names may be at most 28 characters, and
// "KUBE-SVC-" plus 16 is 25.
func hash16(s string) string {
	sum := sha256.Sum256([]byte(s))
	// Base32 turns each 5 bytes into 8 characters, so the first 16
	// characters of the digest's encoding are those of its first 10 bytes.
	var out [16]byte
	base32.StdEncoding.Encode(out[:], sum[:10])
	return string(out[:])
}

// ServiceChainName returns the SVC, SVL, EXT or FW chain of a service port:
// prefix + hash of ServicePortName.String() and the lowercase protocol,
// concatenated without a separator. All four share one hash, so a learner
// can match KUBE-EXT-X with KUBE-SVC-X at a glance.
func ServiceChainName(prefix string, n ServicePortName) string {
	return prefix + hash16(n.String()+n.protocol())
}

// EndpointChainName returns the KUBE-SEP chain of one endpoint ("ip:port",
// IPv6 as "[ip]:port") of a service port. It is the same chain whether it is
// reached from KUBE-SVC or KUBE-SVL.
func EndpointChainName(n ServicePortName, ep string) string {
	return endpointChainPrefix + hash16(n.String()+n.protocol()+ep)
}

// OwnedChain reports whether a nat chain is one of kube-proxy's per-service
// or per-endpoint chains, i.e. one that stale-chain cleanup may delete.
func OwnedChain(name string) bool {
	for _, p := range ownedChainPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// probabilities memoizes Probability: formatting floats is the most
// expensive part of writing a dispatch rule, and only 1/n is ever needed.
var probabilities = struct {
	sync.RWMutex
	s []string // s[n] is the text for 1/n; s[0] is unused
}{s: []string{"<bad value>"}}

// Probability is the `--probability` text for picking one of n remaining
// endpoints: 1/n with ten decimals (Go's %0.10f, as kube-proxy writes it).
// Ten digits keep 1/n distinct for every n up to 100000.
func Probability(n int) string {
	probabilities.RLock()
	if n < len(probabilities.s) {
		p := probabilities.s[n]
		probabilities.RUnlock()
		return p
	}
	probabilities.RUnlock()

	probabilities.Lock()
	defer probabilities.Unlock()
	for i := len(probabilities.s); i <= n; i++ {
		probabilities.s = append(probabilities.s, fmt.Sprintf("%0.10f", 1.0/float64(i)))
	}
	return probabilities.s[n]
}
