package main

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/minilab/minilab/apiserver"
	"github.com/minilab/minilab/nodes"
	"github.com/minilab/minilab/nodes/containerlogs"
)

// podRuntime connects the API server's pods/log and pods/exec to the
// kubelets, as kube-apiserver reaches the kubelet of the pod's node. The
// API server starts before the nodes, so the kubelets are added later.
type podRuntime struct {
	mu       sync.Mutex
	kubelets []*nodes.Kubelet
}

func (r *podRuntime) add(k *nodes.Kubelet) {
	r.mu.Lock()
	r.kubelets = append(r.kubelets, k)
	r.mu.Unlock()
}

// each tries fn on every kubelet until one runs the pod.
func (r *podRuntime) each(namespace, pod string, fn func(k *nodes.Kubelet) error) error {
	r.mu.Lock()
	ks := append([]*nodes.Kubelet(nil), r.kubelets...)
	r.mu.Unlock()
	for _, k := range ks {
		err := fn(k)
		if errors.Is(err, nodes.ErrPodNotHere) {
			continue
		}
		var status apierrors.APIStatus
		if err != nil && !errors.As(err, &status) {
			// The kubelet's errors reach kubectl as Bad Request.
			err = apierrors.NewBadRequest(err.Error())
		}
		return err
	}
	return apierrors.NewServiceUnavailable("the pod's node agent is not running (is the lab up? `minilab status`)")
}

func (r *podRuntime) Logs(ctx context.Context, namespace, pod string, opts apiserver.LogOptions, w io.Writer) error {
	ro := containerlogs.ReadOptions{
		Previous: opts.Previous, Follow: opts.Follow, Timestamps: opts.Timestamps,
		TailLines: opts.TailLines, SinceTime: opts.SinceTime, LimitBytes: opts.LimitBytes,
	}
	if opts.SinceSeconds != nil {
		t := time.Now().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
		ro.SinceTime = &t
	}
	return r.each(namespace, pod, func(k *nodes.Kubelet) error {
		return k.Logs(ctx, namespace, pod, opts.Container, ro, w)
	})
}

func (r *podRuntime) Exec(ctx context.Context, namespace, pod, container string, command []string, s apiserver.ExecStreams) (int, error) {
	io := nodes.ExecIO{Stdin: s.Stdin, Stdout: s.Stdout, Stderr: s.Stderr, TTY: s.TTY}
	if s.Resize != nil {
		sizes := make(chan nodes.TerminalSize)
		go func() {
			defer close(sizes)
			for size := range s.Resize {
				select {
				case sizes <- nodes.TerminalSize{Width: size.Width, Height: size.Height}:
				case <-ctx.Done():
					return
				}
			}
		}()
		io.Resize = sizes
	}
	code := -1
	err := r.each(namespace, pod, func(k *nodes.Kubelet) error {
		var err error
		code, err = k.Exec(ctx, namespace, pod, container, command, io)
		return err
	})
	return code, err
}
