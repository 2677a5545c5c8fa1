package endpoint

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

func address(pod *corev1.Pod) corev1.EndpointAddress {
	a := corev1.EndpointAddress{
		IP:        pod.Status.PodIP,
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		node := pod.Spec.NodeName
		a.NodeName = &node
	}
	return a
}

func tcpPort(name string, port int32) corev1.EndpointPort {
	return corev1.EndpointPort{Name: name, Port: port, Protocol: corev1.ProtocolTCP}
}

func containerPort(name string, port int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP}
}

// waitForEndpoints waits until the Service's Endpoints hold exactly want
// and the wanted labels, and returns them.
func (l *lab) waitForEndpoints(ns, name string, want []corev1.EndpointSubset, wantLabels map[string]string) *corev1.Endpoints {
	l.t.Helper()
	var ep *corev1.Endpoints
	l.eventually(func() string {
		var err error
		ep, err = l.client.CoreV1().Endpoints(ns).Get(l.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if !apiequality.Semantic.DeepEqual(ep.Subsets, want) || !apiequality.Semantic.DeepEqual(ep.Labels, wantLabels) {
			got, _ := yaml.Marshal(ep.Subsets)
			w, _ := yaml.Marshal(want)
			return fmt.Sprintf("endpoints %s/%s labels %v subsets:\n%s\nwant labels %v subsets:\n%s", ns, name, ep.Labels, got, wantLabels, w)
		}
		return ""
	})
	return ep
}

func TestEndpointsOfServices(t *testing.T) {
	l := startLab(t)
	l.createNode("minilab-worker")
	l.createNode("minilab-worker2")
	web := map[string]string{"app": "web"}
	httpService := corev1.ServiceSpec{
		Selector: web,
		Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
			{Name: "metrics", Port: 9100, TargetPort: intstr.FromInt32(9100)},
		},
	}
	cases := []struct {
		name       string
		service    string
		spec       corev1.ServiceSpec
		svcLabels  map[string]string
		pods       []testPod
		want       func(pods map[string]*corev1.Pod) []corev1.EndpointSubset
		wantLabels map[string]string
	}{{
		name: "named targetPort per pod", service: "web",
		spec: httpService, svcLabels: map[string]string{"tier": "front"},
		pods: []testPod{
			{name: "a", ip: "10.244.1.5", node: "minilab-worker", ready: true, labels: web, ports: []corev1.ContainerPort{containerPort("http", 8080)}},
			{name: "b", ip: "10.244.2.5", node: "minilab-worker2", ready: true, labels: web, ports: []corev1.ContainerPort{containerPort("http", 8080)}},
			{name: "c", ip: "10.244.2.6", node: "minilab-worker2", ready: true, labels: web, ports: []corev1.ContainerPort{containerPort("http", 9090)}},
			{name: "d", ip: "10.244.1.6", node: "minilab-worker", ready: false, labels: web, ports: []corev1.ContainerPort{containerPort("http", 8080)}},
			{name: "other", ip: "10.244.1.7", node: "minilab-worker", ready: true, labels: map[string]string{"app": "other"}},
			{name: "pending", labels: web},
		},
		want: func(p map[string]*corev1.Pod) []corev1.EndpointSubset {
			return []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{address(p["a"]), address(p["b"])},
				NotReadyAddresses: []corev1.EndpointAddress{address(p["d"])},
				Ports:             []corev1.EndpointPort{tcpPort("http", 8080)},
			}, {
				Addresses: []corev1.EndpointAddress{address(p["c"])},
				Ports:     []corev1.EndpointPort{tcpPort("http", 9090)},
			}, {
				Addresses:         []corev1.EndpointAddress{address(p["a"]), address(p["b"]), address(p["c"])},
				NotReadyAddresses: []corev1.EndpointAddress{address(p["d"])},
				Ports:             []corev1.EndpointPort{tcpPort("metrics", 9100)},
			}}
		},
		wantLabels: map[string]string{"tier": "front"},
	}, {
		name: "headless with hostnames", service: "db",
		spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: web, Ports: []corev1.ServicePort{{Port: 5432}}},
		pods: []testPod{
			{name: "db-0", ip: "10.244.1.8", node: "minilab-worker", ready: true, labels: web, hostname: "db-0", subdomain: "db"},
			{name: "db-1", ip: "10.244.2.8", node: "minilab-worker2", ready: true, labels: web, hostname: "db-1", subdomain: "elsewhere"},
		},
		want: func(p map[string]*corev1.Pod) []corev1.EndpointSubset {
			withHost := address(p["db-0"])
			withHost.Hostname = "db-0"
			return []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{withHost, address(p["db-1"])},
				Ports:     []corev1.EndpointPort{tcpPort("", 5432)},
			}}
		},
		wantLabels: map[string]string{"service.kubernetes.io/headless": ""},
	}, {
		name: "no ready pod yet", service: "web",
		spec: httpService,
		pods: []testPod{{name: "starting", labels: web}},
		want: func(map[string]*corev1.Pod) []corev1.EndpointSubset { return nil },
	}}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l.t = t
			ns := fmt.Sprintf("case-%d", i)
			l.namespace(ns)
			pods := map[string]*corev1.Pod{}
			for _, p := range tc.pods {
				pods[p.name] = l.createPod(ns, p)
			}
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: tc.service, Labels: tc.svcLabels}, Spec: tc.spec}
			_, err := l.client.CoreV1().Services(ns).Create(l.ctx, svc, metav1.CreateOptions{})
			l.must(err)
			ep := l.waitForEndpoints(ns, tc.service, tc.want(pods), tc.wantLabels)
			if _, err := time.Parse(time.RFC3339Nano, ep.Annotations[corev1.EndpointsLastChangeTriggerTime]); err != nil {
				t.Errorf("annotation %s: %v", corev1.EndpointsLastChangeTriggerTime, err)
			}
		})
	}
}

