package scheduler

import (
	"context"
	"log"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

const (
	fieldManager = "kube-scheduler"
	// noNodesMessage is kube-scheduler's message when there is no node at all.
	noNodesMessage = "no nodes available to schedule pods"
	// unschedulableFlush is how long a pod that did not fit waits at most
	// before it is tried again even without a change (kube-scheduler's
	// podMaxInUnschedulablePodsDuration).
	unschedulableFlush = 5 * time.Minute

	preemptionNotHelpful = "Preemption is not helpful for scheduling"
	preemptionNoVictims  = "No preemption victims found for incoming pod"
)

// Scheduler is the scheduler. Its queue holds the keys (namespace/name)
// of pods waiting for a node; one pod is scheduled at a time.
type Scheduler struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	pods     listerscorev1.PodLister
	nodes    listerscorev1.NodeLister
	queue    workqueue.TypedRateLimitingInterface[string]

	mu sync.Mutex
	// unschedulable holds the pods that fit nowhere, until something in
	// the cluster changes.
	unschedulable map[string]bool
	// changes counts cluster changes, so that a pod that failed while one
	// happened is tried again at once instead of waiting for the next.
	changes uint64
	// assumed holds pods this scheduler bound that the informer does not
	// show on their node yet; they count as placed, or the next replica
	// would see the same empty node.
	assumed map[types.UID]*corev1.Pod
}

// New returns the scheduler with its informer handlers registered on
// factory; start the factory afterwards. recorder should report as
// "default-scheduler".
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Scheduler {
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()
	s := &Scheduler{
		client: client, recorder: recorder,
		pods: podInf.Lister(), nodes: nodeInf.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "scheduler"}),
		unschedulable: map[string]bool{},
		assumed:       map[types.UID]*corev1.Pod{},
	}
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onPodAdd,
		UpdateFunc: s.onPodUpdate,
		DeleteFunc: s.onPodDelete,
	})
	nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(interface{}) { s.clusterChanged() },
		UpdateFunc: func(old, obj interface{}) {
			if nodeChanged(old.(*corev1.Node), obj.(*corev1.Node)) {
				s.clusterChanged()
			}
		},
	})
	return s
}

// waiting says whether the pod is this scheduler's to place.
func waiting(pod *corev1.Pod) bool {
	return pod.Spec.NodeName == "" &&
		(pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == corev1.DefaultSchedulerName) &&
		pod.DeletionTimestamp == nil && !terminal(pod)
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func key(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func (s *Scheduler) onPodAdd(obj interface{}) {
	if pod := obj.(*corev1.Pod); waiting(pod) {
		s.queue.Add(key(pod))
	}
}

// onPodUpdate queues a waiting pod again only if its spec or labels
// changed: the scheduler's own status writes must not loop.
func (s *Scheduler) onPodUpdate(old, obj interface{}) {
	oldPod, pod := old.(*corev1.Pod), obj.(*corev1.Pod)
	if waiting(pod) && (!waiting(oldPod) || !apiequality.Semantic.DeepEqual(oldPod.Spec, pod.Spec) || !apiequality.Semantic.DeepEqual(oldPod.Labels, pod.Labels)) {
		s.queue.Add(key(pod))
	}
	if pod.Spec.NodeName != "" && !terminal(oldPod) && terminal(pod) {
		s.clusterChanged() // a finished pod frees its host ports
	}
}

func (s *Scheduler) onPodDelete(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s.mu.Lock()
	delete(s.unschedulable, key(pod))
	delete(s.assumed, pod.UID)
	s.mu.Unlock()
	if pod.Spec.NodeName != "" {
		s.clusterChanged()
	}
}

// nodeChanged says whether a node update can change where pods fit;
// status heartbeats alone cannot.
func nodeChanged(old, cur *corev1.Node) bool {
	return !apiequality.Semantic.DeepEqual(old.Labels, cur.Labels) ||
		!apiequality.Semantic.DeepEqual(old.Spec, cur.Spec) ||
		readyStatus(old) != readyStatus(cur)
}

// clusterChanged moves every unschedulable pod back to the queue.
func (s *Scheduler) clusterChanged() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes++
	for k := range s.unschedulable {
		s.queue.Add(k)
	}
	clear(s.unschedulable)
}

// Run schedules pods until ctx ends. Start it once the factory's
// informers have synced.
func (s *Scheduler) Run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.queue.ShutDown()
	}()
	for {
		k, quit := s.queue.Get()
		if quit {
			return
		}
		s.scheduleOne(ctx, k)
		s.queue.Done(k)
	}
}

// scheduleOne tries to place one pod.
func (s *Scheduler) scheduleOne(ctx context.Context, k string) {
	namespace, name, _ := cache.SplitMetaNamespaceKey(k)
	pod, err := s.pods.Pods(namespace).Get(name)
	if err != nil || !waiting(pod) || s.isAssumed(pod) {
		s.queue.Forget(k)
		return
	}
	s.mu.Lock()
	seen := s.changes
	s.mu.Unlock()

	node, msg := s.findNode(pod)
	if node == "" {
		s.failed(ctx, pod, msg, seen)
		return
	}
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	err = s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{FieldManager: fieldManager})
	switch {
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		// Bound by someone else, deleted or replaced meanwhile: the
		// informer will tell.
		s.queue.Forget(k)
		return
	case err != nil:
		if ctx.Err() == nil {
			log.Printf("scheduler: binding %s to %s: %v", k, node, err)
			s.queue.AddRateLimited(k)
		}
		return
	}
	s.queue.Forget(k)
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = node
	s.mu.Lock()
	s.assumed[pod.UID] = assumed
	s.mu.Unlock()
	s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
}

