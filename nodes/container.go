package nodes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minilab/minilab/nodes/containerlogs"
	"github.com/minilab/minilab/nodes/envvars"
	"github.com/minilab/minilab/nodes/images"
	"github.com/minilab/minilab/nodes/probes"
)

// container is what the kubelet knows about one container of a pod across
// its restarts: the state kubectl shows, and the instance running now.
type container struct {
	spec      corev1.Container
	name      string
	state     corev1.ContainerState
	lastState corev1.ContainerState
	restarts  int32
	created   bool // an instance was created before
	ready     bool // readiness: the probe's verdict, or started without one
	started   bool // the startup probe succeeded (or there is none)
	inst      *instance
	nextStart time.Time     // not before: back-off after an exit or a failed pull
	backoff   time.Duration // the next CrashLoopBackOff delay
	pullTries int
	finished  bool // exited and restartPolicy says it stays so
}

// instance is one run of a container: a built-in image's server running
// in this process, or a program from the host running in the pod's
// namespaces. What a container runtime calls a container (one ID each).
type instance struct {
	id        string
	startedAt time.Time
	logs      *containerlogs.Writer
	env       []string // its environment, which `kubectl exec` gets too
	exited    chan struct{}

	stopProbes func()

	// A built-in image: cancel stops its server.
	cancel context.CancelFunc
	// A host program: its process (the leader of its process group).
	proc *os.Process

	killOnce sync.Once
	killed   chan struct{} // closed when kill was asked for
}

// exitResult is how an instance ended, as its Terminated state says.
type exitResult struct {
	code    int
	reason  string // Completed, Error, StartError
	message string
}

// killNow stops a container without grace, as when the lab goes down.
const killNow = time.Duration(0)

// builtinDrain is how long a built-in image's server keeps serving after it
// was told to stop (at most the grace period). Real servers usually exit on
// SIGTERM at once; a short drain lets connections already in flight finish
// while the endpoint, now terminating, leaves the proxy rules.
const builtinDrain = time.Second

// defaultPath is the PATH a container gets when its env sets none, as the
// usual images' config does.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// imagePullBackoff is the kubelet's image back-off: 10 s doubling to 5 min.
func imagePullBackoff(tries int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < tries && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// runsHostProgram says whether a container runs a program from the host
// rather than a built-in image's server. A command replaces the image's
// entrypoint, so with a command the program runs, as it would in the image
// (toolbox images have nothing but their shell and tools, so args alone run
// too). agnhost's command line is its own: the built-in implements it.
func runsHostProgram(spec corev1.Container, img *images.Image, found bool) bool {
	if found && strings.Contains(img.Name, "agnhost") {
		return false
	}
	switch {
	case !found:
		return len(spec.Command) > 0 || len(spec.Args) > 0
	case img.Toolbox:
		return len(spec.Command) > 0 || len(spec.Args) > 0
	default:
		return len(spec.Command) > 0
	}
}

// startContainer starts one instance of a container: the image is looked
// up (failing as an image pull would for an image minilab does not have),
// the environment is put together as the kubelet does, and the container
// runs with its stdout and stderr going to its log.
func (w *podWorker) startContainer(pod *corev1.Pod, c *container) {
	k := w.k
	spec := c.spec
	args := append(append([]string(nil), spec.Command...), spec.Args...)
	img, found := images.LookupWithArgs(spec.Image, args)
	host := runsHostProgram(spec, img, found)
	if !found && !host {
		w.pullFailed(pod, c)
		return
	}
	c.pullTries = 0

	env, err := envvars.Resolve(pod, &spec, w.serviceEnv(pod), envvars.Lookups{
		ConfigMap: k.configMap, NodeAllocatable: k.allocatable(),
		HostIP: k.node.IP.String(), PodIP: w.sandbox.IP.String(),
	})
	if err != nil {
		// The kubelet's CreateContainerConfigError, retried later.
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}}
		c.nextStart = time.Now().Add(10 * time.Second)
		return
	}
	env = withDefaults(env, PodHostname(pod))

	if found {
		k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", spec.Image)
	} else {
		k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q not pulled: minilab runs the container's command from the host", spec.Image)
	}
	// restartCount counts the instances created after the first, as the
	// kubelet's does: during a back-off it still shows the restarts so far.
	if c.created {
		c.restarts++
	}
	c.created = true
	inst := &instance{
		id:        containerID(pod, c.name, c.restarts),
		startedAt: time.Now(),
		env:       env,
		exited:    make(chan struct{}),
		killed:    make(chan struct{}),
	}
	if dir := w.logDir(pod, c.name); dir != "" {
		if inst.logs, err = containerlogs.NewWriter(dir, int(c.restarts), containerlogs.Options{}); err != nil {
			k.logf("pod %s container %s: log: %v", w.key, c.name, err)
		}
	}
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.name)
	if host {
		err = w.startProgram(pod, c, inst)
	} else {
		err = w.startBuiltin(pod, c, inst, img)
	}
	if err != nil {
		// The runtime could not start it: a StartError, as containerd's
		// "executable file not found", counted as an exit.
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		if inst.logs != nil {
			inst.logs.Close()
		}
		c.inst = inst
		close(inst.exited)
		w.containerExited(pod, c, exitResult{code: 128, reason: "StartError", message: err.Error()})
		return
	}
	c.inst = inst
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(inst.startedAt)}}
	c.started = spec.StartupProbe == nil
	c.ready = c.started && spec.ReadinessProbe == nil
	w.publish()
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.name)
	w.startProbes(pod, c, inst)
}

