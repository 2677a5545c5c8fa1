package images

import (
	"context"
	"net"
)

// toolbox is an image that only stays running so that `kubectl exec` has a
// container to enter (busybox, alpine, curlimages/curl, nicolaka/netshoot,
// ...). The real ones would exit at once without a command; minilab keeps
// them up because that is what they are used for in a lab.
func toolbox(name string, repositories ...string) builtin {
	return builtin{
		repositories: repositories,
		names:        []string{name},
		build: func(string, []string) *Image {
			return &Image{Toolbox: true, Serve: serveNothing}
		},
	}
}

// pause is the kubelet's pod sandbox image: it sleeps until stopped. It has
// no shell, so it is not a toolbox.
func pause(string, []string) *Image {
	return &Image{Serve: serveNothing}
}

// serveNothing closes the sockets (nothing listens in the container) and
// blocks until ctx ends.
func serveNothing(ctx context.Context, pod Pod, listeners map[int32]net.Listener) error {
	return newRun(ctx, pod, listeners).wait()
}
