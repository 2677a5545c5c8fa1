package endpoint

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// unitPod is a pod as the unit tests need it.
func unitPod(name, ip string, ready bool, ports ...corev1.ContainerPort) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
		},
	}
}

func unitAddr(pod *corev1.Pod) corev1.EndpointAddress {
	node := pod.Spec.NodeName
	return corev1.EndpointAddress{
		IP: pod.Status.PodIP, NodeName: &node,
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
}

func epPort(name string, port int32) corev1.EndpointPort {
	return corev1.EndpointPort{Name: name, Port: port, Protocol: corev1.ProtocolTCP}
}

func TestDesiredSubsets(t *testing.T) {
	httpPort := func(n int32) corev1.ContainerPort {
		return corev1.ContainerPort{Name: "http", ContainerPort: n, Protocol: corev1.ProtocolTCP}
	}
	a := unitPod("a", "10.244.1.10", true, httpPort(8080))
	b := unitPod("b", "10.244.1.9", true, httpPort(8080))
	c := unitPod("c", "10.244.2.5", false, httpPort(8080))
	d := unitPod("d", "10.244.2.6", true, httpPort(9090))
	e := unitPod("e", "10.244.2.7", true) // no "http" port at all
	noIP := unitPod("noip", "", true, httpPort(8080))
	noIP.Status.PodIPs = nil
	done := unitPod("done", "10.244.2.8", false, httpPort(8080))
	done.Status.Phase = corev1.PodSucceeded
	gone := unitPod("gone", "10.244.2.9", true, httpPort(8080))
	gone.DeletionTimestamp = &metav1.Time{}

	svc := func(mutate func(*corev1.Service)) *corev1.Service {
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20", Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")},
				{Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9100)},
			}},
		}
		if mutate != nil {
			mutate(s)
		}
		return s
	}
	withHostname := unitPod("h", "10.244.1.3", true, httpPort(8080))
	withHostname.Spec.Hostname, withHostname.Spec.Subdomain = "web-0", "web"
	hostnameAddr := unitAddr(withHostname)
	hostnameAddr.Hostname = "web-0"

	cases := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []corev1.EndpointSubset
	}{{
		name: "same ports share one subset; IPs sort as strings; not-ready apart",
		svc:  svc(nil),
		pods: []*corev1.Pod{c, b, a},
		want: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{unitAddr(a), unitAddr(b)},
			NotReadyAddresses: []corev1.EndpointAddress{unitAddr(c)},
			Ports:             []corev1.EndpointPort{epPort("http", 8080), epPort("metrics", 9100)},
		}},
	}, {
		name: "a named targetPort resolving differently splits subsets; pods without it keep the other ports",
		svc:  svc(nil),
		pods: []*corev1.Pod{a, d, e},
		want: []corev1.EndpointSubset{
			{Addresses: []corev1.EndpointAddress{unitAddr(a)}, Ports: []corev1.EndpointPort{epPort("http", 8080)}},
			{Addresses: []corev1.EndpointAddress{unitAddr(d)}, Ports: []corev1.EndpointPort{epPort("http", 9090)}},
			{Addresses: []corev1.EndpointAddress{unitAddr(a), unitAddr(d), unitAddr(e)}, Ports: []corev1.EndpointPort{epPort("metrics", 9100)}},
		},
	}, {
		name: "pods without IP, finished or terminating are left out",
		svc:  svc(nil),
		pods: []*corev1.Pod{a, noIP, done, gone},
		want: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{unitAddr(a)},
			Ports:     []corev1.EndpointPort{epPort("http", 8080), epPort("metrics", 9100)},
		}},
	}, {
		name: "publishNotReadyAddresses lists not-ready and terminating pods as ready",
		svc:  svc(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
		pods: []*corev1.Pod{c, gone},
		want: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{unitAddr(c), unitAddr(gone)},
			Ports:     []corev1.EndpointPort{epPort("http", 8080), epPort("metrics", 9100)},
		}},
	}, {
		name: "headless without ports lists addresses alone",
		svc: svc(func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil
		}),
		pods: []*corev1.Pod{b, c},
		want: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{unitAddr(b)}, NotReadyAddresses: []corev1.EndpointAddress{unitAddr(c)},
		}},
	}, {
		name: "a non-headless Service without ports has no endpoints",
		svc:  svc(func(s *corev1.Service) { s.Spec.Ports = nil }),
		pods: []*corev1.Pod{a},
		want: []corev1.EndpointSubset{},
	}, {
		name: "hostname only under the Service's subdomain",
		svc:  svc(nil),
		pods: []*corev1.Pod{withHostname},
		want: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{hostnameAddr},
			Ports:     []corev1.EndpointPort{epPort("http", 8080), epPort("metrics", 9100)},
		}},
	}, {
		name: "no pods",
		svc:  svc(nil),
		want: []corev1.EndpointSubset{},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := desiredSubsets(tc.svc, tc.pods)
			if !apiequality.Semantic.DeepEqual(got, tc.want) {
				g, _ := yaml.Marshal(got)
				w, _ := yaml.Marshal(tc.want)
				t.Errorf("subsets:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

func TestEndpointsLabels(t *testing.T) {
	cases := []struct {
		clusterIP string
		labels    map[string]string
		want      map[string]string
	}{
		{"10.96.0.5", map[string]string{"app": "web"}, map[string]string{"app": "web"}},
		{corev1.ClusterIPNone, map[string]string{"app": "db"}, map[string]string{"app": "db", "service.kubernetes.io/headless": ""}},
		{"10.96.0.5", map[string]string{"service.kubernetes.io/headless": ""}, map[string]string{}},
	}
	for _, tc := range cases {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Labels: tc.labels}, Spec: corev1.ServiceSpec{ClusterIP: tc.clusterIP}}
		if got := endpointsLabels(svc); !apiequality.Semantic.DeepEqual(got, tc.want) {
			t.Errorf("%s %v: labels %v, want %v", tc.clusterIP, tc.labels, got, tc.want)
		}
	}
}
