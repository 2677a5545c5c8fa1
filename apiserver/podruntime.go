package apiserver

import (
	"context"
	"io"
	"time"
)

// PodRuntime is the node side of the pods/log and pods/exec subresources:
// what kube-apiserver reaches the kubelet for. In minilab the node agents
// run in the same process, so the API server calls them directly; nil
// answers those subresources with an error (as for pods on a node without
// a kubelet).
type PodRuntime interface {
	// Logs writes a container's log to w: all of it, or what opts select;
	// with Follow it keeps writing until the container stops or ctx ends.
	// Errors are apierrors (e.g. NotFound for an unknown pod, BadRequest
	// for a container that does not exist or --previous without one).
	Logs(ctx context.Context, namespace, pod string, opts LogOptions, w io.Writer) error
	// Exec runs a command in a container's namespaces and returns its exit
	// code once it ends.
	Exec(ctx context.Context, namespace, pod, container string, command []string, streams ExecStreams) (exitCode int, err error)
}

// LogOptions are the query parameters of pods/log.
type LogOptions struct {
	Container    string
	Follow       bool
	Previous     bool
	Timestamps   bool
	TailLines    *int64
	SinceSeconds *int64
	SinceTime    *time.Time
	LimitBytes   *int64
}

// ExecStreams are the streams of an exec: any may be nil when the client
// did not ask for it. With TTY, Stderr is nil (a terminal merges it into
// Stdout) and Resize carries the terminal's size changes.
type ExecStreams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	TTY    bool
	Resize <-chan TerminalSize
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Width, Height uint16
}
