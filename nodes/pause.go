package nodes

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Pause is a pod's "pause container": a small minilab process that lives
// in the pod's network namespace and in a UTS and a mount namespace of its
// own, where the hostname is the pod's and /etc/resolv.conf, /etc/hosts and
// /etc/hostname are the pod's files (as the kubelet bind-mounts them into
// containers). It holds those namespaces while the pod runs; `minilab exec`
// and host-program containers enter them with nsenter.
type Pause struct {
	Dir string // the pod's sandbox directory (its /etc files and pause.pid)
	cmd *exec.Cmd
}

// PID is the pause process's pid, the one to nsenter.
func (p *Pause) PID() int { return p.cmd.Process.Pid }

// WriteSandboxFiles writes the pod's /etc files into dir.
func WriteSandboxFiles(dir, resolvConf, hosts, hostname string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, content := range map[string]string{"resolv.conf": resolvConf, "hosts": hosts, "hostname": hostname + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// StartPause starts the pause process of a pod inside its network
// namespace, with new UTS and mount namespaces (the kernel makes them as it
// forks), and waits until it has set them up. command is how to run
// `minilab pause` (the minilab binary and the subcommand).
func StartPause(sb *Sandbox, command []string, dir, hostname string) (*Pause, error) {
	args := append(append([]string(nil), command[1:]...), "--hostname", hostname, "--dir", dir)
	cmd := exec.Command(command[0], args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUTS | syscall.CLONE_NEWNS,
		// If minilab dies, its pause processes go with it.
		Pdeathsig: syscall.SIGKILL,
		Setpgid:   true,
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	// Forked from a thread inside the pod's network namespace, the child
	// starts there.
	if err := sb.Namespace.Do(cmd.Start); err != nil {
		return nil, fmt.Errorf("starting the pause process: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("unexpected %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("pause process: %v: %s", err, strings.TrimSpace(stderr.String()))
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("pause process did not start: %s", strings.TrimSpace(stderr.String()))
	}
	if err := os.WriteFile(filepath.Join(dir, "pause.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	return &Pause{Dir: dir, cmd: cmd}, nil
}

// Stop ends the pause process (the namespaces go once nothing else is in
// them) and removes its pid file.
func (p *Pause) Stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		p.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	os.Remove(filepath.Join(p.Dir, "pause.pid"))
}

// PausePID returns the pid of the pause process of the pod whose sandbox
// directory is dir, if it runs.
func PausePID(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "pause.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !strings.Contains(string(cmdline), "\x00pause\x00") {
		return 0, false
	}
	return pid, true
}

// RunPause is the pause process itself (`minilab pause`): it sets the
// hostname, bind-mounts the pod's /etc files, says "ready" and waits for
// SIGTERM. Its mount changes stay inside its own mount namespace.
func RunPause(hostname, dir string) error {
	if err := unix.Sethostname([]byte(hostname)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	for _, name := range []string{"resolv.conf", "hosts", "hostname"} {
		target := "/etc/" + name
		if _, err := os.Stat(target); err != nil {
			continue // the host has no such file to cover
		}
		if err := unix.Mount(filepath.Join(dir, name), target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("mounting %s: %w", target, err)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("ready")
	<-sig
	return nil
}
