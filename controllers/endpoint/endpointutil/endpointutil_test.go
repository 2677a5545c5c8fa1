package endpointutil

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestFindPort(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{
			{Name: "setup", Ports: []corev1.ContainerPort{{Name: "setup", ContainerPort: 1, Protocol: corev1.ProtocolTCP}}},
			{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001, Protocol: corev1.ProtocolTCP}}},
		},
		Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
			{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP},
		}}},
	}}
	cases := []struct {
		target   intstr.IntOrString
		protocol corev1.Protocol
		want     int32 // 0: not found
	}{
		{intstr.FromInt32(9376), corev1.ProtocolTCP, 9376},
		{intstr.FromString("http"), corev1.ProtocolTCP, 8080},
		{intstr.FromString("http"), corev1.ProtocolUDP, 0},
		{intstr.FromString("dns"), corev1.ProtocolUDP, 5353},
		{intstr.FromString("proxy"), corev1.ProtocolTCP, 15001},
		{intstr.FromString("setup"), corev1.ProtocolTCP, 0},
		{intstr.FromString("missing"), corev1.ProtocolTCP, 0},
	}
	for _, tc := range cases {
		got, err := FindPort(pod, &corev1.ServicePort{TargetPort: tc.target, Protocol: tc.protocol})
		if (err != nil) != (tc.want == 0) || got != tc.want {
			t.Errorf("FindPort(%s/%s) = %d, %v; want %d", tc.target.String(), tc.protocol, got, err, tc.want)
		}
	}
}

func TestShouldPodBeInEndpoints(t *testing.T) {
	running := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.5"}
	cases := []struct {
		name               string
		status             corev1.PodStatus
		deleting           bool
		includeTerminating bool
		want               bool
	}{
		{"running with an IP", running, false, false, true},
		{"no IP yet", corev1.PodStatus{Phase: corev1.PodPending}, false, true, false},
		{"succeeded", corev1.PodStatus{Phase: corev1.PodSucceeded, PodIP: "10.244.1.5"}, false, true, false},
		{"failed", corev1.PodStatus{Phase: corev1.PodFailed, PodIP: "10.244.1.5"}, false, true, false},
		{"terminating, for Endpoints", running, true, false, false},
		{"terminating, for EndpointSlices", running, true, true, true},
	}
	for _, tc := range cases {
		pod := &corev1.Pod{Status: tc.status}
		if tc.deleting {
			pod.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		}
		if got := ShouldPodBeInEndpoints(pod, tc.includeTerminating); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestShouldSetHostname(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "prod"}}
	cases := []struct {
		namespace, hostname, subdomain string
		want                           bool
	}{
		{"prod", "db-0", "db", true},
		{"prod", "", "db", false},
		{"prod", "db-0", "other", false},
		{"test", "db-0", "db", false},
	}
	for _, tc := range cases {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: tc.namespace}, Spec: corev1.PodSpec{Hostname: tc.hostname, Subdomain: tc.subdomain}}
		if got := ShouldSetHostname(pod, svc); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc, got, tc.want)
		}
	}
}

func TestTriggerTimeTracker(t *testing.T) {
	created := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", CreationTimestamp: metav1.NewTime(created)}}
	pod := func(name string, readyAt time.Time) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(readyAt)},
		}}}
	}
	t1, t2, t3 := created.Add(time.Minute), created.Add(2*time.Minute), created.Add(3*time.Minute)
	tr := NewTriggerTimeTracker()
	steps := []struct {
		pods []*corev1.Pod
		want time.Time
	}{
		{[]*corev1.Pod{pod("a", t1)}, created},                   // first sync: the Service's creation
		{[]*corev1.Pod{pod("a", t1)}, time.Time{}},               // nothing new
		{[]*corev1.Pod{pod("a", t3), pod("b", t2)}, t2},          // the earliest change not seen yet
		{[]*corev1.Pod{pod("a", t3), pod("b", t2)}, time.Time{}}, // seen
	}
	for i, st := range steps {
		if got := tr.Compute(svc, st.pods); !got.Equal(st.want) {
			t.Errorf("step %d: %v, want %v", i, got, st.want)
		}
	}
	tr.Forget("ns", "web")
	if got := tr.Compute(svc, nil); !got.Equal(created) {
		t.Errorf("after Forget: %v, want the creation time", got)
	}
}