func (s *Scheduler) isAssumed(pod *corev1.Pod) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.assumed[pod.UID]
	return ok
}

// findNode returns the best node for the pod, or "" and why none fits.
func (s *Scheduler) findNode(pod *corev1.Pod) (string, string) {
	nodes, err := s.nodes.List(labels.Everything())
	if err != nil || len(nodes) == 0 {
		return "", noNodesMessage
	}
	reasons, preemption := map[string]int{}, map[string]int{}
	var feasible []*nodeInfo
	for _, info := range s.nodeInfos(nodes) {
		if reason, resolvable := runFilters(pod, info); reason != "" {
			reasons[reason]++
			if resolvable {
				preemption[preemptionNoVictims]++
			} else {
				preemption[preemptionNotHelpful]++
			}
			continue
		}
		feasible = append(feasible, info)
	}
	if len(feasible) == 0 {
		return "", fitError(len(nodes), reasons, preemption)
	}
	return pickNode(pod, feasible), ""
}

func runFilters(pod *corev1.Pod, info *nodeInfo) (string, bool) {
	for _, f := range filters {
		if reason, resolvable := f.check(pod, info); reason != "" {
			return reason, resolvable
		}
	}
	return "", false
}

// nodeInfos pairs each node (sorted by name) with the pods on it: those
// the informer shows there and those this scheduler just bound to it.
// Finished pods hold nothing and are left out.
func (s *Scheduler) nodeInfos(nodes []*corev1.Node) []*nodeInfo {
	byName := map[string]*nodeInfo{}
	infos := make([]*nodeInfo, 0, len(nodes))
	for _, n := range nodes {
		info := &nodeInfo{node: n}
		byName[n.Name] = info
		infos = append(infos, info)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].node.Name < infos[j].node.Name })

	pods, _ := s.pods.List(labels.Everything())
	s.mu.Lock()
	defer s.mu.Unlock()
	stillAssumed := map[types.UID]bool{}
	for _, pod := range pods {
		if terminal(pod) {
			continue
		}
		if assumed, ok := s.assumed[pod.UID]; ok && pod.Spec.NodeName == "" {
			pod = assumed
			stillAssumed[pod.UID] = true
		}
		if info := byName[pod.Spec.NodeName]; info != nil {
			info.pods = append(info.pods, pod)
		}
	}
	// Once the informer shows a bound pod on its node (or the pod is
	// gone), the scheduler no longer needs to remember it.
	for uid := range s.assumed {
		if !stillAssumed[uid] {
			delete(s.assumed, uid)
		}
	}
	return infos
}

// pickNode scores the feasible nodes: fewest pods with the same
// controller (the pod's ReplicaSet, StatefulSet, ...), then fewest pods,
// then name order. kube-scheduler's default spreading of replicas across
// nodes comes from PodTopologySpread; this is its simple cousin.
func pickNode(pod *corev1.Pod, feasible []*nodeInfo) string {
	owner := metav1.GetControllerOf(pod)
	type score struct {
		name             string
		sameOwner, total int
	}
	scores := make([]score, 0, len(feasible))
	for _, info := range feasible {
		sc := score{name: info.node.Name}
		for _, p := range info.pods {
			if p.DeletionTimestamp != nil {
				continue // on its way out
			}
			sc.total++
			if ref := metav1.GetControllerOf(p); owner != nil && ref != nil && ref.UID == owner.UID {
				sc.sameOwner++
			}
		}
		scores = append(scores, sc)
	}
	sort.Slice(scores, func(i, j int) bool {
		a, b := scores[i], scores[j]
		if a.sameOwner != b.sameOwner {
			return a.sameOwner < b.sameOwner
		}
		if a.total != b.total {
			return a.total < b.total
		}
		return a.name < b.name
	})
	return scores[0].name
}

// failed reports a pod that fits nowhere and parks it until the cluster
// changes.
func (s *Scheduler) failed(ctx context.Context, pod *corev1.Pod, msg string, seen uint64) {
	k := key(pod)
	s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
	s.setUnschedulable(ctx, pod, msg)
	s.queue.Forget(k)
	s.mu.Lock()
	changed := s.changes != seen
	if !changed {
		s.unschedulable[k] = true
	}
	s.mu.Unlock()
	if changed {
		s.queue.Add(k) // something changed while we looked: look again
		return
	}
	s.queue.AddAfter(k, unschedulableFlush)
}

// setUnschedulable sets the pod's PodScheduled condition to False with
// reason Unschedulable, which `kubectl describe pod` shows under
// Conditions.
func (s *Scheduler) setUnschedulable(ctx context.Context, pod *corev1.Pod, msg string) {
	want := corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: msg, LastTransitionTime: metav1.Now(),
	}
	pod = pod.DeepCopy()
	i := slices.IndexFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodScheduled })
	if i < 0 {
		pod.Status.Conditions = append(pod.Status.Conditions, want)
	} else {
		c := pod.Status.Conditions[i]
		if c.Status == want.Status && c.Reason == want.Reason && c.Message == want.Message {
			return // already says so
		}
		if c.Status == want.Status {
			want.LastTransitionTime = c.LastTransitionTime
		}
		pod.Status.Conditions[i] = want
	}
	_, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil && ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		log.Printf("scheduler: setting the PodScheduled condition of %s: %v", key(pod), err)
	}
}
