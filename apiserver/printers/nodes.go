package printers

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Node role labels: `node-role.kubernetes.io/<role>` (set by kubeadm, e.g.
// control-plane) and the older `kubernetes.io/role: <role>`.
const (
	labelNodeRolePrefix = "node-role.kubernetes.io/"
	labelNodeRole       = "kubernetes.io/role"
)

var (
	nodeSystemInfoDoc = corev1.NodeSystemInfo{}.SwaggerDoc()
	nodeAddressesDoc  = corev1.NodeStatus{}.SwaggerDoc()["addresses"]
)

var nodePrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		nameColumn(),
		stringColumn("Status", "The status of the node"),
		stringColumn("Roles", "The roles of the node"),
		ageColumn(),
		stringColumn("Version", nodeSystemInfoDoc["kubeletVersion"]),
		wide(stringColumn("Internal-IP", nodeAddressesDoc)),
		wide(stringColumn("External-IP", nodeAddressesDoc)),
		wide(stringColumn("OS-Image", nodeSystemInfoDoc["osImage"])),
		wide(stringColumn("Kernel-Version", nodeSystemInfoDoc["kernelVersion"])),
		wide(stringColumn("Container-Runtime", nodeSystemInfoDoc["containerRuntimeVersion"])),
	},
	Row: rowOf(nodeCells),
}

func nodeCells(node *corev1.Node, now time.Time) []interface{} {
	info := node.Status.NodeInfo
	return []interface{}{
		node.Name,
		nodeStatus(node),
		orNone(strings.Join(nodeRoles(node), ",")),
		age(node.CreationTimestamp, now),
		info.KubeletVersion,
		orNone(nodeAddress(node, corev1.NodeInternalIP)),
		orNone(nodeAddress(node, corev1.NodeExternalIP)),
		orUnknown(info.OSImage),
		orUnknown(info.KernelVersion),
		orUnknown(info.ContainerRuntimeVersion),
	}
}

// nodeStatus is Ready or NotReady from the Ready condition (a condition whose
// status is Unknown also prints NotReady), Unknown when the node has never
// reported one, and ",SchedulingDisabled" appended for a cordoned node.
func nodeStatus(node *corev1.Node) string {
	status := "Unknown"
	for _, c := range node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			status = "Ready"
		} else {
			status = "NotReady"
		}
	}
	if node.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

// nodeRoles collects roles from both role label styles, each once, sorted.
func nodeRoles(node *corev1.Node) []string {
	set := map[string]bool{}
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, labelNodeRolePrefix):
			if role := strings.TrimPrefix(k, labelNodeRolePrefix); role != "" {
				set[role] = true
			}
		case k == labelNodeRole && v != "":
			set[v] = true
		}
	}
	roles := make([]string, 0, len(set))
	for r := range set {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return roles
}

// nodeAddress is the node's first address of the given type.
func nodeAddress(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return ""
}
