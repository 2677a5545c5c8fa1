package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/minilab/minilab/nodes"
)

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command inside a node or a pod (its network namespace)",
		ArgsUsage: "node/<node> | <pod> [-n <namespace>] -- COMMAND [ARGS...]",
		Description: "Examples:\n" +
			"  minilab exec node/minilab-worker -- iptables -t nat -L KUBE-SERVICES -n\n" +
			"  minilab exec node/worker -- curl -s 127.0.0.1:30080\n" +
			"  minilab exec hello-world-7d9f8-abcde -- curl -s 10.96.0.1:443",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Value: "default", Usage: "the pod's Kubernetes `NAMESPACE`"},
		},
		Action: func(c *cli.Context) error {
			name, dataDir, err := labDirs(c)
			if err != nil {
				return err
			}
			args := c.Args().Slice()
			if len(args) < 2 {
				return fmt.Errorf("usage: minilab exec node/<node> | <pod> [-n namespace] -- COMMAND [ARGS...]")
			}
			target, command := args[0], args[1:]
			if command[0] == "--" {
				command = command[1:]
			}
			if len(command) == 0 {
				return fmt.Errorf("no command given: minilab exec %s -- COMMAND", target)
			}
			netnsName, err := resolveTarget(name, target, c.String("namespace"))
			if err != nil {
				return err
			}
			// A pod's pause process holds its hostname and /etc files too:
			// enter all of its namespaces, as kubectl exec does.
			if pid, ok := nodes.PausePID(filepath.Join(dataDir, "sandboxes", netnsName)); ok {
				return execInPod(pid, command)
			}
			return execIn(netnsName, command)
		},
	}
}

// resolveTarget finds the network namespace of "node/<node>" (with or
// without the lab-name prefix) or of a pod.
func resolveTarget(lab, target, namespace string) (string, error) {
	cfg := nodes.DefaultConfig(lab)
	existing, _ := nodes.ListNamespaces()
	has := func(n string) bool {
		for _, e := range existing {
			if e == n {
				return true
			}
		}
		return false
	}
	if node, ok := strings.CutPrefix(target, "node/"); ok {
		for _, candidate := range []string{node, lab + "-" + node} {
			if cfg.OwnsNamespace(candidate) && has(candidate) && !strings.HasPrefix(candidate, lab+"-pod-") {
				return candidate, nil
			}
		}
		return "", fmt.Errorf("no node %q in lab %q (is it up? `minilab status`)", node, lab)
	}
	target = strings.TrimPrefix(target, "pod/")
	ns := cfg.PodNetns(namespace, target)
	if !has(ns) {
		return "", fmt.Errorf("no running pod %q in namespace %q of lab %q (see `kubectl get pods -n %s`)", target, namespace, lab, namespace)
	}
	return ns, nil
}

// execInPod replaces this process with nsenter, which enters the pod's
// network, UTS and mount namespaces (those of its pause process) and runs
// the command there.
func execInPod(pausePID int, command []string) error {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return fmt.Errorf("nsenter (util-linux) is needed to enter a pod: install it")
	}
	if _, err := exec.LookPath(command[0]); err != nil && !strings.Contains(command[0], "/") {
		return fmt.Errorf("%s: not found on this machine", command[0])
	}
	args := append([]string{"nsenter", "-t", strconv.Itoa(pausePID), "-n", "-u", "-m", "--"}, command...)
	return syscall.Exec(nsenter, args, os.Environ())
}

// execIn replaces this process with the command, inside the namespace.
func execIn(netnsName string, command []string) error {
	path, err := exec.LookPath(command[0])
	if err != nil {
		return fmt.Errorf("%s: not found on this machine", command[0])
	}
	runtime.LockOSThread()
	f, err := os.Open("/run/netns/" + netnsName)
	if err != nil {
		return err
	}
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering %s: %w", netnsName, err)
	}
	return syscall.Exec(path, command, os.Environ())
}
