package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestNodeRows(t *testing.T) {
	readyCond := func(s corev1.ConditionStatus) []corev1.NodeCondition {
		return []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			{Type: corev1.NodeReady, Status: s},
		}
	}
	node := func(name string, labels map[string]string, conds []corev1.NodeCondition) *corev1.Node {
		n := &corev1.Node{
			ObjectMeta: objectMeta(name, 26*time.Hour),
			Status: corev1.NodeStatus{
				Conditions: conds,
				Addresses: []corev1.NodeAddress{
					{Type: corev1.NodeHostName, Address: name},
					{Type: corev1.NodeInternalIP, Address: "172.30.0.2"},
				},
				NodeInfo: corev1.NodeSystemInfo{
					KubeletVersion:          "v1.33.1",
					OSImage:                 "Debian GNU/Linux 12 (bookworm)",
					KernelVersion:           "6.1.0-18-amd64",
					ContainerRuntimeVersion: "containerd://1.7.15",
				},
			},
		}
		n.Labels = labels
		return n
	}

	controlPlane := node("minilab-control-plane", map[string]string{"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "minilab-control-plane"}, readyCond(corev1.ConditionTrue))
	controlPlane.Spec.Unschedulable = true

	withExternal := node("minilab-worker", map[string]string{"kubernetes.io/hostname": "minilab-worker"}, readyCond(corev1.ConditionTrue))
	withExternal.Status.Addresses = append(withExternal.Status.Addresses,
		corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.7"},
		corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.8"})

	bare := node("minilab-worker2", nil, nil)
	bare.Status.Addresses = nil
	bare.Status.NodeInfo = corev1.NodeSystemInfo{}

	tests := []struct {
		name string
		node *corev1.Node
		want []interface{}
	}{
		{"cordoned control plane", controlPlane, []interface{}{"minilab-control-plane", "Ready,SchedulingDisabled", "control-plane", "26h", "v1.33.1",
			"172.30.0.2", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "containerd://1.7.15"}},
		{"worker with external IPs", withExternal, []interface{}{"minilab-worker", "Ready", "<none>", "26h", "v1.33.1",
			"172.30.0.2", "203.0.113.7", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "containerd://1.7.15"}},
		{"nothing reported", bare, []interface{}{"minilab-worker2", "Unknown", "<none>", "26h", "",
			"<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
	}
	p := mustPrinter(t, "", "nodes")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectRow(t, p, tt.node, tt.want...) })
	}
}

func TestNodeStatus(t *testing.T) {
	tests := []struct {
		name          string
		conditions    []corev1.NodeCondition
		unschedulable bool
		want          string
	}{
		{"ready", []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}, false, "Ready"},
		{"not ready", []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}, false, "NotReady"},
		// A node that stopped posting status has Ready=Unknown, which prints NotReady.
		{"ready unknown", []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}, false, "NotReady"},
		{"no ready condition", []corev1.NodeCondition{{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse}}, false, "Unknown"},
		{"not ready and cordoned", []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}, true, "NotReady,SchedulingDisabled"},
		{"nothing and cordoned", nil, true, "Unknown,SchedulingDisabled"},
	}
	p := mustPrinter(t, "", "nodes")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &corev1.Node{ObjectMeta: objectMeta("n", time.Minute), Spec: corev1.NodeSpec{Unschedulable: tt.unschedulable}, Status: corev1.NodeStatus{Conditions: tt.conditions}}
			expectCells(t, p, n, map[string]interface{}{"Status": tt.want})
		})
	}
}

func TestNodeRoles(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"none", map[string]string{"kubernetes.io/hostname": "n"}, "<none>"},
		{"control plane", map[string]string{"node-role.kubernetes.io/control-plane": ""}, "control-plane"},
		{"both label styles, sorted", map[string]string{"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "ingress", "node-role.kubernetes.io/control-plane": "true"}, "control-plane,ingress,worker"},
		{"same role twice", map[string]string{"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "worker"}, "worker"},
		{"empty role names ignored", map[string]string{"node-role.kubernetes.io/": "x", "kubernetes.io/role": ""}, "<none>"},
	}
	p := mustPrinter(t, "", "nodes")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &corev1.Node{ObjectMeta: objectMeta("n", time.Minute)}
			n.Labels = tt.labels
			expectCells(t, p, n, map[string]interface{}{"Roles": tt.want})
		})
	}
}
