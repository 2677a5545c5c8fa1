package nodes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/minilab/minilab/nodes/probes"
)

// podWorker owns one pod on one node, like the kubelet's pod workers: it
// acts on the latest version of the pod, one step at a time, and on what
// its containers do (exits, probe results).
type podWorker struct {
	k   *Kubelet
	key string // namespace/name

	mu       sync.Mutex
	latest   *corev1.Pod
	wake     chan struct{}
	stopping chan struct{}
	stopOnce sync.Once
	isGone   bool

	// What `kubectl exec` and `kubectl logs` read from other goroutines,
	// published by the worker under mu.
	running  map[string]*instance
	pausePid int

	events chan containerEvent
	done   chan struct{} // closed when run returns

	sandbox    *Sandbox
	pause      *Pause
	startedAt  metav1.Time
	containers map[string]*container
	retryAt    time.Time
	reported   *corev1.PodStatus
}

// containerEvent is something a container did: it exited, or a probe
// changed its mind.
type containerEvent struct {
	name  string
	inst  *instance
	exit  *exitResult
	probe *probes.Result
}

func newPodWorker(k *Kubelet, pod *corev1.Pod) *podWorker {
	return &podWorker{
		k: k, key: pod.Namespace + "/" + pod.Name,
		wake: make(chan struct{}, 1), stopping: make(chan struct{}),
		events:     make(chan containerEvent, 64),
		done:       make(chan struct{}),
		containers: map[string]*container{},
	}
}

func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	w.latest = pod
	w.mu.Unlock()
	w.poke()
}

func (w *podWorker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// gone: the pod left the API (force-deleted); stop and clean up.
func (w *podWorker) gone() {
	w.mu.Lock()
	w.isGone = true
	w.mu.Unlock()
	w.poke()
}

// shutdown: the lab stops; stop the pod but leave it in the API.
func (w *podWorker) shutdown() { w.stopOnce.Do(func() { close(w.stopping) }) }

// current returns the latest pod (for Exec and Logs).
func (w *podWorker) current() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest
}

// publish makes the running instances and the pause process visible to
// Exec and Logs.
func (w *podWorker) publish() {
	running := map[string]*instance{}
	for name, c := range w.containers {
		if c.inst != nil {
			running[name] = c.inst
		}
	}
	pid := 0
	if w.pause != nil {
		pid = w.pause.PID()
	}
	w.mu.Lock()
	w.running, w.pausePid = running, pid
	w.mu.Unlock()
}

// pausePID is the pid of the pod's pause process, 0 without one.
func (w *podWorker) pausePID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pausePid
}

// instance returns a container's running instance, if any.
func (w *podWorker) instance(name string) *instance {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running[name]
}

func (w *podWorker) run() {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-w.stopping:
			w.stopAll(nil, 0)
			w.removeSandbox()
			return
		case <-w.wake:
		case ev := <-w.events:
			w.handle(ev)
		case <-timer.C:
		}
		w.mu.Lock()
		pod, isGone := w.latest, w.isGone
		w.mu.Unlock()
		if isGone {
			w.stopAll(nil, 0)
			w.removeSandbox()
			return
		}
		if pod.DeletionTimestamp != nil {
			w.terminate(pod)
			return
		}
		w.sync(pod)
		next := w.nextWake()
		if !next.IsZero() {
			d := time.Until(next)
			if d < 0 {
				d = 0
			}
			timer.Reset(d)
		}
	}
}

// nextWake is the earliest time something is due: a retry or a restart.
func (w *podWorker) nextWake() time.Time {
	next := w.retryAt
	for _, c := range w.containers {
		if c.inst == nil && !c.finished && !c.nextStart.IsZero() && (next.IsZero() || c.nextStart.Before(next)) {
			next = c.nextStart
		}
	}
	return next
}

// sync brings the pod to running: sandbox, then containers, then status.
func (w *podWorker) sync(pod *corev1.Pod) {
	k := w.k
	if w.sandbox == nil {
		if !w.retryAt.IsZero() && time.Now().Before(w.retryAt) {
			return
		}
		ip, err := k.ipam.Allocate(w.key, podIPFromStatus(pod))
		if err == nil {
			w.sandbox, err = CreateSandbox(k.cfg, k.node, k.nodeNs, pod.Namespace, pod.Name, ip)
			if err != nil {
				k.ipam.Release(w.key)
			}
		}
		if err == nil {
			err = w.startPause(pod)
		}
		if err != nil {
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			w.removeSandbox()
			w.retryAt = time.Now().Add(2 * time.Second)
			return
		}
		w.startedAt = metav1.Now()
		w.publish()
	}
	w.retryAt = time.Time{}
	now := time.Now()
	for _, spec := range pod.Spec.Containers {
		c := w.containers[spec.Name]
		if c == nil {
			c = &container{spec: spec, name: spec.Name}
			w.containers[spec.Name] = c
		}
		if c.inst == nil && !c.finished && !now.Before(c.nextStart) {
			w.startContainer(pod, c)
		}
	}
	w.reportStatus(pod)
}