func TestEndpointsFollowChanges(t *testing.T) {
	l := startLab(t)
	l.createNode("minilab-worker")
	ns := "default"
	app := map[string]string{"app": "hello"}
	ports := []corev1.ContainerPort{containerPort("http", 8080)}
	_, err := l.client.CoreV1().Services(ns).Create(l.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec:       corev1.ServiceSpec{Selector: app, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	l.must(err)
	// A second Service, used as a barrier: with one worker, once its
	// Endpoints show a change queued after another, that one was synced.
	barrier := map[string]string{"app": "barrier"}
	_, err = l.client.CoreV1().Services(ns).Create(l.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "barrier"},
		Spec:       corev1.ServiceSpec{Selector: barrier, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	l.must(err)
	p := l.createPod(ns, testPod{name: "hello-1", ip: "10.244.1.20", node: "minilab-worker", labels: app, ports: ports})
	http := []corev1.EndpointPort{tcpPort("", 8080)}

	// Not ready, then ready.
	l.waitForEndpoints(ns, "hello", []corev1.EndpointSubset{{NotReadyAddresses: []corev1.EndpointAddress{address(p)}, Ports: http}}, map[string]string{})
	p = l.setStatus(p, "10.244.1.20", true)
	ep := l.waitForEndpoints(ns, "hello", []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{address(p)}, Ports: http}}, map[string]string{})

	// No-op changes write nothing.
	p.Annotations = map[string]string{"touched": "yes"}
	p, err = l.client.CoreV1().Pods(ns).Update(l.ctx, p, metav1.UpdateOptions{})
	l.must(err)
	b := l.createPod(ns, testPod{name: "barrier-1", ip: "10.244.1.21", node: "minilab-worker", ready: true, labels: barrier})
	l.waitForEndpoints(ns, "barrier", []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{address(b)}, Ports: []corev1.EndpointPort{tcpPort("", 80)}}}, map[string]string{})
	again, err := l.client.CoreV1().Endpoints(ns).Get(l.ctx, "hello", metav1.GetOptions{})
	l.must(err)
	if again.ResourceVersion != ep.ResourceVersion {
		t.Errorf("a pod annotation change rewrote the Endpoints: resourceVersion %s -> %s", ep.ResourceVersion, again.ResourceVersion)
	}

	// Someone edits the Endpoints: put back.
	again.Subsets = nil
	_, err = l.client.CoreV1().Endpoints(ns).Update(l.ctx, again, metav1.UpdateOptions{})
	l.must(err)
	l.waitForEndpoints(ns, "hello", []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{address(p)}, Ports: http}}, map[string]string{})

	// Terminating pods leave the Endpoints (the EndpointSlice keeps them).
	l.must(l.client.CoreV1().Pods(ns).Delete(l.ctx, "hello-1", metav1.DeleteOptions{}))
	terminating, err := l.client.CoreV1().Pods(ns).Get(l.ctx, "hello-1", metav1.GetOptions{})
	l.must(err)
	if terminating.DeletionTimestamp == nil {
		t.Fatal("the pod on a node should terminate gracefully")
	}
	l.waitForEndpoints(ns, "hello", nil, map[string]string{})

	// A relabelled pod leaves the Service.
	b.Labels = map[string]string{"app": "moved"}
	b, err = l.client.CoreV1().Pods(ns).Update(l.ctx, b, metav1.UpdateOptions{})
	l.must(err)
	l.waitForEndpoints(ns, "barrier", nil, map[string]string{})

	// A Service without selector keeps the Endpoints its user writes.
	_, err = l.client.CoreV1().Services(ns).Create(l.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "external"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	l.must(err)
	manual := []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "172.30.0.100"}}, Ports: []corev1.EndpointPort{tcpPort("", 80)}}}
	_, err = l.client.CoreV1().Endpoints(ns).Create(l.ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "external"}, Subsets: manual}, metav1.CreateOptions{})
	l.must(err)
	b.Labels = barrier
	_, err = l.client.CoreV1().Pods(ns).Update(l.ctx, b, metav1.UpdateOptions{})
	l.must(err)
	l.waitForEndpoints(ns, "barrier", []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{address(b)}, Ports: []corev1.EndpointPort{tcpPort("", 80)}}}, map[string]string{})
	got, err := l.client.CoreV1().Endpoints(ns).Get(l.ctx, "external", metav1.GetOptions{})
	l.must(err)
	if !apiequality.Semantic.DeepEqual(got.Subsets, manual) {
		t.Errorf("the user's Endpoints were changed: %s", describe(got.Subsets))
	}

	// Deleting the Service deletes its Endpoints.
	l.must(l.client.CoreV1().Services(ns).Delete(l.ctx, "hello", metav1.DeleteOptions{}))
	l.eventually(func() string {
		_, err := l.client.CoreV1().Endpoints(ns).Get(l.ctx, "hello", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Sprintf("the Endpoints of a deleted Service are still there (%v)", err)
		}
		return ""
	})
}
