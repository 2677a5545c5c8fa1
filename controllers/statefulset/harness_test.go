package statefulset

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/minilab/minilab/apiserver"
	"github.com/minilab/minilab/store"
)

// These tests run the controller against minilab's real API server, in
// process, without the controller manager (which runs this controller too:
// a second copy would race this one). There are no kubelets: tests play
// the kubelet's part by writing pod status (phase Running, the Ready
// condition) through pods/status. Pods are never bound to a node, so the
// API server deletes them at once; a finalizer keeps one terminating.

const (
	ns   = "default"
	hold = "minilab.test/hold"
)

type lab struct {
	t      *testing.T
	client kubernetes.Interface
}

func start(t *testing.T) *lab {
	t.Helper()
	l := &lab{t: t, client: startAPIServer(t)}
	runController(t, l.client)
	return l
}

// runController runs the controller, with its informers synced, until the
// test ends or the returned stop is called.
func runController(t *testing.T, client kubernetes.Interface) (stop func()) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(client, 0)
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "statefulset-controller"})
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
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			factory.Shutdown()
			broadcaster.Shutdown()
		})
	}
	t.Cleanup(stop)
	return stop
}

// startAPIServer runs minilab's API server alone and returns an in-process
// client of it.
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

// waitFor polls cond every few milliseconds until it reports done; on
// timeout the test fails with cond's last description of what it saw.
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

func (l *lab) must(err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatal(err)
	}
}

// newSet is the StatefulSet of the Kubernetes "StatefulSet Basics"
// tutorial: nginx pods behind the headless Service "nginx", one claim
// template "www" mounted by the container.
func newSet(name string, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "nginx",
			Replicas:    ptr.To(replicas),
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nginx"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "nginx"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "nginx", Image: "registry.k8s.io/nginx-slim:0.21",
					Ports:        []corev1.ContainerPort{{Name: "web", ContainerPort: 80}},
					VolumeMounts: []corev1.VolumeMount{{Name: "www", MountPath: "/usr/share/nginx/html"}},
				}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

func (l *lab) create(set *appsv1.StatefulSet) *appsv1.StatefulSet {
	l.t.Helper()
	out, err := l.client.AppsV1().StatefulSets(ns).Create(context.Background(), set, metav1.CreateOptions{})
	l.must(err)
	return out
}

func (l *lab) get(name string) *appsv1.StatefulSet {
	l.t.Helper()
	set, err := l.client.AppsV1().StatefulSets(ns).Get(context.Background(), name, metav1.GetOptions{})
	l.must(err)
	return set
}

func (l *lab) patchSet(name, patch string) {
	l.t.Helper()
	_, err := l.client.AppsV1().StatefulSets(ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	l.must(err)
}

func (l *lab) setImage(name, image string) {
	l.t.Helper()
	l.patchSet(name, fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":%q}]}}}}`, image))
}

// pods lists the pods of the namespace by name.
func (l *lab) pods() map[string]*corev1.Pod {
	l.t.Helper()
	list, err := l.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	l.must(err)
	out := map[string]*corev1.Pod{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

func names(pods map[string]*corev1.Pod) string {
	var out []string
	for name, p := range pods {
		if p.DeletionTimestamp != nil {
			name += "(terminating)"
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// waitForPods waits until exactly the named pods exist (terminating ones
// marked "(terminating)").
func (l *lab) waitForPods(want string) map[string]*corev1.Pod {
	l.t.Helper()
	var pods map[string]*corev1.Pod
	l.waitFor("pods "+want, func() (bool, string) {
		pods = l.pods()
		return names(pods) == want, names(pods)
	})
	return pods
}

// stillPods checks, after giving the controller time to act wrongly, that
// the pods are still exactly want.
func (l *lab) stillPods(want string) {
	l.t.Helper()
	time.Sleep(150 * time.Millisecond)
	if got := names(l.pods()); got != want {
		l.t.Fatalf("pods %q, want still %q", got, want)
	}
}

func (l *lab) pod(name string) *corev1.Pod {
	l.t.Helper()
	p, err := l.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	l.must(err)
	return p
}

// setPodStatus plays the kubelet: phase and readiness through pods/status.
func (l *lab) setPodStatus(name string, phase corev1.PodPhase, ready bool) {
	l.t.Helper()
	p := l.pod(name)
	p.Status.Phase = phase
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
	_, err := l.client.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	l.must(err)
}

func (l *lab) ready(names ...string) {
	l.t.Helper()
	for _, n := range names {
		l.setPodStatus(n, corev1.PodRunning, true)
	}
}

// setFinalizers replaces a pod's finalizers; hold keeps a deleted pod
// terminating, as a kubelet stopping its containers would.
func (l *lab) setFinalizers(name string, finalizers ...string) {
	l.t.Helper()
	patch := `{"metadata":{"finalizers":null}}`
	if len(finalizers) > 0 {
		patch = fmt.Sprintf(`{"metadata":{"finalizers":[%q]}}`, finalizers[0])
	}
	_, err := l.client.CoreV1().Pods(ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	l.must(err)
}

func (l *lab) deletePod(name string) {
	l.t.Helper()
	l.must(l.client.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{}))
}

// waitForStatus waits for the set's status to equal want.
func (l *lab) waitForStatus(name string, want appsv1.StatefulSetStatus) {
	l.t.Helper()
	l.waitFor("status of "+name, func() (bool, string) {
		set, err := l.client.AppsV1().StatefulSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return reflect.DeepEqual(set.Status, want), fmt.Sprintf("%+v (collisionCount %v)", set.Status, ptr.Deref(set.Status.CollisionCount, -1))
	})
}

// waitForEvent waits for an event on the object with the reason and message.
func (l *lab) waitForEvent(object, eventType, reason, message string) {
	l.t.Helper()
	l.waitFor(fmt.Sprintf("event %s %q on %s", reason, message, object), func() (bool, string) {
		list, err := l.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + object})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.Type == eventType && e.Reason == reason && e.Message == message && e.Source.Component == "statefulset-controller" {
				return true, ""
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return false, strings.Join(seen, "; ")
	})
}

// podLog records, from a watch, the order in which pods were created and
// deleted ("+web-0", "-web-2"; deletion is when the deletionTimestamp is set
// or, without one, when the pod goes).
type podLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *lab) watchPods() *podLog {
	l.t.Helper()
	// From the list's resourceVersion: only changes, no synthetic ADDED
	// events for the pods already there.
	list, err := l.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	l.must(err)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := l.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	l.must(err)
	log := &podLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		terminating := map[types.UID]bool{}
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			var entry string
			switch {
			case ev.Type == watch.Added:
				entry = "+" + pod.Name
			case ev.Type == watch.Modified && pod.DeletionTimestamp != nil && !terminating[pod.UID]:
				terminating[pod.UID] = true
				entry = "-" + pod.Name
			case ev.Type == watch.Deleted && !terminating[pod.UID]:
				entry = "-" + pod.Name
			}
			if entry != "" {
				log.mu.Lock()
				log.entries = append(log.entries, entry)
				log.mu.Unlock()
			}
		}
	}()
	l.t.Cleanup(func() {
		cancel()
		w.Stop()
		<-done
	})
	return log
}

func (p *podLog) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.entries, " ")
}

// waitForLog waits until the log reads want.
func (l *lab) waitForLog(log *podLog, want string) {
	l.t.Helper()
	l.waitFor("pod log "+want, func() (bool, string) {
		got := log.String()
		return got == want, got
	})
}
