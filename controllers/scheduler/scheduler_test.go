package scheduler

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/minilab/minilab/apiserver"
	"github.com/minilab/minilab/store"
)

// The integration test runs the real minilab API server in-process with
// only the scheduler. apiservertest.Start would also start the controller
// manager, which runs a scheduler too: two schedulers on the same pods is
// not something to test against.

type lab struct {
	t      *testing.T
	ctx    context.Context
	client kubernetes.Interface
	nodes  listersv1.NodeLister // the scheduler's own view of the nodes
}

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

	// Events reach the API as kube-scheduler's do, from "default-scheduler".
	events := record.NewBroadcaster()
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "default-scheduler"})

	runCtx, stop := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactory(client, 0)
	s := New(client, factory, recorder)
	nodes := factory.Core().V1().Nodes().Lister()
	factory.Start(runCtx.Done())
	factory.WaitForCacheSync(runCtx.Done())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		s.Run(runCtx)
	}()
	t.Cleanup(func() {
		stop()
		<-ran
		factory.Shutdown()
		events.Shutdown()
	})
	return &lab{t: t, ctx: runCtx, client: client, nodes: nodes}
}

func (l *lab) must(err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatal(err)
	}
}

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

func (l *lab) createPod(pod *corev1.Pod) {
	l.t.Helper()
	pod = pod.DeepCopy()
	pod.UID = ""
	_, err := l.client.CoreV1().Pods(pod.Namespace).Create(l.ctx, pod, metav1.CreateOptions{})
	l.must(err)
}

// waitForNode waits until the pod is bound and returns its node.
func (l *lab) waitForNode(name string) string {
	l.t.Helper()
	var node string
	l.eventually(func() string {
		pod, err := l.client.CoreV1().Pods("default").Get(l.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		node = pod.Spec.NodeName
		if node == "" {
			return fmt.Sprintf("pod %s was not scheduled (conditions %+v)", name, pod.Status.Conditions)
		}
		return ""
	})
	return node
}

// waitForEvent waits for an event about the pod with this reason and
// message, from default-scheduler.
func (l *lab) waitForEvent(pod, eventType, reason, message string) {
	l.t.Helper()
	l.eventually(func() string {
		list, err := l.client.CoreV1().Events("default").List(l.ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.InvolvedObject.Kind != "Pod" || e.InvolvedObject.Name != pod {
				continue
			}
			if e.Type == eventType && e.Reason == reason && e.Message == message && e.Source.Component == "default-scheduler" {
				return ""
			}
			seen = append(seen, fmt.Sprintf("%s %s %q from %s", e.Type, e.Reason, e.Message, e.Source.Component))
		}
		return fmt.Sprintf("no %s %s event %q for %s; saw %s", eventType, reason, message, pod, strings.Join(seen, "; "))
	})
}

func TestScheduling(t *testing.T) {
	l := startLab(t)
	for _, n := range labNodes(nil) {
		_, err := l.client.CoreV1().Nodes().Create(l.ctx, n, metav1.CreateOptions{})
		l.must(err)
	}
	// Spreading can only be judged once the scheduler's informer has seen
	// every node: with one worker in its cache both replicas rightly go there.
	l.eventually(func() string {
		seen, _ := l.nodes.List(labels.Everything())
		if len(seen) != len(labNodes(nil)) {
			return fmt.Sprintf("the scheduler sees %d nodes, want %d", len(seen), len(labNodes(nil)))
		}
		return ""
	})

	// Replicas of one ReplicaSet spread over both workers, never onto
	// the tainted control plane.
	for i := 1; i <= 4; i++ {
		l.createPod(unitPod(fmt.Sprintf("web-%d", i), "", "web-5d4f8"))
		if i == 2 {
			got := []string{l.waitForNode("web-1"), l.waitForNode("web-2")}
			sort.Strings(got)
			if got[0] != worker || got[1] != worker2 {
				t.Errorf("two replicas went to %v, want one on each worker", got)
			}
		}
	}
	perNode := map[string]int{}
	for i := 1; i <= 4; i++ {
		perNode[l.waitForNode(fmt.Sprintf("web-%d", i))]++
	}
	if perNode[worker] != 2 || perNode[worker2] != 2 {
		t.Errorf("four replicas per node: %v", perNode)
	}
	node := l.waitForNode("web-1")
	l.waitForEvent("web-1", corev1.EventTypeNormal, "Scheduled", "Successfully assigned default/web-1 to "+node)
	pod, err := l.client.CoreV1().Pods("default").Get(l.ctx, "web-1", metav1.GetOptions{})
	l.must(err)
	if !hasCondition(pod, corev1.PodScheduled, corev1.ConditionTrue, "", "") {
		t.Errorf("a bound pod's conditions: %+v", pod.Status.Conditions)
	}

	// nodeSelector is honoured.
	l.createPod(unitPod("pinned", "", "", withSelector(map[string]string{corev1.LabelHostname: worker2})))
	if got := l.waitForNode("pinned"); got != worker2 {
		t.Errorf("pinned went to %s, want %s", got, worker2)
	}

	// Nothing fits: FailedScheduling and PodScheduled=False; a node that
	// starts to fit gets the pod.
	l.createPod(unitPod("wants-ssd", "", "", withSelector(map[string]string{"disktype": "ssd"})))
	msg := "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
	l.waitForEvent("wants-ssd", corev1.EventTypeWarning, "FailedScheduling", msg)
	l.eventually(func() string {
		pod, err := l.client.CoreV1().Pods("default").Get(l.ctx, "wants-ssd", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if !hasCondition(pod, corev1.PodScheduled, corev1.ConditionFalse, corev1.PodReasonUnschedulable, msg) {
			return fmt.Sprintf("conditions of an unschedulable pod: %+v", pod.Status.Conditions)
		}
		return ""
	})
	n, err := l.client.CoreV1().Nodes().Get(l.ctx, worker, metav1.GetOptions{})
	l.must(err)
	n.Labels["disktype"] = "ssd"
	_, err = l.client.CoreV1().Nodes().Update(l.ctx, n, metav1.UpdateOptions{})
	l.must(err)
	if got := l.waitForNode("wants-ssd"); got != worker {
		t.Errorf("wants-ssd went to %s, want %s", got, worker)
	}

	// Pods placed by hand or meant for another scheduler are not touched.
	l.createPod(unitPod("by-hand", controlPlane, ""))
	l.createPod(unitPod("other-scheduler", "", "", func(p *corev1.Pod) { p.Spec.SchedulerName = "my-scheduler" }))
	l.createPod(unitPod("after", "", ""))
	l.waitForNode("after") // queued after the two above: they were seen
	for name, want := range map[string]string{"by-hand": controlPlane, "other-scheduler": ""} {
		pod, err := l.client.CoreV1().Pods("default").Get(l.ctx, name, metav1.GetOptions{})
		l.must(err)
		if pod.Spec.NodeName != want || len(pod.Status.Conditions) != 0 {
			t.Errorf("%s: nodeName %q conditions %+v, want %q and none", name, pod.Spec.NodeName, pod.Status.Conditions, want)
		}
	}
}

func hasCondition(pod *corev1.Pod, typ corev1.PodConditionType, status corev1.ConditionStatus, reason, message string) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ {
			return c.Status == status && c.Reason == reason && c.Message == message
		}
	}
	return false
}
