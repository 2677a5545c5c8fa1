package nodes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/minilab/minilab/internal/pty"
	"github.com/minilab/minilab/nodes/containerlogs"
)

// The kubelet's streaming side: what it serves to the API server for
// `kubectl logs` and `kubectl exec` (in Kubernetes over its port 10250,
// here by a direct call).

// ErrPodNotHere is returned for a pod this kubelet does not run.
var ErrPodNotHere = errors.New("the pod does not run on this node")

// ExecIO are the streams of an exec; any may be nil. With TTY, the command
// gets a terminal: Stdout carries what it prints on stdout and stderr, and
// Resize the terminal's size changes.
type ExecIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
	Resize         <-chan TerminalSize
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct{ Width, Height uint16 }

// worker finds the worker of a pod by name.
func (k *Kubelet) worker(namespace, name string) *podWorker {
	key := namespace + "/" + name
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, w := range k.workers {
		if w.key == key {
			return w
		}
	}
	return nil
}

// Logs writes a container's log for `kubectl logs`, read from the files
// its stdout and stderr were captured into.
func (k *Kubelet) Logs(ctx context.Context, namespace, pod, container string, opts containerlogs.ReadOptions, out io.Writer) error {
	w := k.worker(namespace, pod)
	if w == nil {
		return ErrPodNotHere
	}
	p := w.current()
	dir := w.logDir(p, container)
	if dir == "" {
		return fmt.Errorf("container %q in pod %q keeps no logs", container, pod)
	}
	// A follow ends when the instance it follows stops, as with the kubelet.
	inst := w.instance(container)
	opts.Done = func() bool {
		if inst == nil {
			return true
		}
		select {
		case <-inst.exited:
			return true
		default:
			return false
		}
	}
	opts.ContainerName, opts.PodName = container, pod
	return containerlogs.Read(ctx, dir, opts, out)
}

// Exec runs a command in a running container's namespaces (the pod's
// network, hostname and /etc files) with the container's environment and
// user, and returns its exit code: what `kubectl exec` gets from the
// container runtime. For toolbox images these are the host's tools.
func (k *Kubelet) Exec(ctx context.Context, namespace, pod, container string, argv []string, streams ExecIO) (int, error) {
	w := k.worker(namespace, pod)
	if w == nil {
		return -1, ErrPodNotHere
	}
	inst := w.instance(container)
	if inst == nil {
		return -1, fmt.Errorf("container not found (%q)", container)
	}
	if len(argv) == 0 {
		return -1, errors.New("no command given")
	}
	spec := w.containerSpec(container)
	env := inst.env
	if streams.TTY {
		env = append(append([]string(nil), env...), "TERM=xterm")
	}
	cmd, err := w.command(spec, env, argv)
	if err != nil {
		// What runc reports, and kubectl passes on with exit code 126/127.
		return -1, fmt.Errorf("OCI runtime exec failed: exec failed: unable to start container process: %v", err)
	}
	var tty *os.File
	if streams.TTY {
		master, slave, err := pty.Open()
		if err != nil {
			return -1, err
		}
		tty = master
		defer master.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		// The command leads a new session whose controlling terminal is
		// the pty, so a shell has job control and ^C reaches it.
		pty.Controlling(cmd.SysProcAttr)
		err = w.startCmd(cmd)
		slave.Close()
		if err != nil {
			return -1, err
		}
	} else {
		cmd.Stdout, cmd.Stderr = orDiscard(streams.Stdout), orDiscard(streams.Stderr)
		var stdin io.WriteCloser
		if streams.Stdin != nil {
			if stdin, err = cmd.StdinPipe(); err != nil {
				return -1, err
			}
		}
		cmd.SysProcAttr.Setpgid = true
		cmd.WaitDelay = time.Second
		if err := w.startCmd(cmd); err != nil {
			return -1, err
		}
		if stdin != nil {
			go func() {
				io.Copy(stdin, streams.Stdin)
				stdin.Close()
			}()
		}
	}

	var copies sync.WaitGroup
	stop := make(chan struct{})
	if tty != nil {
		if streams.Stdin != nil {
			go io.Copy(tty, streams.Stdin)
		}
		copies.Add(1)
		go func() {
			defer copies.Done()
			// Ends with EIO once the command and its children closed
			// the terminal.
			io.Copy(orDiscard(streams.Stdout), tty)
		}()
		if streams.Resize != nil {
			go func() {
				for {
					select {
					case size, ok := <-streams.Resize:
						if !ok {
							return
						}
						pty.SetSize(tty, size.Height, size.Width)
					case <-stop:
						return
					}
				}
			}()
		}
	}
	// The client going away ends the command, as a closed stream does.
	go func() {
		select {
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-stop:
		}
	}()
	err = cmd.Wait()
	if tty != nil {
		waitTimeout(&copies, time.Second)
	}
	close(stop)
	if cmd.ProcessState == nil {
		return -1, err
	}
	return exitOf(cmd, err).code, nil
}

// containerSpec is the spec of a container of the worker's pod.
func (w *podWorker) containerSpec(name string) (spec corev1.Container) {
	pod := w.current()
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	return spec
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}
