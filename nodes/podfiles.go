package nodes

import (
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// DNSConfig is the kubelet's cluster DNS settings (--cluster-dns,
// --cluster-domain, --resolv-conf).
type DNSConfig struct {
	ClusterDNS     []string // kube-dns ClusterIP(s), e.g. 10.96.0.10
	ClusterDomain  string   // cluster.local
	HostResolvConf string   // the node's resolv.conf, for search domains and dnsPolicy Default
}

// ResolvConf writes a pod's /etc/resolv.conf as the kubelet does:
//   - ClusterFirst (the default): the cluster DNS as nameserver, search
//     <ns>.svc.<zone> svc.<zone> <zone> then the host's search domains, and
//     options ndots:5, so that `curl hello-world` in namespace default asks
//     for hello-world.default.svc.cluster.local first;
//   - Default: the node's own resolv.conf;
//   - None: only what spec.dnsConfig says;
//
// with spec.dnsConfig merged on top (nameservers and searches appended,
// options overriding by name).
func (d DNSConfig) ResolvConf(pod *corev1.Pod) (string, error) {
	var nameservers, searches []string
	var options []string
	host := parseResolvConf(d.HostResolvConf)
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		if len(d.ClusterDNS) == 0 {
			nameservers, searches, options = host.nameservers, host.searches, host.options
			break
		}
		nameservers = append(nameservers, d.ClusterDNS...)
		zone := strings.TrimSuffix(d.ClusterDomain, ".")
		searches = []string{pod.Namespace + ".svc." + zone, "svc." + zone, zone}
		searches = append(searches, host.searches...)
		options = []string{"ndots:5"}
	case corev1.DNSDefault:
		nameservers, searches, options = host.nameservers, host.searches, host.options
	case corev1.DNSNone:
		if pod.Spec.DNSConfig == nil {
			return "", fmt.Errorf("dnsPolicy None needs spec.dnsConfig")
		}
	}
	if c := pod.Spec.DNSConfig; c != nil {
		nameservers = append(nameservers, c.Nameservers...)
		searches = append(searches, c.Searches...)
		for _, o := range c.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			options = mergeOption(options, o.Name, opt)
		}
	}
	nameservers = dedupeStrings(nameservers)
	if len(nameservers) > 3 {
		nameservers = nameservers[:3] // the resolver reads three at most
	}
	searches = dedupeStrings(searches)
	if len(searches) > 32 {
		searches = searches[:32] // ExpandedDNSConfig's limit
	}
	var b strings.Builder
	for _, ns := range nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(searches, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String(), nil
}

// mergeOption replaces an option of the same name or appends it.
func mergeOption(options []string, name, opt string) []string {
	for i, o := range options {
		if o == name || strings.HasPrefix(o, name+":") {
			options[i] = opt
			return options
		}
	}
	return append(options, opt)
}

type resolvConf struct{ nameservers, searches, options []string }

func parseResolvConf(path string) resolvConf {
	var rc resolvConf
	data, err := os.ReadFile(path)
	if err != nil {
		return rc
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			rc.nameservers = append(rc.nameservers, f[1])
		case "search", "domain":
			rc.searches = f[1:]
		case "options":
			rc.options = append(rc.options, f[1:]...)
		}
	}
	return rc
}

func dedupeStrings(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// HostsFile writes a pod's /etc/hosts as the kubelet manages it: the
// loopback entries, the pod's own address with its hostname (and its
// fully qualified name when it has a subdomain), then spec.hostAliases.
func (d DNSConfig) HostsFile(pod *corev1.Pod, ip string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	host := PodHostname(pod)
	if pod.Spec.Subdomain != "" {
		fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", ip, host, pod.Spec.Subdomain, pod.Namespace, strings.TrimSuffix(d.ClusterDomain, "."), host)
	} else {
		fmt.Fprintf(&b, "%s\t%s\n", ip, host)
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.String()
}

// PodHostname is the hostname a pod's containers see: spec.hostname, or
// the pod's name.
func PodHostname(pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	if len(pod.Name) > 63 {
		return strings.TrimRight(pod.Name[:63], "-.")
	}
	return pod.Name
}