// handle applies a container event.
func (w *podWorker) handle(ev containerEvent) {
	c := w.containers[ev.name]
	if c == nil || c.inst != ev.inst {
		return // about an instance that is gone already
	}
	pod := w.current()
	switch {
	case ev.exit != nil:
		w.containerExited(pod, c, *ev.exit)
	case ev.probe != nil:
		w.probeResult(pod, c, *ev.probe)
	}
}

// containerExited records an exit and decides, by restartPolicy, whether
// and when the container starts again: at once the first time, then after
// 10 s, 20 s, 40 s ... up to 5 minutes (CrashLoopBackOff), the back-off
// starting afresh once a container ran for 10 minutes.
func (w *podWorker) containerExited(pod *corev1.Pod, c *container, ex exitResult) {
	inst := c.inst
	c.inst = nil
	c.ready = false
	w.publish()
	if inst.stopProbes != nil {
		inst.stopProbes()
	}
	if inst.logs != nil {
		inst.logs.Close()
	}
	term := &corev1.ContainerStateTerminated{
		ExitCode: int32(ex.code), Reason: ex.reason, Message: ex.message,
		StartedAt: metav1.NewTime(inst.startedAt), FinishedAt: metav1.Now(), ContainerID: inst.id,
	}
	c.state = corev1.ContainerState{Terminated: term}
	restart := false
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
	case corev1.RestartPolicyOnFailure:
		restart = ex.code != 0
	default:
		restart = true
	}
	if !restart {
		c.finished = true
		return
	}
	if time.Since(inst.startedAt) > 10*time.Minute {
		c.backoff = 0
	}
	c.lastState = c.state
	c.nextStart = time.Now().Add(c.backoff)
	if c.backoff > 0 {
		msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", c.backoff, c.name, pod.Name, pod.Namespace, pod.UID)
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}}
		w.k.recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.name, pod.Name, pod.Namespace, pod.UID)
	}
	switch {
	case c.backoff == 0:
		c.backoff = 10 * time.Second
	case c.backoff < 5*time.Minute:
		c.backoff *= 2
		if c.backoff > 5*time.Minute {
			c.backoff = 5 * time.Minute
		}
	}
}

// probeResult applies a probe's verdict: readiness sets the container's
// Ready, startup unlocks the other probes, liveness failure restarts it.
func (w *podWorker) probeResult(pod *corev1.Pod, c *container, r probes.Result) {
	k := w.k
	// The prober records an Unhealthy event for each failed attempt itself.
	switch r.Kind {
	case probes.Startup:
		c.started = r.Success
		if r.Success {
			c.ready = c.spec.ReadinessProbe == nil
		} else {
			k.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Container %s failed startup probe, will be restarted", c.name)
			w.kill(c.inst, killNow)
		}
	case probes.Readiness:
		c.ready = r.Success && c.started
	case probes.Liveness:
		if !r.Success && c.started {
			k.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Container %s failed liveness probe, will be restarted", c.name)
			grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
			if pod.Spec.TerminationGracePeriodSeconds != nil {
				grace = *pod.Spec.TerminationGracePeriodSeconds
			}
			if p := c.spec.LivenessProbe; p != nil && p.TerminationGracePeriodSeconds != nil {
				grace = *p.TerminationGracePeriodSeconds
			}
			w.kill(c.inst, time.Duration(grace)*time.Second)
		}
	}
}

// startPause writes the pod's /etc files and starts its pause process,
// which gives the pod its hostname and files (when the kubelet has a pause
// command; unit tests run without).
func (w *podWorker) startPause(pod *corev1.Pod) error {
	k := w.k
	if len(k.opts.PauseCommand) == 0 || k.opts.SandboxDir == "" {
		return nil
	}
	resolv, err := k.opts.DNS.ResolvConf(pod)
	if err != nil {
		return err
	}
	dir := filepath.Join(k.opts.SandboxDir, w.sandbox.Namespace.Name)
	if err := WriteSandboxFiles(dir, resolv, k.opts.DNS.HostsFile(pod, w.sandbox.IP.String()), PodHostname(pod)); err != nil {
		return err
	}
	w.pause, err = StartPause(w.sandbox, k.opts.PauseCommand, dir, PodHostname(pod))
	return err
}

// removeSandbox stops the pause process and removes the pod's namespace,
// files and address.
func (w *podWorker) removeSandbox() {
	if w.pause != nil {
		w.pause.Stop()
		os.RemoveAll(w.pause.Dir)
		w.pause = nil
	}
	if w.sandbox != nil {
		if err := w.sandbox.Delete(); err != nil {
			w.k.logf("pod %s: removing its sandbox: %v", w.key, err)
		}
		w.sandbox = nil
	}
	w.k.ipam.Release(w.key)
	w.publish()
}

// reportStatus writes the pod's status when it changed.
func (w *podWorker) reportStatus(pod *corev1.Pod) {
	k := w.k
	status := w.status(pod)
	if w.reported != nil && apiequality.Semantic.DeepEqual(*w.reported, status) {
		return
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := k.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != pod.UID || cur.DeletionTimestamp != nil {
			return nil
		}
		next := status
		next.Conditions = mergeConditions(cur.Status.Conditions, status.Conditions)
		next.QOSClass = cur.Status.QOSClass
		cur.Status = next
		_, err = k.client.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), cur, metav1.UpdateOptions{FieldManager: "kubelet"})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		k.logf("pod %s: status update: %v", w.key, err)
		return
	}
	w.reported = &status
}

