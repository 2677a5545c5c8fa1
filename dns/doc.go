// Package dns is minilab's cluster DNS server. It answers the Kubernetes
// DNS-Based Service Discovery specification (schema 1.1.0) for the cluster
// zone (cluster.local) and the reverse zones in-addr.arpa and ip6.arpa the
// way CoreDNS's kubernetes plugin does with the kubeadm Corefile:
//
//	kubernetes cluster.local in-addr.arpa ip6.arpa {
//	    pods insecure
//	    fallthrough in-addr.arpa ip6.arpa
//	    ttl 30
//	}
//	forward . <upstreams>
//	loadbalance
//
// Services, EndpointSlices and Namespaces come from client-go informers and
// are kept in an in-memory index keyed by name, so every answer is a few map
// lookups. Names outside the zones (and reverse names the cluster does not
// know) are forwarded to the upstream resolvers. The wire side is
// github.com/miekg/dns, the library CoreDNS itself is built on.
//
// The files follow the path of a query: names.go splits the query name the
// way the plugin's parseRequest does, index.go is the informer-fed view,
// lookup.go turns a name into records per query type, reply.go builds
// negative answers, applies loadbalance and truncation, forward.go talks to
// the upstreams, server.go ties it together and serves TCP through miekg's
// server, and udp.go serves UDP with long-lived reader goroutines.
package dns