// pullFailed reports an image minilab does not have as the kubelet reports
// an image that cannot be pulled: ErrImagePull, then ImagePullBackOff with
// growing delays.
func (w *podWorker) pullFailed(pod *corev1.Pod, c *container) {
	k := w.k
	c.pullTries++
	msg := fmt.Sprintf("minilab has no container runtime and does not pull images; built-in images are: %s (or give the container a command: to run a program from the host)", strings.Join(images.Names(), ", "))
	reason := "ErrImagePull"
	if c.pullTries > 1 {
		reason = "ImagePullBackOff"
		k.recorder.Eventf(pod, corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.spec.Image)
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: ImagePullBackOff")
	} else {
		k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.spec.Image)
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %s", c.spec.Image, msg)
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: ErrImagePull")
	}
	c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
	c.nextStart = time.Now().Add(imagePullBackoff(c.pullTries))
}

// startBuiltin runs a built-in image's server with its sockets opened in
// the pod's network namespace, so it answers on the pod IP as the real
// container would.
func (w *podWorker) startBuiltin(pod *corev1.Pod, c *container, inst *instance, img *images.Image) error {
	envMap := map[string]string{}
	for _, kv := range inst.env {
		name, value, _ := strings.Cut(kv, "=")
		envMap[name] = value
	}
	var closers []io.Closer
	byPort := map[int32]net.Listener{}
	packets := map[int32]net.PacketConn{}
	err := w.sandbox.Namespace.Do(func() error {
		for _, p := range img.PortsFor(envMap) {
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
		for _, cl := range closers {
			cl.Close()
		}
		return err
	}
	var log io.Writer = io.Discard
	if inst.logs != nil {
		log = inst.logs.Stdout()
	}
	sandboxNs := w.sandbox.Namespace
	info := images.Pod{Name: PodHostname(pod), Namespace: pod.Namespace, IPs: []string{w.sandbox.IP.String()}, Env: envMap, Log: log,
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
	ctx, cancel := context.WithCancel(context.Background())
	inst.cancel = cancel
	go func() {
		err := img.Serve(ctx, info, byPort)
		ex := exitResult{code: 0, reason: "Completed"}
		var exitErr *images.ExitError
		switch {
		case ctx.Err() != nil:
			// Stopped by the kubelet: a process that does not handle
			// SIGTERM dies of it (128+15).
			ex = exitResult{code: 143, reason: "Error"}
		case errors.As(err, &exitErr) && exitErr.Code != 0:
			ex = exitResult{code: exitErr.Code, reason: "Error"}
		case err != nil && !errors.As(err, &exitErr):
			ex = exitResult{code: 1, reason: "Error", message: err.Error()}
		}
		cancel()
		w.instanceEnded(c.name, inst, ex)
	}()
	return nil
}

// startProgram runs the container's command from the host filesystem in
// the pod's namespaces: network, UTS (the pod's hostname) and mount (the
// pod's /etc/resolv.conf and /etc/hosts), all held by its pause process,
// with the container's environment, workingDir and user.
func (w *podWorker) startProgram(pod *corev1.Pod, c *container, inst *instance) error {
	command, args := envvars.ExpandCommandAndArgs(&c.spec, inst.env)
	argv := append(append([]string(nil), command...), args...)
	if len(argv) == 0 {
		return errors.New("the container has neither command nor args")
	}
	cmd, err := w.command(c.spec, inst.env, argv)
	if err != nil {
		return err
	}
	if inst.logs != nil {
		cmd.Stdout, cmd.Stderr = inst.logs.Stdout(), inst.logs.Stderr()
	}
	// Background processes that keep the log pipes open must not keep
	// the container "running" once its main process ended.
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr.Setpgid = true
	if err := w.startCmd(cmd); err != nil {
		return err
	}
	inst.proc = cmd.Process
	go func() {
		err := cmd.Wait()
		// When a container's main process ends, the runtime kills what
		// is left of it.
		syscall.Kill(-inst.proc.Pid, syscall.SIGKILL)
		w.instanceEnded(c.name, inst, exitOf(cmd, err))
	}()
	return nil
}

// exitOf turns a finished process into a Terminated state: its exit code,
// or 128+signal for a process killed by a signal, as container runtimes
// report them.
func exitOf(cmd *exec.Cmd, err error) exitResult {
	st := cmd.ProcessState
	if st == nil {
		return exitResult{code: 128, reason: "Error", message: fmt.Sprint(err)}
	}
	code := st.ExitCode()
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	if code == 0 {
		return exitResult{code: 0, reason: "Completed"}
	}
	return exitResult{code: code, reason: "Error"}
}

// command builds the process that runs argv in the pod's namespaces with
// nsenter (util-linux) entering the pause process's network, UTS and mount
// namespaces, as `kubectl exec` and host-program containers need. Without
// a pause process (unit tests), the process only joins the network
// namespace (see startCmd).
func (w *podWorker) command(spec corev1.Container, env []string, argv []string) (*exec.Cmd, error) {
	if _, err := lookPath(argv[0], env, spec.WorkingDir); err != nil {
		return nil, err
	}
	pid := w.pausePID()
	if pid == 0 {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env, cmd.Dir = env, spec.WorkingDir
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		return cmd, nil
	}
	nsenter := []string{"-t", strconv.Itoa(pid), "-n", "-u", "-m"}
	if spec.WorkingDir != "" {
		nsenter = append(nsenter, "--wd="+spec.WorkingDir)
	}
	if sc := spec.SecurityContext; sc != nil {
		if sc.RunAsGroup != nil {
			nsenter = append(nsenter, "-G", strconv.FormatInt(*sc.RunAsGroup, 10))
		}
		if sc.RunAsUser != nil {
			nsenter = append(nsenter, "-S", strconv.FormatInt(*sc.RunAsUser, 10))
		}
	}
	nsenter = append(append(nsenter, "--"), argv...)
	cmd := exec.Command(nsenterPath(), nsenter...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, nil
}

// startCmd starts a process built by command: from the pod's network
// namespace when there is no pause process to nsenter.
func (w *podWorker) startCmd(cmd *exec.Cmd) error {
	if w.pausePID() == 0 {
		return w.sandbox.Namespace.Do(cmd.Start)
	}
	return cmd.Start()
}

// nsenterPath finds nsenter once; the container's PATH may not have it.
var nsenterPath = sync.OnceValue(func() string {
	if p, err := exec.LookPath("nsenter"); err == nil {
		return p
	}
	return "/usr/bin/nsenter"
})

// lookPath checks that the program exists before the process is started,
// so a missing one gives the runtime's error rather than nsenter's.
func lookPath(file string, env []string, dir string) (string, error) {
	notFound := fmt.Errorf("exec: %q: executable file not found in $PATH", file)
	executable := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
	}
	if strings.Contains(file, "/") {
		p := file
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		if executable(p) {
			return file, nil
		}
		return "", fmt.Errorf("exec: %q: no such file or directory", file)
	}
	path := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		if executable(filepath.Join(d, file)) {
			return filepath.Join(d, file), nil
		}
	}
	return "", notFound
}

// withDefaults adds what a container runtime puts in every container's
// environment (PATH from the image, HOSTNAME, HOME) under the container's
// own variables.
func withDefaults(env []string, hostname string) []string {
	has := map[string]bool{}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		has[name] = true
	}
	var out []string
	for _, d := range [][2]string{{"PATH", defaultPath}, {"HOSTNAME", hostname}, {"HOME", "/root"}} {
		if !has[d[0]] {
			out = append(out, d[0]+"="+d[1])
		}
	}
	return append(out, env...)
}

// instanceEnded reports an instance's end to the pod worker.
func (w *podWorker) instanceEnded(name string, inst *instance, ex exitResult) {
	close(inst.exited)
	select {
	case w.events <- containerEvent{name: name, inst: inst, exit: &ex}:
	case <-w.done:
	}
}

// kill stops an instance: SIGTERM to a host program's process group, then
// SIGKILL when the grace period is over; a built-in image's server drains
// briefly, then stops. It returns at once; the instance's end arrives as an
// event.
func (w *podWorker) kill(inst *instance, grace time.Duration) {
	inst.killOnce.Do(func() {
		close(inst.killed)
		go func() {
			if inst.cancel != nil {
				select {
				case <-time.After(min(grace, builtinDrain)):
				case <-inst.exited:
				}
				inst.cancel()
				return
			}
			if inst.proc == nil {
				return
			}
			// SIGTERM goes to the container's main process only, as
			// container runtimes send it to PID 1; what it started is
			// killed with it when it ends, or at the grace period's end.
			inst.proc.Signal(syscall.SIGTERM)
			select {
			case <-time.After(grace):
				syscall.Kill(-inst.proc.Pid, syscall.SIGKILL)
			case <-inst.exited:
			}
		}()
	})
}

// startProbes starts the container's probes, run from the node as the
// kubelet's prober does; their verdicts come back as events.
func (w *podWorker) startProbes(pod *corev1.Pod, c *container, inst *instance) {
	spec := c.spec
	if spec.ReadinessProbe == nil && spec.LivenessProbe == nil && spec.StartupProbe == nil {
		return
	}
	k := w.k
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan probes.Result, 8)
	nodeNs := k.nodeNs
	target := probes.Target{
		PodIP: w.sandbox.IP.String(),
		Dial: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			err = nodeNs.Do(func() error {
				var d net.Dialer
				conn, err = d.DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		},
		Exec: func(ctx context.Context, command []string) (int, string, error) {
			return w.execCapture(ctx, spec, inst.env, command)
		},
		Event: func(eventType, reason, message string) {
			k.recorder.Event(pod, eventType, reason, message)
		},
	}
	stop := probes.StartContainer(ctx, &spec, target, results)
	inst.stopProbes = func() { cancel(); stop() }
	go func() {
		for {
			select {
			case r := <-results:
				select {
				case w.events <- containerEvent{name: c.name, inst: inst, probe: &r}:
				case <-ctx.Done():
					return
				case <-w.done:
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
}

// execCapture runs a command in the container and returns its exit code
// and output, for exec probes.
func (w *podWorker) execCapture(ctx context.Context, spec corev1.Container, env []string, argv []string) (int, string, error) {
	if len(argv) == 0 {
		return -1, "", errors.New("no command")
	}
	cmd, err := w.command(spec, env, argv)
	if err != nil {
		return -1, "", err
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr.Setpgid = true
	if err := w.startCmd(cmd); err != nil {
		return -1, "", err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	if ctx.Err() != nil {
		return -1, out.String(), ctx.Err()
	}
	if cmd.ProcessState == nil {
		return -1, out.String(), err
	}
	return exitOf(cmd, err).code, out.String(), nil
}

// logDir is where a container's logs go, as the kubelet keeps them:
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restartCount>.log.
func (w *podWorker) logDir(pod *corev1.Pod, name string) string {
	if w.k.logDir == "" {
		return ""
	}
	return filepath.Join(w.k.logDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), name)
}

// containerID names an instance as a runtime would: a 64-hex-digit ID.
func containerID(pod *corev1.Pod, name string, restarts int32) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d/%d", pod.UID, name, restarts, time.Now().UnixNano())))
	return "minilab://" + hex.EncodeToString(sum[:])
}
