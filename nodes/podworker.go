package nodes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/minilab/minilab/nodes/images"
)

// podWorker owns one pod on one node, like the kubelet's pod workers: it
// acts on the latest version of the pod, one step at a time.
type podWorker struct {
	k   *Kubelet
	key string // namespace/name

	mu       sync.Mutex
	latest   *corev1.Pod
	wake     chan struct{}
	stopping chan struct{}
	stopOnce sync.Once
	isGone   bool

	sandbox    *Sandbox
	pause      *Pause
	startedAt  metav1.Time
	containers map[string]*container
	retryAt    time.Time
}

// container is one running (or waiting) container.
type container struct {
	name      string
	image     string
	state     corev1.ContainerState
	ready     bool
	cancel    context.CancelFunc
	done      chan struct{}
	listeners []io.Closer
	log       *os.File
	pullTries int
}

func newPodWorker(k *Kubelet, pod *corev1.Pod) *podWorker {
	return &podWorker{
		k: k, key: pod.Namespace + "/" + pod.Name,
		wake: make(chan struct{}, 1), stopping: make(chan struct{}),
		containers: map[string]*container{},
	}
}

func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	w.latest = pod
	w.mu.Unlock()
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
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// shutdown: the lab stops; stop the pod but leave it in the API.
func (w *podWorker) shutdown() { w.stopOnce.Do(func() { close(w.stopping) }) }

func (w *podWorker) run() {
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-w.stopping:
			w.teardown()
			return
		case <-w.wake:
		case <-retry.C:
		}
		w.mu.Lock()
		pod, isGone := w.latest, w.isGone
		w.mu.Unlock()
		if isGone {
			w.teardown()
			return
		}
		if pod.DeletionTimestamp != nil {
			w.terminate(pod)
			return
		}
		w.sync(pod)
		if !w.retryAt.IsZero() {
			retry.Reset(time.Until(w.retryAt))
		}
	}
}

// sync brings the pod to running: sandbox, then containers, then status.
func (w *podWorker) sync(pod *corev1.Pod) {
	k := w.k
	if w.sandbox == nil {
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
	}
	w.retryAt = time.Time{}
	for _, c := range pod.Spec.Containers {
		w.startContainer(pod, c)
	}
	w.reportStatus(pod)
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
}

// imagePullBackoff is the kubelet's image back-off: 10 s doubling to 5 min.
func imagePullBackoff(tries int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < tries && d < 5*time.Minute; i++ {
		d *= 2
	}
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	return d
}

// startContainer starts a container unless it runs; for an unknown image it
// fails as an image pull would, and tries again with back-off.
func (w *podWorker) startContainer(pod *corev1.Pod, spec corev1.Container) {
	k := w.k
	c := w.containers[spec.Name]
	if c == nil {
		c = &container{name: spec.Name, image: spec.Image}
		w.containers[spec.Name] = c
	}
	if c.state.Running != nil {
		return
	}
	if c.state.Waiting != nil && c.pullTries > 0 && time.Now().Before(w.retryAt) {
		return
	}
	args := append(append([]string(nil), spec.Command...), spec.Args...)
	img, ok := images.LookupWithArgs(spec.Image, args)
	if !ok {
		c.pullTries++
		reason, msg := "ErrImagePull", fmt.Sprintf("minilab has no container runtime and does not pull images; built-in images are: %s", strings.Join(images.Names(), ", "))
		if len(spec.Command) > 0 {
			reason, msg = "CreateContainerError", "running programs from the host (command:) is not supported yet; use a built-in image: "+strings.Join(images.Names(), ", ")
		}
		if c.pullTries > 1 && reason == "ErrImagePull" {
			reason = "ImagePullBackOff"
			k.recorder.Eventf(pod, corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", spec.Image)
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: ImagePullBackOff")
		} else if reason == "ErrImagePull" {
			k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", spec.Image)
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %s", spec.Image, msg)
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: ErrImagePull")
		} else {
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", msg)
		}
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
		w.retryAt = time.Now().Add(imagePullBackoff(c.pullTries))
		return
	}
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", spec.Image)
	env := map[string]string{}
	for _, e := range spec.Env {
		env[e.Name] = e.Value
	}
	// The image's sockets are opened inside the pod's namespace, so its
	// server answers on the pod IP as the real container would.
	var closers []io.Closer
	byPort := map[int32]net.Listener{}
	packets := map[int32]net.PacketConn{}
	err := w.sandbox.Namespace.Do(func() error {
		for _, p := range img.PortsFor(env) {
			addr := ":" + strconv.Itoa(int(p.Port))
			if strings.EqualFold(p.Protocol, "UDP") {
				pc, err := net.ListenPacket("udp4", addr)
				if err != nil {
					return fmt.Errorf("listening on port %d/UDP: %w", p.Port, err)
				}
				closers = append(closers, pc)
				packets[p.Port] = pc
				continue
			}
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				return fmt.Errorf("listening on port %d: %w", p.Port, err)
			}
			closers = append(closers, l)
			byPort[p.Port] = l
		}
		return nil
	})
	if err != nil {
		for _, c := range closers {
			c.Close()
		}
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}}
		w.retryAt = time.Now().Add(5 * time.Second)
		return
	}
	logFile := w.openLog(pod, spec.Name)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done, c.listeners, c.log = cancel, make(chan struct{}), closers, logFile
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	c.ready = true
	c.pullTries = 0
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", spec.Name)
	var logW io.Writer = io.Discard
	if logFile != nil {
		logW = logFile
	}
	sandboxNs := w.sandbox.Namespace
	info := images.Pod{Name: PodHostname(pod), Namespace: pod.Namespace, IPs: []string{w.sandbox.IP.String()}, Env: env, Log: logW,
		PacketConns: packets,
		// Outgoing connections (netexec's /dial) leave from the pod.
		Dial: func(ctx context.Context, network, address string) (conn net.Conn, err error) {
			err = sandboxNs.Do(func() error {
				var d net.Dialer
				conn, err = d.DialContext(ctx, network, address)
				return err
			})
			return conn, err
		},
	}
	go func() {
		defer close(c.done)
		if err := img.Serve(ctx, info, byPort); err != nil && ctx.Err() == nil {
			k.logf("pod %s container %s: %v", w.key, spec.Name, err)
		}
	}()
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", spec.Name)
}

