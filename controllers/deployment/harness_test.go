package deployment

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/tools/record"

	"github.com/minilab/minilab/apiserver"
	"github.com/minilab/minilab/controllers/replicaset"
	"github.com/minilab/minilab/store"
)

// The integration tests run this controller and the ReplicaSet controller
// against minilab's real API server, in process, without the controller
// manager (which runs both too: second copies would race these). There are
// no kubelets: tests play the kubelet's part by writing pod status (phase
// Running, the Ready condition) through pods/status.

const ns = "default"

type lab struct {
	t      *testing.T
	client kubernetes.Interface
	srv    *apiserver.Server
	dir    string
	// dc is the Deployment controller under test; its listers read the
	// informer caches it (and the ReplicaSet controller) work from.
	dc *Controller
}

func start(t *testing.T) *lab {
	t.Helper()
	dir := t.TempDir()
	srv, err := apiserver.New(apiserver.Config{
		DataDir: dir, AdvertiseAddress: net.ParseIP("172.30.0.2"),
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

	factory := informers.NewSharedInformerFactory(client, 0)
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := func(component string) record.EventRecorder {
		return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	}
	dc := NewController(client, factory, recorder("deployment-controller"))
	rsc := replicaset.NewController(client, factory, recorder("replicaset-controller"))
	runCtx, stop := context.WithCancel(ctx)
	factory.Start(runCtx.Done())
	for typ, ok := range factory.WaitForCacheSync(runCtx.Done()) {
		if !ok {
			t.Fatalf("cache of %v did not sync", typ)
		}
	}
	done := make(chan struct{}, 2)
	go func() { dc.Run(runCtx, 2); done <- struct{}{} }()
	go func() { rsc.Run(runCtx, 2); done <- struct{}{} }()
	t.Cleanup(func() {
		stop()
		<-done
		<-done
		factory.Shutdown()
		broadcaster.Shutdown()
	})
	return &lab{t: t, client: client, srv: srv, dir: dir, dc: dc}
}

// waitFor polls cond every few milliseconds until it reports done; on
// timeout the test fails with cond's last description of what it saw.
func (l *lab) waitFor(what string, cond func() (bool, string)) {
	l.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
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

func newDeployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
}

func (l *lab) create(d *appsv1.Deployment) *appsv1.Deployment {
	l.t.Helper()
	out, err := l.client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{})
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

func (l *lab) get(name string) *appsv1.Deployment {
	l.t.Helper()
	d, err := l.client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		l.t.Fatal(err)
	}
	return d
}

// update changes a Deployment, retrying on conflicts with the controller's
// writes.
func (l *lab) update(name string, change func(*appsv1.Deployment)) *appsv1.Deployment {
	l.t.Helper()
	for {
		d := l.get(name)
		change(d)
		out, err := l.client.AppsV1().Deployments(ns).Update(context.Background(), d, metav1.UpdateOptions{})
		if err == nil {
			return out
		}
		if !strings.Contains(err.Error(), "modified") {
			l.t.Fatal(err)
		}
	}
}

// replicaSets lists the ReplicaSets the Deployment controls, by revision.
func (l *lab) replicaSets(d *appsv1.Deployment) []appsv1.ReplicaSet {
	l.t.Helper()
	list, err := l.client.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		l.t.Fatal(err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	sort.Slice(out, func(i, j int) bool { return lowerRevision(&out[i], &out[j]) })
	return out
}

// pods lists the pods controlled by the ReplicaSet.
func (l *lab) pods(rs *appsv1.ReplicaSet) []corev1.Pod {
	l.t.Helper()
	list, err := l.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		l.t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == rs.UID {
			out = append(out, p)
		}
	}
	return out
}

// markReady plays the kubelet for every pod of rs that is not ready yet:
// phase Running and the Ready condition, through pods/status.
func (l *lab) markReady(rs *appsv1.ReplicaSet) {
	l.t.Helper()
	for _, p := range l.pods(rs) {
		if p.Status.Phase == corev1.PodRunning {
			continue
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		if _, err := l.client.CoreV1().Pods(ns).UpdateStatus(context.Background(), &p, metav1.UpdateOptions{}); err != nil && !strings.Contains(err.Error(), "not found") {
			l.t.Fatal(err)
		}
	}
}

// waitForStatus waits until the Deployment's status counts are want.
func (l *lab) waitForStatus(name string, want appsv1.DeploymentStatus) *appsv1.Deployment {
	l.t.Helper()
	var d *appsv1.Deployment
	l.waitFor("status of "+name, func() (bool, string) {
		d = l.get(name)
		got := d.Status
		got.Conditions = nil
		return fmt.Sprintf("%+v", got) == fmt.Sprintf("%+v", want), fmt.Sprintf("%+v", d.Status)
	})
	return d
}

// waitForEvent waits for an event on the object with the reason and message.
func (l *lab) waitForEvent(object, component, reason, message string) {
	l.t.Helper()
	l.waitFor(fmt.Sprintf("event %s %q on %s", reason, message, object), func() (bool, string) {
		list, err := l.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + object})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.Reason == reason && e.Message == message && e.Source.Component == component {
				return true, ""
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return false, strings.Join(seen, "; ")
	})
}

// events returns the messages of the events on an object, oldest first.
func (l *lab) events(object string) []string {
	l.t.Helper()
	var out []string
	for _, e := range l.eventList(object) {
		out = append(out, e.Message)
	}
	return out
}

// eventList returns the events on an object in the order they were
// recorded. FirstTimestamp has whole seconds on the wire, too coarse for
// events of one sync; client-go's recorder names an event
// <object>.<its UnixNano in hex>, which orders them (a repeat of an event
// keeps the first one's name and place).
func (l *lab) eventList(object string) []corev1.Event {
	l.t.Helper()
	list, err := l.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + object})
	if err != nil {
		l.t.Fatal(err)
	}
	when := func(e *corev1.Event) int64 {
		if i := strings.LastIndexByte(e.Name, '.'); i >= 0 {
			if n, err := strconv.ParseInt(e.Name[i+1:], 16, 64); err == nil {
				return n
			}
		}
		return e.FirstTimestamp.UnixNano()
	}
	sort.SliceStable(list.Items, func(i, j int) bool { return when(&list.Items[i]) < when(&list.Items[j]) })
	return list.Items
}

