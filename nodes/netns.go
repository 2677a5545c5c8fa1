package nodes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named network namespaces live, as `ip netns` keeps
// them: a bind mount of /proc/<pid>/ns/net per name, so that
// `ip netns exec minilab-worker ...` works from any shell.
const netnsDir = "/run/netns"

// Namespace is a named network namespace: a node or a pod.
type Namespace struct {
	Name   string
	handle netns.NsHandle
}

// Path is the namespace's file, e.g. /run/netns/minilab-worker.
func (n *Namespace) Path() string { return filepath.Join(netnsDir, n.Name) }

// Handle is the open namespace (for netlink handles and setns).
func (n *Namespace) Handle() netns.NsHandle { return n.handle }

// Close releases the handle (the namespace lives on while it is mounted).
func (n *Namespace) Close() error { return n.handle.Close() }

// Netlink returns a netlink handle that configures links, addresses and
// routes inside the namespace without entering it.
func (n *Namespace) Netlink() (*netlink.Handle, error) {
	return netlink.NewHandleAt(n.handle)
}

// Do runs fn on an OS thread that has entered the namespace. Sockets opened
// in fn stay in the namespace afterwards; processes started in fn (exec)
// inherit it, since Go forks from the calling thread. If the thread cannot
// be switched back it is not returned to the scheduler, so no other
// goroutine ever runs in the wrong namespace.
func (n *Namespace) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(n.handle); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering network namespace %s: %w", n.Name, err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		return errors.Join(fnErr, fmt.Errorf("leaving network namespace %s (thread retired): %w", n.Name, err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// CreateNamespace creates a named network namespace with its loopback up.
// An existing one of that name is an error: callers clean up first.
func CreateNamespace(name string) (*Namespace, error) {
	if err := ensureNetnsDir(); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	h, err := netns.NewNamed(name) // unshares this thread into it
	if err != nil {
		netns.Set(orig)
		return nil, fmt.Errorf("creating network namespace %s: %w", name, err)
	}
	if err := netns.Set(orig); err != nil {
		panic(fmt.Sprintf("cannot return to the original network namespace: %v", err))
	}
	ns := &Namespace{Name: name, handle: h}
	nl, err := ns.Netlink()
	if err != nil {
		DeleteNamespace(name)
		return nil, err
	}
	defer nl.Close()
	lo, err := nl.LinkByName("lo")
	if err == nil {
		err = nl.LinkSetUp(lo)
	}
	if err != nil {
		DeleteNamespace(name)
		return nil, fmt.Errorf("bringing up lo in %s: %w", name, err)
	}
	return ns, nil
}

// OpenNamespace opens an existing named network namespace.
func OpenNamespace(name string) (*Namespace, error) {
	h, err := netns.GetFromPath(filepath.Join(netnsDir, name))
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", name, err)
	}
	return &Namespace{Name: name, handle: h}, nil
}

// DeleteNamespace unmounts and removes a named network namespace. The
// kernel frees it (and the veth ends inside it) once nothing holds it.
func DeleteNamespace(name string) error {
	err := netns.DeleteNamed(name)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.EINVAL) {
		// not mounted: remove a leftover file if there is one
		if rmErr := os.Remove(filepath.Join(netnsDir, name)); rmErr != nil && !os.IsNotExist(rmErr) {
			return rmErr
		}
		return nil
	}
	return err
}

// ListNamespaces returns the names of the named network namespaces.
func ListNamespaces() ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out, err
}

// ensureNetnsDir makes /run/netns a shared mount point, as `ip netns add`
// does, so that namespace mounts propagate to other mount namespaces (the
// pods' own mount namespaces among them).
func ensureNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err == nil {
		return nil
	}
	if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making %s a mount point: %w", netnsDir, err)
	}
	return unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
}

// writeSysctl sets a sysctl in the calling thread's network namespace
// (call it inside Namespace.Do): "net/ipv4/ip_forward" → "1".
func writeSysctl(name, value string) error {
	return os.WriteFile(filepath.Join("/proc/sys", name), []byte(value), 0o644)
}
