package apiserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/minilab/minilab/apiserver"
	"github.com/minilab/minilab/internal/pty"
)

// fakeRuntime is a PodRuntime for tests. Every container's log is five
// fixed lines; exec runs the command on this machine with os/exec, with
// CONTAINER set to the container's name, under a pseudo-terminal for tty.
type fakeRuntime struct {
	// resized receives every terminal size a TTY exec is given.
	resized chan apiserver.TerminalSize
	// release lets the log of the pod "slow" go on past its first line.
	release chan struct{}
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{resized: make(chan apiserver.TerminalSize, 16), release: make(chan struct{})}
}

// logStart is the time of the first log line.
var logStart = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func logLine(container string, i int) (ts time.Time, text string) {
	return logStart.Add(time.Duration(i) * time.Second), fmt.Sprintf("%s line %d\n", container, i)
}

func (f *fakeRuntime) Logs(ctx context.Context, namespace, pod string, opts apiserver.LogOptions, w io.Writer) error {
	if pod == "waiting" {
		// The kubelet's answer for a container that has not started.
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", opts.Container, pod))
	}
	first := 1
	if opts.TailLines != nil {
		first = max(1, 6-int(*opts.TailLines))
	}
	write := func(i int) {
		ts, text := logLine(opts.Container, i)
		if opts.Timestamps {
			text = ts.Format(time.RFC3339Nano) + " " + text
		}
		io.WriteString(w, text)
	}
	for i := first; i <= 5; i++ {
		write(i)
		if pod == "slow" && i == first {
			select {
			case <-f.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if opts.Follow {
		// The container writes three more lines, then ends.
		for i := 6; i <= 8; i++ {
			time.Sleep(20 * time.Millisecond)
			write(i)
		}
	}
	return nil
}

func (f *fakeRuntime) Exec(ctx context.Context, namespace, pod, container string, command []string, streams apiserver.ExecStreams) (int, error) {
	if len(command) == 0 {
		return 0, apierrors.NewBadRequest("no command")
	}
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Env = append(os.Environ(), "CONTAINER="+container)
	var err error
	if streams.TTY {
		err = f.runInTerminal(cmd, streams)
	} else {
		err = run(cmd, streams)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), nil
	}
	return 0, err
}

// run runs cmd with the exec's streams as its own.
func run(cmd *exec.Cmd, streams apiserver.ExecStreams) error {
	cmd.Stdout, cmd.Stderr = streams.Stdout, streams.Stderr
	if streams.Stdin != nil {
		in, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		go func() {
			io.Copy(in, streams.Stdin)
			in.Close()
		}()
	}
	return cmd.Run()
}

// runInTerminal runs cmd on a terminal of its own, sized as the client's:
// it waits for the first size before it starts the command, and applies
// every later one.
func (f *fakeRuntime) runInTerminal(cmd *exec.Cmd, streams apiserver.ExecStreams) error {
	master, tty, err := pty.Open()
	if err != nil {
		return err
	}
	defer master.Close()
	resize := func(size apiserver.TerminalSize) {
		pty.SetSize(master, size.Height, size.Width)
		f.resized <- size
	}
	select {
	case size, ok := <-streams.Resize:
		if ok {
			resize(size)
		}
	case <-time.After(5 * time.Second):
	}
	go func() {
		for size := range streams.Resize {
			resize(size)
		}
	}()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = pty.Controlling(nil)
	err = cmd.Start()
	tty.Close()
	if err != nil {
		return err
	}
	if streams.Stdin != nil {
		go io.Copy(master, streams.Stdin)
	}
	output := make(chan struct{})
	go func() {
		defer close(output)
		io.Copy(streams.Stdout, master) // ends with EIO once the terminal has no process left
	}()
	err = cmd.Wait()
	select {
	case <-output:
	case <-time.After(5 * time.Second):
	}
	return err
}

// terminalOutput collects what a process writes to a terminal.
type terminalOutput struct {
	text chan string
	all  strings.Builder
}

func readTerminal(master *os.File) *terminalOutput {
	out := &terminalOutput{text: make(chan string, 64)}
	go func() {
		defer close(out.text)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				out.text <- string(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	return out
}

// waitFor reads until the output contains want.
func (o *terminalOutput) waitFor(want string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for !strings.Contains(o.all.String(), want) {
		select {
		case s, ok := <-o.text:
			if !ok {
				return fmt.Errorf("terminal closed before %q; output:\n%q", want, o.all.String())
			}
			o.all.WriteString(s)
		case <-deadline:
			return fmt.Errorf("no %q after %v; output:\n%q", want, timeout, o.all.String())
		}
	}
	return nil
}