// scalingStep is one ScalingReplicaSet event of the deployment controller:
// "Scaled up|down replica set <rs> from <from> to <to>", the format of
// kube-controller-manager since Kubernetes 1.31 (before: "to N from M",
// and before 1.22 just "to N").
type scalingStep struct {
	Direction string
	RS        string
	From, To  int32
}

func (s scalingStep) String() string {
	return fmt.Sprintf("%s %s %d->%d", s.Direction, s.RS, s.From, s.To)
}

var scalingMessage = regexp.MustCompile(`^Scaled (up|down) replica set (\S+) from (\d+) to (\d+)$`)

// scalingSteps returns the deployment controller's ScalingReplicaSet
// events on a Deployment, oldest first. A message in another format fails
// the test, which includes client-go's "(combined from similar events): "
// once it has recorded 10 distinct messages of one reason on an object
// within 10 minutes: tests that read every step stay below that.
func (l *lab) scalingSteps(deployment string) []scalingStep {
	l.t.Helper()
	var out []scalingStep
	for _, e := range l.eventList(deployment) {
		if e.Reason != reasonScalingReplicaSet || e.Source.Component != "deployment-controller" {
			continue
		}
		m := scalingMessage.FindStringSubmatch(e.Message)
		if m == nil {
			l.t.Fatalf("ScalingReplicaSet event %q: not \"Scaled up|down replica set NAME from N to M\"", e.Message)
		}
		from, _ := strconv.ParseInt(m[3], 10, 32)
		to, _ := strconv.ParseInt(m[4], 10, 32)
		out = append(out, scalingStep{Direction: m[1], RS: m[2], From: int32(from), To: int32(to)})
	}
	return out
}

// waitForCachedReplicaSet waits until the controllers' ReplicaSet cache
// holds rs. Each resource comes through its own watch, with no order
// between resources: a Deployment created right after a ReplicaSet may be
// synced before that ReplicaSet is in the cache, in kube-controller-manager
// as here, and the Deployment then gets a ReplicaSet of its own instead.
func (l *lab) waitForCachedReplicaSet(rs *appsv1.ReplicaSet) {
	l.t.Helper()
	l.waitFor("ReplicaSet "+rs.Name+" in the controller's cache", func() (bool, string) {
		cached, err := l.dc.replicaSets.ReplicaSets(rs.Namespace).Get(rs.Name)
		if err != nil {
			return false, err.Error()
		}
		return cached.UID == rs.UID, fmt.Sprintf("uid %s, want %s", cached.UID, rs.UID)
	})
}

func condition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) string {
	c := getCondition(d.Status, t)
	if c == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s %s %s", c.Status, c.Reason, c.Message)
}

// kubectl runs the kubectl on PATH against the lab. The tests that use it
// also check the same facts through the API, so they say something even
// where kubectl is missing; ok is false then.
func (l *lab) kubectl(args ...string) (out string, ok bool) {
	l.t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		l.t.Logf("no kubectl on PATH: not running kubectl %s", strings.Join(args, " "))
		return "", false
	}
	kubeconfig := filepath.Join(l.dir, "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: l.srv.URL(), CertificateAuthorityData: l.srv.CAPEM()}
	cfg.AuthInfos["lab"] = &clientcmdapi.AuthInfo{Token: l.srv.Token()}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: "lab", Namespace: ns}
	cfg.CurrentContext = "lab"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(l.dir, "kubectl-cache")}, args...)...)
	cmd.Env = []string{"HOME=" + l.dir}
	data, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, data)
	}
	return string(data), true
}

// hashSuffix matches a pod-template-hash (rand.SafeEncodeString of a
// uint32 in decimal: up to 10 characters of its alphabet).
const hashSuffix = `[bcdfghjklmnpqrstvwxz2456789]{1,10}`

func mustMatch(t *testing.T, what, pattern, s string) {
	t.Helper()
	if !regexp.MustCompile(pattern).MatchString(s) {
		t.Fatalf("%s %q does not match %q", what, s, pattern)
	}
}
