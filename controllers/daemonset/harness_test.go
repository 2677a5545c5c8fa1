package daemonset

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/minilab/minilab/apiserver"
	"github.com/minilab/minilab/store"
)

// These tests run the controller against minilab's real API server, in
// process, without the controller manager (which runs this controller too:
// a second copy would race this one) and so without a scheduler or
// kubelets: pods stay pinned to their node by affinity, unbound, and tests
// play the kubelet's part by writing pod status through pods/status.

const ns = "default"

// The nodes of a default lab.
const (
	controlPlane = "minilab-control-plane"
	worker       = "minilab-worker"
	worker2      = "minilab-worker2"
	worker3      = "minilab-worker3"
)

type lab struct {
	t      *testing.T
	client kubernetes.Interface
}

func start(t *testing.T, nodes ...*corev1.Node) *lab {
	t.Helper()
	l := &lab{t: t, client: startAPIServer(t)}
	for _, n := range nodes {
		l.createNode(n)
	}
	runController(t, l.client)
	return l
}

func runController(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(client, 0)
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "daemonset-controller"})
	c := NewController(client, factory, recorder)
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("cache of %v did not sync", typ)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 2)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
		broadcaster.Shutdown()
	})
}

func startAPIServer(t *testing.T) kubernetes.Interface {
	t.Helper()
	srv, err := apiserver.New(apiserver.Config{
		DataDir: t.TempDir(), AdvertiseAddress: net.ParseIP("172.30.0.2"),
		Logf: t.Logf, StoreOptions: store.Options{NoSync: true},
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
	return client
}

func (l *lab) must(err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatal(err)
	}
}

func (l *lab) waitFor(what string, cond func() (bool, string)) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("timed out waiting for %s; last saw: %s", what, saw)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// node is a lab node; the control plane carries kubeadm's role label and
// NoSchedule taint.
func node(name string, mutate ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	if name == controlPlane {
		n.Labels["node-role.kubernetes.io/control-plane"] = ""
		n.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
	}
	for _, m := range mutate {
		m(n)
	}
	return n
}

func (l *lab) createNode(n *corev1.Node) {
	l.t.Helper()
	_, err := l.client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{})
	l.must(err)
}

func (l *lab) patchNode(name, patch string) {
	l.t.Helper()
	_, err := l.client.CoreV1().Nodes().Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	l.must(err)
}

func (l *lab) deleteNode(name string) {
	l.t.Helper()
	l.must(l.client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}))
}

// newDaemonSet is the fluentd-elasticsearch DaemonSet of the Kubernetes
// documentation, without its volumes.
func newDaemonSet(name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"name": name}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: name, Image: "quay.io/fluentd_elasticsearch/fluentd:v5.0.1",
				}}},
			},
		},
	}
}

func (l *lab) create(ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	l.t.Helper()
	out, err := l.client.AppsV1().DaemonSets(ns).Create(context.Background(), ds, metav1.CreateOptions{})
	l.must(err)
	return out
}

func (l *lab) get(name string) *appsv1.DaemonSet {
	l.t.Helper()
	ds, err := l.client.AppsV1().DaemonSets(ns).Get(context.Background(), name, metav1.GetOptions{})
	l.must(err)
	return ds
}

// podsByNode maps each node to the names of its daemon pods (not
// terminating), by the node they are pinned to.
func (l *lab) podsByNode() map[string]*corev1.Pod {
	l.t.Helper()
	list, err := l.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	l.must(err)
	out := map[string]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		n, _ := targetNode(p)
		if other, dup := out[n]; dup {
			n += " and " + other.Name
		}
		out[n] = p
	}
	return out
}

func nodesOf(pods map[string]*corev1.Pod) string {
	var out []string
	for n := range pods {
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// waitForNodes waits until exactly the named nodes have a pod each.
func (l *lab) waitForNodes(want ...string) map[string]*corev1.Pod {
	l.t.Helper()
	var pods map[string]*corev1.Pod
	l.waitFor("pods on "+strings.Join(want, " "), func() (bool, string) {
		pods = l.podsByNode()
		return nodesOf(pods) == strings.Join(want, " "), nodesOf(pods)
	})
	return pods
}

// stillNodes checks, after giving the controller time to act wrongly, that
// the pods are still the same ones.
func (l *lab) stillNodes(pods map[string]*corev1.Pod) {
	l.t.Helper()
	time.Sleep(150 * time.Millisecond)
	now := l.podsByNode()
	if nodesOf(now) != nodesOf(pods) {
		l.t.Fatalf("pods on %q, want still %q", nodesOf(now), nodesOf(pods))
	}
	for n, p := range pods {
		if now[n].UID != p.UID {
			l.t.Fatalf("the pod on %s was replaced", n)
		}
	}
}

func (l *lab) setPodStatus(pod *corev1.Pod, phase corev1.PodPhase, ready bool) {
	l.t.Helper()
	p, err := l.client.CoreV1().Pods(ns).Get(context.Background(), pod.Name, metav1.GetOptions{})
	l.must(err)
	p.Status.Phase = phase
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
	_, err = l.client.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	l.must(err)
}

func (l *lab) ready(pods ...*corev1.Pod) {
	l.t.Helper()
	for _, p := range pods {
		l.setPodStatus(p, corev1.PodRunning, true)
	}
}

func (l *lab) waitForStatus(name string, want appsv1.DaemonSetStatus) {
	l.t.Helper()
	l.waitFor("status of "+name, func() (bool, string) {
		ds, err := l.client.AppsV1().DaemonSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return reflect.DeepEqual(ds.Status, want), fmt.Sprintf("%+v", ds.Status)
	})
}

func (l *lab) waitForEvent(object, eventType, reason, message string) {
	l.t.Helper()
	l.waitFor(fmt.Sprintf("event %s %q on %s", reason, message, object), func() (bool, string) {
		list, err := l.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + object})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.Type == eventType && e.Reason == reason && e.Message == message && e.Source.Component == "daemonset-controller" {
				return true, ""
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return false, strings.Join(seen, "; ")
	})
}