// status computes the pod's phase, conditions and container statuses.
func (w *podWorker) status(pod *corev1.Pod) corev1.PodStatus {
	ip := ""
	if w.sandbox != nil {
		ip = w.sandbox.IP.String()
	}
	st := corev1.PodStatus{
		HostIP:    w.k.node.IP.String(),
		HostIPs:   []corev1.HostIP{{IP: w.k.node.IP.String()}},
		StartTime: &w.startedAt,
	}
	if ip != "" {
		st.PodIP, st.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	}
	allReady, running, waiting, failed := true, false, false, false
	var notReady []string
	for _, spec := range pod.Spec.Containers {
		c := w.containers[spec.Name]
		cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, ImageID: "minilab.builtin/" + spec.Image}
		if c != nil {
			cs.State, cs.LastTerminationState, cs.RestartCount = c.state, c.lastState, c.restarts
			cs.Ready = c.ready && c.inst != nil
			started := c.inst != nil && c.started
			cs.Started = &started
			if c.inst != nil {
				cs.ContainerID = c.inst.id
			} else if c.state.Terminated != nil {
				cs.ContainerID = c.state.Terminated.ContainerID
			}
			switch {
			case c.inst != nil:
				running = true
			case c.finished:
				failed = failed || c.state.Terminated != nil && c.state.Terminated.ExitCode != 0
			default:
				waiting = true
			}
		} else {
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
			waiting = true
		}
		if !cs.Ready {
			allReady = false
			notReady = append(notReady, spec.Name)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	// The kubelet's phase: Pending until every container started once,
	// Running while any runs or will be restarted, Succeeded or Failed when
	// all finished for good.
	switch {
	case running || (waiting && w.anyStarted()):
		st.Phase = corev1.PodRunning
	case waiting:
		st.Phase = corev1.PodPending
	case failed:
		st.Phase = corev1.PodFailed
	default:
		st.Phase = corev1.PodSucceeded
	}
	now := metav1.Now()
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now}
		if !ok {
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, reason, msg
		}
		return c
	}
	unready := fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		unready = ""
	}
	st.Conditions = []corev1.PodCondition{
		cond("PodReadyToStartContainers", w.sandbox != nil, "", ""),
		cond(corev1.PodInitialized, true, "", ""),
		cond(corev1.ContainersReady, allReady, reasonFor(st.Phase), unready),
		cond(corev1.PodReady, allReady, reasonFor(st.Phase), unready),
	}
	return st
}

func reasonFor(phase corev1.PodPhase) string {
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		return "PodCompleted"
	}
	return "ContainersNotReady"
}

func (w *podWorker) anyStarted() bool {
	for _, c := range w.containers {
		if c.inst != nil || c.restarts > 0 || c.lastState.Terminated != nil || c.state.Terminated != nil {
			return true
		}
	}
	return false
}

// mergeConditions keeps conditions the kubelet does not own (PodScheduled)
// and the transition times of conditions whose status did not change.
func mergeConditions(old, cur []corev1.PodCondition) []corev1.PodCondition {
	out := append([]corev1.PodCondition(nil), cur...)
	for i := range out {
		for _, o := range old {
			if o.Type == out[i].Type && o.Status == out[i].Status {
				out[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	for _, o := range old {
		found := false
		for _, c := range out {
			if c.Type == o.Type {
				found = true
			}
		}
		if !found {
			out = append(out, o)
		}
	}
	return out
}

// stopAll stops every running container within grace and waits for them.
// pod is nil when the lab goes down (no events then).
func (w *podWorker) stopAll(pod *corev1.Pod, grace time.Duration) {
	var insts []*instance
	for _, c := range w.containers {
		if c.inst == nil {
			continue
		}
		if pod != nil {
			w.k.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.name)
		}
		w.kill(c.inst, grace)
		insts = append(insts, c.inst)
	}
	for _, inst := range insts {
		select {
		case <-inst.exited:
		case <-time.After(grace + 5*time.Second):
		}
		if inst.stopProbes != nil {
			inst.stopProbes()
		}
		if inst.logs != nil {
			inst.logs.Close()
		}
	}
}

// terminate finishes a pod's deletion: containers stopped within the grace
// period (SIGTERM, then SIGKILL), the sandbox removed, then the final
// delete with grace period 0 that removes the pod from the API.
func (w *podWorker) terminate(pod *corev1.Pod) {
	grace := time.Duration(corev1.DefaultTerminationGracePeriodSeconds) * time.Second
	if pod.DeletionGracePeriodSeconds != nil {
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	} else if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	w.stopAll(pod, grace)
	w.removeSandbox()
	zero := int64(0)
	uid := pod.UID
	err := w.k.client.CoreV1().Pods(pod.Namespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !errors.Is(err, context.Canceled) {
		w.k.logf("pod %s: final delete: %v", w.key, err)
	}
}
