package endpointslice

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/minilab/minilab/apiserver"
	"github.com/minilab/minilab/store"
)

// The integration tests run the real minilab API server in-process with
// only the controller under test. apiservertest.Start would also start the
// controller manager, which runs this same controller: two copies racing
// on the same objects is not something to test against.

type lab struct {
	t      *testing.T
	ctx    context.Context
	client kubernetes.Interface
}

// startLab starts an API server and the EndpointSlice controller (one worker
// per loop, so that queued keys are synced in order).
func startLab(t *testing.T) *lab {
	t.Helper()
	srv, err := apiserver.New(apiserver.Config{
		DataDir: t.TempDir(), AdvertiseAddress: net.ParseIP("172.30.0.2"),
		Logf: func(string, ...interface{}) {}, StoreOptions: store.Options{NoSync: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		srv.Shutdown()
		<-served
	})
	client, err := kubernetes.NewForConfig(srv.LoopbackConfig())
	if err != nil {
		t.Fatal(err)
	}

	ctrlCtx, stop := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := NewController(client, factory, &record.FakeRecorder{})
	factory.Start(ctrlCtx.Done())
	factory.WaitForCacheSync(ctrlCtx.Done())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		c.Run(ctrlCtx, 1)
	}()
	t.Cleanup(func() {
		stop()
		<-ran
		factory.Shutdown()
	})
	return &lab{t: t, ctx: ctrlCtx, client: client}
}

// eventually polls check every few milliseconds until it returns "" (ok)
// and fails the test with its last complaint after 10 seconds.
func (l *lab) eventually(check func() string) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatal(msg)
		}
		time.Sleep(3 * time.Millisecond)
	}
}

func (l *lab) must(err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatal(err)
	}
}

func (l *lab) namespace(name string) {
	_, err := l.client.CoreV1().Namespaces().Create(l.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	l.must(err)
}

// testPod describes a pod the way the tests need it.
type testPod struct {
	name, ip, node      string
	ready               bool
	labels              map[string]string
	ports               []corev1.ContainerPort
	hostname, subdomain string
	finalizers          []string
}

// createPod creates a pod, then gives it its IP and Ready condition
// through the status subresource, as the kubelet does.
func (l *lab) createPod(ns string, p testPod) *corev1.Pod {
	l.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Labels: p.labels, Finalizers: p.finalizers},
		Spec: corev1.PodSpec{
			NodeName: p.node, Hostname: p.hostname, Subdomain: p.subdomain,
			Containers: []corev1.Container{{Name: "app", Image: "nginx", Ports: p.ports}},
		},
	}
	created, err := l.client.CoreV1().Pods(ns).Create(l.ctx, pod, metav1.CreateOptions{})
	l.must(err)
	if p.ip == "" {
		return created
	}
	return l.setStatus(created, p.ip, p.ready)
}

func (l *lab) setStatus(pod *corev1.Pod, ip string, ready bool) *corev1.Pod {
	l.t.Helper()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP, pod.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
	updated, err := l.client.CoreV1().Pods(pod.Namespace).UpdateStatus(l.ctx, pod, metav1.UpdateOptions{})
	l.must(err)
	return updated
}

// createNode creates a Ready node, in zone unless it is "".
func (l *lab) createNode(name, zone string) {
	labels := map[string]string{corev1.LabelHostname: name}
	if zone != "" {
		labels[corev1.LabelTopologyZone] = zone
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		}}},
	}
	_, err := l.client.CoreV1().Nodes().Create(l.ctx, node, metav1.CreateOptions{})
	l.must(err)
}

func describe(v interface{}) string { return fmt.Sprintf("%+v", v) }
