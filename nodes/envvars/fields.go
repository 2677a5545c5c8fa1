package envvars

import (
	"fmt"
	"math/big"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// podFields are the downward API's pod fields a variable can hold, and how
// the kubelet reads each. Addresses come from the kubelet rather than from
// the pod's status, which may not be written yet.
var podFields = map[string]func(pod *corev1.Pod, l Lookups) string{
	"metadata.name":           func(p *corev1.Pod, _ Lookups) string { return p.Name },
	"metadata.namespace":      func(p *corev1.Pod, _ Lookups) string { return p.Namespace },
	"metadata.uid":            func(p *corev1.Pod, _ Lookups) string { return string(p.UID) },
	"metadata.labels":         func(p *corev1.Pod, _ Lookups) string { return formatMap(p.Labels) },
	"metadata.annotations":    func(p *corev1.Pod, _ Lookups) string { return formatMap(p.Annotations) },
	"spec.nodeName":           func(p *corev1.Pod, _ Lookups) string { return p.Spec.NodeName },
	"spec.serviceAccountName": func(p *corev1.Pod, _ Lookups) string { return p.Spec.ServiceAccountName },
	"status.hostIP":           func(p *corev1.Pod, l Lookups) string { return hostIPs(p, l)[0] },
	"status.hostIPs":          func(p *corev1.Pod, l Lookups) string { return strings.Join(hostIPs(p, l), ",") },
	"status.podIP":            func(p *corev1.Pod, l Lookups) string { return podIPs(p, l)[0] },
	"status.podIPs":           func(p *corev1.Pod, l Lookups) string { return strings.Join(podIPs(p, l), ",") },
}

// Fields the downward API knows but the kubelet cannot put in a variable.
var unsupportedPodFields = map[string]bool{"spec.restartPolicy": true, "spec.schedulerName": true, "status.phase": true}

// podField reads a fieldRef: a pod field, or one label or annotation written
// metadata.labels['key'] (empty when the pod has no such key).
func podField(fs *corev1.ObjectFieldSelector, pod *corev1.Pod, l Lookups) (string, error) {
	if fs.APIVersion != "" && fs.APIVersion != "v1" {
		return "", fmt.Errorf("unsupported pod version: %s", fs.APIVersion)
	}
	path, key, subscripted := splitSubscript(fs.FieldPath)
	if subscripted {
		switch path {
		case "metadata.labels":
			return pod.Labels[key], nil
		case "metadata.annotations":
			return pod.Annotations[key], nil
		}
		return "", fmt.Errorf("field label not supported: %s", fs.FieldPath)
	}
	if get, ok := podFields[path]; ok {
		return get(pod, l), nil
	}
	if unsupportedPodFields[path] {
		return "", fmt.Errorf("unsupported fieldPath: %v", path)
	}
	return "", fmt.Errorf("field label not supported: %s", path)
}

// splitSubscript splits "metadata.labels['app']" into "metadata.labels" and "app".
func splitSubscript(path string) (string, string, bool) {
	open := strings.Index(path, "['")
	if open < 0 || !strings.HasSuffix(path, "']") || open+2 > len(path)-2 {
		return path, "", false
	}
	return path[:open], path[open+2 : len(path)-2], true
}

// formatMap writes labels or annotations as the downward API does: one
// key="value" per line, sorted.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

func hostIPs(pod *corev1.Pod, l Lookups) []string {
	if l.HostIP != "" {
		return []string{l.HostIP}
	}
	var ips []string
	for _, ip := range pod.Status.HostIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 {
		ips = []string{pod.Status.HostIP}
	}
	return ips
}

func podIPs(pod *corev1.Pod, l Lookups) []string {
	if l.PodIP != "" {
		return []string{l.PodIP}
	}
	var ips []string
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 {
		ips = []string{pod.Status.PodIP}
	}
	return ips
}

// resourceField reads a resourceFieldRef: a limit or request of the
// container (or of the container it names), divided by the divisor (1 if
// unset) and rounded up. A limit the container does not set is the node's
// allocatable, as the kubelet fills it in for the downward API.
func resourceField(fs *corev1.ResourceFieldSelector, pod *corev1.Pod, c *corev1.Container, allocatable corev1.ResourceList) (string, error) {
	if fs.ContainerName != "" {
		var err error
		if c, err = findContainer(pod, fs.ContainerName); err != nil {
			return "", err
		}
	}
	kind, name, _ := strings.Cut(fs.Resource, ".")
	if !supportedResource(kind, name) {
		return "", fmt.Errorf("unsupported container resource : %v", fs.Resource)
	}
	list := c.Resources.Requests
	if kind == "limits" {
		list = withAllocatable(c.Resources.Limits, allocatable)
	}
	q := list[corev1.ResourceName(name)]
	divisor := fs.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	return divideRoundingUp(q, divisor), nil
}

// supportedResource says whether limits.<name> or requests.<name> can be
// read: cpu, memory, ephemeral-storage and hugepages-<size>.
func supportedResource(kind, name string) bool {
	if kind != "limits" && kind != "requests" {
		return false
	}
	switch corev1.ResourceName(name) {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return true
	}
	return strings.HasPrefix(name, corev1.ResourceHugePagesPrefix)
}

// withAllocatable fills in the cpu, memory and ephemeral-storage limits a
// container does not set (hugepages are never overcommitted: always set).
func withAllocatable(limits, allocatable corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for k, v := range limits {
		out[k] = v
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := out[r]; !ok || q.IsZero() {
			if a, ok := allocatable[r]; ok {
				out[r] = a
			}
		}
	}
	return out
}

func findContainer(pod *corev1.Pod, name string) (*corev1.Container, error) {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i], nil
			}
		}
	}
	return nil, fmt.Errorf("container %s not found", name)
}

// divideRoundingUp returns ceil(q / divisor) in decimal, exactly: 250m of
// CPU with divisor 1 is "1", with divisor 1m "250"; 64Mi with divisor 1Mi
// is "64". Zero or negative quantities give "0".
func divideRoundingUp(q, divisor resource.Quantity) string {
	if q.Sign() <= 0 || divisor.Sign() <= 0 {
		return "0"
	}
	// A quantity is unscaled * 10^-scale.
	qd, dd := q.AsDec(), divisor.AsDec()
	num, den := new(big.Int).Set(qd.UnscaledBig()), new(big.Int).Set(dd.UnscaledBig())
	shift := int64(dd.Scale()) - int64(qd.Scale())
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(abs(shift)), nil)
	if shift > 0 {
		num.Mul(num, pow)
	} else {
		den.Mul(den, pow)
	}
	num.Add(num, den).Sub(num, big.NewInt(1))
	return num.Quo(num, den).String()
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
