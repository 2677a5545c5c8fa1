package replicaset

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"regexp"
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
	"k8s.io/utils/ptr"

	"github.com/minilab/minilab/apiserver"
	"github.com/minilab/minilab/store"
)

// These tests run the controller against minilab's real API server, in
// process. There are no kubelets: tests play the kubelet's part by writing
// pod status (phase Running, the Ready condition) through pods/status.

const ns = "default"

// generatedName is "<prefix>" plus the five characters the API server
// appends for generateName (upstream's rand.String alphabet).
func generatedName(prefix string) *regexp.Regexp {
	return regexp.MustCompile("^" + regexp.QuoteMeta(prefix) + "[bcdfghjklmnpqrstvwxz2456789]{5}$")
}

func start(t *testing.T) kubernetes.Interface {
	t.Helper()
	client := startAPIServer(t)
	runController(t, client)
	return client
}

// runController runs the controller, with its informers synced.
func runController(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(client, 0)
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "replicaset-controller"})
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

// startAPIServer runs minilab's API server alone, without the controller
// manager (which runs this very controller too: a second copy would race
// this one), and returns an in-process client of it.
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
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last saw: %s", what, saw)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newReplicaSet(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, "tier": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}
}

func create(t *testing.T, client kubernetes.Interface, rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	t.Helper()
	out, err := client.AppsV1().ReplicaSets(ns).Create(context.Background(), rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// podsOf lists the active pods controlled by the ReplicaSet, oldest first.
func podsOf(t *testing.T, client kubernetes.Interface, rs *appsv1.ReplicaSet) []corev1.Pod {
	t.Helper()
	list, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == rs.UID && isPodActive(&p) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func waitForPods(t *testing.T, client kubernetes.Interface, rs *appsv1.ReplicaSet, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	waitFor(t, fmt.Sprintf("%d pods of %s", n, rs.Name), func() (bool, string) {
		pods = podsOf(t, client, rs)
		return len(pods) == n, fmt.Sprintf("%d pods", len(pods))
	})
	return pods
}

// setPodStatus plays the kubelet: it writes phase and readiness through
// pods/status.
func setPodStatus(t *testing.T, client kubernetes.Interface, pod corev1.Pod, phase corev1.PodPhase, ready bool) {
	t.Helper()
	p := pod.DeepCopy()
	p.Status.Phase = phase
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
	if _, err := client.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitForStatus(t *testing.T, client kubernetes.Interface, name string, want appsv1.ReplicaSetStatus) {
	t.Helper()
	waitFor(t, "status of "+name, func() (bool, string) {
		rs, err := client.AppsV1().ReplicaSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got := rs.Status
		got.Conditions = nil
		return reflect.DeepEqual(got, want), fmt.Sprintf("%+v", rs.Status)
	})
}

// waitForEvent waits for an event on the object with the reason and message.
func waitForEvent(t *testing.T, client kubernetes.Interface, object, eventType, reason, message string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("event %s %q on %s", reason, message, object), func() (bool, string) {
		list, err := client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + object})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.Type == eventType && e.Reason == reason && e.Message == message && e.Source.Component == "replicaset-controller" {
				return true, ""
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return false, strings.Join(seen, "; ")
	})
}

func TestCreatesPodsFromTemplate(t *testing.T) {
	client := start(t)
	rs := create(t, client, newReplicaSet("frontend", 3))
	pods := waitForPods(t, client, rs, 3)

	for _, p := range pods {
		if !generatedName("frontend-").MatchString(p.Name) || p.GenerateName != "frontend-" {
			t.Errorf("pod name %q (generateName %q), want frontend-xxxxx", p.Name, p.GenerateName)
		}
		if fmt.Sprint(p.Labels) != "map[app:frontend tier:web]" {
			t.Errorf("pod %s labels %v", p.Name, p.Labels)
		}
		want := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "frontend", UID: rs.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
		if !reflect.DeepEqual(p.OwnerReferences, want) {
			t.Errorf("pod %s ownerReferences %+v, want %+v", p.Name, p.OwnerReferences, want)
		}
		waitForEvent(t, client, "frontend", corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: "+p.Name)
	}
	waitForStatus(t, client, "frontend", appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 3, ObservedGeneration: 1})

	// The informer has seen its own creates by now; nothing more may come.
	time.Sleep(100 * time.Millisecond)
	if got := podsOf(t, client, rs); len(got) != 3 {
		t.Fatalf("%d pods after settling, want 3", len(got))
	}

	setPodStatus(t, client, pods[0], corev1.PodRunning, true)
	setPodStatus(t, client, pods[1], corev1.PodRunning, true)
	waitForStatus(t, client, "frontend", appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, ObservedGeneration: 1})
}

func TestReplacesDeletedAndFinishedPods(t *testing.T) {
	client := start(t)
	rs := create(t, client, newReplicaSet("web", 2))
	pods := waitForPods(t, client, rs, 2)

	if err := client.CoreV1().Pods(ns).Delete(context.Background(), pods[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	after := waitForPods(t, client, rs, 2)
	for _, p := range after {
		if p.Name == pods[0].Name {
			t.Fatalf("deleted pod %s still counted", p.Name)
		}
	}

	// A Failed pod is no replica any more: it stays (the pod GC's job) but
	// a new one takes its place.
	setPodStatus(t, client, after[0], corev1.PodFailed, false)
	waitForPods(t, client, rs, 2)
	waitForStatus(t, client, "web", appsv1.ReplicaSetStatus{Replicas: 2, FullyLabeledReplicas: 2, ObservedGeneration: 1})
	if _, err := client.CoreV1().Pods(ns).Get(context.Background(), after[0].Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("the failed pod: %v", err)
	}
}

func TestScaleDownDeletesNotReadyPodsFirst(t *testing.T) {
	client := start(t)
	rs := create(t, client, newReplicaSet("api", 3))
	pods := waitForPods(t, client, rs, 3)
	setPodStatus(t, client, pods[0], corev1.PodRunning, true)
	setPodStatus(t, client, pods[2], corev1.PodRunning, true)
	waitForStatus(t, client, "api", appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, ObservedGeneration: 1})

	scale(t, client, "api", 2)
	left := waitForPods(t, client, rs, 2)
	if left[0].Name != pods[0].Name || left[1].Name != pods[2].Name {
		t.Fatalf("kept %s and %s, want the ready %s and %s", left[0].Name, left[1].Name, pods[0].Name, pods[2].Name)
	}
	waitForEvent(t, client, "api", corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: "+pods[1].Name)
	waitForStatus(t, client, "api", appsv1.ReplicaSetStatus{Replicas: 2, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, ObservedGeneration: 2})

	scale(t, client, "api", 0)
	waitForPods(t, client, rs, 0)
	waitForStatus(t, client, "api", appsv1.ReplicaSetStatus{ObservedGeneration: 3})
}

func scale(t *testing.T, client kubernetes.Interface, name string, replicas int32) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	if _, err := client.AppsV1().ReplicaSets(ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestAdoptsOrphansAndReleasesMismatches(t *testing.T) {
	client := startAPIServer(t)
	ctx := context.Background()
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stray", Labels: map[string]string{"app": "db"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "nginx"}}},
	}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The orphan is in the informer's first list, so the first sync sees it.
	runController(t, client)
	rs := create(t, client, newReplicaSet("db", 2))
	pods := waitForPods(t, client, rs, 2)
	names := pods[0].Name + " " + pods[1].Name
	if !strings.Contains(names, "stray") {
		t.Fatalf("the orphan was not adopted: pods %s", names)
	}
	time.Sleep(50 * time.Millisecond)
	if got := podsOf(t, client, rs); len(got) != 2 {
		t.Fatalf("%d pods, want the orphan and one new pod", len(got))
	}
	// Adoption does not relabel: the orphan lacks tier=web.
	waitForStatus(t, client, "db", appsv1.ReplicaSetStatus{Replicas: 2, FullyLabeledReplicas: 1, ObservedGeneration: 1})

	// Relabelled away from the selector, the pod is released and replaced.
	if _, err := client.CoreV1().Pods(ns).Patch(ctx, "stray", types.MergePatchType, []byte(`{"metadata":{"labels":{"app":"other"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the release of stray", func() (bool, string) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, "stray", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(p.OwnerReferences) == 0, fmt.Sprintf("%+v", p.OwnerReferences)
	})
	for _, p := range waitForPods(t, client, rs, 2) {
		if p.Name == "stray" {
			t.Fatal("stray still counted")
		}
	}
	waitForStatus(t, client, "db", appsv1.ReplicaSetStatus{Replicas: 2, FullyLabeledReplicas: 2, ObservedGeneration: 1})
}
