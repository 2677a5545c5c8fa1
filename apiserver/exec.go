package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/minilab/minilab/apiserver/remotecommand"
)

// servePodExec answers /api/v1/namespaces/{ns}/pods/{name}/exec, kubectl
// exec: a POST upgraded to SPDY/3.1, or (kubectl 1.30 and newer) a GET
// upgraded to WebSocket. The checks before the upgrade are
// kube-apiserver's (ExecLocation): the pod exists, the container is one of
// its own, the pod is on a node. The pod's phase is not checked here;
// kubectl refuses completed pods itself, and the node answers for a
// container that is not running.
func (s *Server) servePodExec(w http.ResponseWriter, r *http.Request, namespace, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		methodNotAllowed(w, r, "exec", http.MethodGet, http.MethodPost)
		return
	}
	q := r.URL.Query()
	opts, err := podExecOptions(q)
	if err != nil {
		writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	pod, container, err := s.podContainer(namespace, name, q.Get("container"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	if pod.Spec.NodeName == "" {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", name)))
		return
	}
	rt, err := s.podRuntime()
	if err != nil {
		writeError(w, r, err)
		return
	}
	command := q["command"]
	run := func(ctx context.Context, streams remotecommand.Streams) (int, error) {
		return rt.Exec(ctx, namespace, name, container, command, execStreams(ctx, streams, opts.TTY))
	}
	if err := remotecommand.ServeExec(w, r, opts, run); err != nil {
		writeError(w, r, err)
	}
}

// podExecOptions reads the stream flags of PodExecOptions from the query
// (kubectl sends stdin=true&stdout=true&stderr=true&tty=true).
func podExecOptions(q url.Values) (remotecommand.Options, error) {
	var opts remotecommand.Options
	flags := map[string]*bool{"stdin": &opts.Stdin, "stdout": &opts.Stdout, "stderr": &opts.Stderr, "tty": &opts.TTY}
	for key, dst := range flags {
		if vals, ok := q[key]; ok {
			if err := runtime.Convert_Slice_string_To_bool(&vals, dst, nil); err != nil {
				return opts, err
			}
		}
	}
	return opts, nil
}

// execStreams hands the session's streams to the runtime.
func execStreams(ctx context.Context, in remotecommand.Streams, tty bool) ExecStreams {
	out := ExecStreams{Stdin: in.Stdin, Stdout: in.Stdout, Stderr: in.Stderr, TTY: tty}
	if in.Resize != nil {
		sizes := make(chan TerminalSize)
		go func() {
			defer close(sizes)
			for size := range in.Resize {
				select {
				case sizes <- TerminalSize{Width: size.Width, Height: size.Height}:
				case <-ctx.Done():
					return
				}
			}
		}()
		out.Resize = sizes
	}
	return out
}