// openLog opens the container's log file, as the kubelet keeps them under
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/0.log.
func (w *podWorker) openLog(pod *corev1.Pod, container string) *os.File {
	if w.k.logDir == "" {
		return nil
	}
	dir := filepath.Join(w.k.logDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), container)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(dir, "0.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil
	}
	return f
}

// reportStatus writes the pod's status as the kubelet computes it.
func (w *podWorker) reportStatus(pod *corev1.Pod) {
	k := w.k
	status := w.status(pod)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := k.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != pod.UID || cur.DeletionTimestamp != nil {
			return nil
		}
		// Keep the scheduler's condition and transition times that did not change.
		status.Conditions = mergeConditions(cur.Status.Conditions, status.Conditions)
		status.QOSClass = cur.Status.QOSClass
		cur.Status = status
		_, err = k.client.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), cur, metav1.UpdateOptions{FieldManager: "kubelet"})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		k.logf("pod %s: status update: %v", w.key, err)
	}
}

// status computes the pod's phase, conditions and container statuses.
func (w *podWorker) status(pod *corev1.Pod) corev1.PodStatus {
	ip := w.sandbox.IP.String()
	st := corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    w.k.node.IP.String(),
		HostIPs:   []corev1.HostIP{{IP: w.k.node.IP.String()}},
		PodIP:     ip,
		PodIPs:    []corev1.PodIP{{IP: ip}},
		StartTime: &w.startedAt,
	}
	allReady := true
	var notReady []string
	for _, spec := range pod.Spec.Containers {
		c := w.containers[spec.Name]
		cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, ImageID: "minilab.builtin/" + spec.Image}
		if c != nil {
			cs.State = c.state
			cs.Ready = c.ready
			started := c.state.Running != nil
			cs.Started = &started
			if c.state.Running != nil {
				cs.ContainerID = "minilab://" + machineID(string(pod.UID) + "/" + spec.Name)[:32]
			}
		}
		if !cs.Ready {
			allReady = false
			notReady = append(notReady, spec.Name)
			if cs.State.Running == nil {
				st.Phase = corev1.PodPending
			}
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
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
	st.Conditions = []corev1.PodCondition{
		cond("PodReadyToStartContainers", true, "", ""),
		cond(corev1.PodInitialized, true, "", ""),
		cond(corev1.ContainersReady, allReady, "ContainersNotReady", unready),
		cond(corev1.PodReady, allReady, "ContainersNotReady", unready),
	}
	return st
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

// stopContainers stops every container, with a Killing event when the pod
// is being deleted.
func (w *podWorker) stopContainers(pod *corev1.Pod) {
	for _, c := range w.containers {
		if c.cancel == nil {
			continue
		}
		if pod != nil {
			w.k.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.name)
		}
		c.cancel()
		for _, l := range c.listeners {
			l.Close()
		}
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
		}
		if c.log != nil {
			c.log.Close()
		}
		c.cancel = nil
	}
}

// teardown stops the pod and removes its sandbox.
func (w *podWorker) teardown() {
	w.stopContainers(nil)
	w.removeSandbox()
}

// terminate finishes a pod's deletion: containers stopped, sandbox gone,
// then the final delete with grace period 0 that removes it from the API.
func (w *podWorker) terminate(pod *corev1.Pod) {
	w.stopContainers(pod)
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
