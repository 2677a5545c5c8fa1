package images

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
)

// Pod is what an image's server may know about its pod: what a container
// would see through its hostname, its interfaces and its environment.
type Pod struct {
	Name      string            // pod name = the container's hostname
	Namespace string            // the pod's namespace
	IPs       []string          // the pod's IPs (eth0), primary first
	Env       map[string]string // the container's environment (hello-app reads PORT)

	// Log receives what the container prints on stdout and stderr: the
	// image's start-up lines and its access log, as `kubectl logs` shows
	// them. nil discards them.
	Log io.Writer

	// PacketConns are the UDP sockets for the image's UDP ports (Port with
	// Protocol "UDP"), keyed by port number, opened like the TCP listeners.
	// A UDP port without a socket is simply not served. Serve closes them
	// when it returns.
	PacketConns map[int32]net.PacketConn

	// Dial opens connections from inside the pod's network namespace, for
	// images that connect out (agnhost netexec's /dial). nil means the image
	// cannot connect anywhere and reports an error instead.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Image is one built-in image, as resolved for one container (its tag and
// its command or args may change what it serves).
type Image struct {
	// Name is the image's canonical reference with the tag that selected
	// it, e.g. "gcr.io/google-samples/hello-app:1.0" or "nginx:latest".
	Name string
	// Ports the image listens on by default, TCP unless noted (hello-app
	// 8080; nginx 80; ...). PortsFor accounts for environment variables
	// that move them.
	Ports []Port
	// Serve serves the image's protocol on the listeners (keyed by port
	// number) until ctx ends, then closes them and returns nil. Listeners
	// for ports the image does not listen on are closed at once, so
	// connections to them are refused as they would be. If the container
	// itself would exit (agnhost's /exit, a bad flag), Serve returns an
	// *ExitError with the exit code. Toolbox images serve nothing and block
	// until ctx ends.
	Serve func(ctx context.Context, pod Pod, listeners map[int32]net.Listener) error
	// Toolbox images stay running for `kubectl exec` and serve nothing.
	Toolbox bool

	// portEnv names the environment variable that moves the first TCP port
	// (hello-app's PORT, whoami's WHOAMI_PORT_NUMBER); "" if none does.
	portEnv string
}

// Port is a port an image listens on.
type Port struct {
	Port     int32
	Protocol string // "TCP" or "UDP", as in a Pod's containerPort
}

// PortsFor returns the ports the image listens on when its container has
// the given environment: hello-app listens on $PORT rather than 8080.
func (img *Image) PortsFor(env map[string]string) []Port {
	ports := slices.Clone(img.Ports)
	if p, ok := envPort(env, img.portEnv); ok && len(ports) > 0 {
		ports[0].Port = p
	}
	return ports
}

// envPort reads a port number from the environment variable name.
func envPort(env map[string]string, name string) (int32, bool) {
	if name == "" || env[name] == "" {
		return 0, false
	}
	p, err := strconv.ParseInt(env[name], 10, 32)
	if err != nil || p < 1 || p > 65535 {
		return 0, false
	}
	return int32(p), true
}

// ExitError reports that the container's main process exited, e.g. after
// agnhost netexec's /exit?code=3 or on a command line the image rejects.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Lookup resolves an image reference as written in a pod spec ("nginx",
// "nginx:1.25", "docker.io/library/nginx:latest",
// "gcr.io/google-samples/hello-app:1.0", "registry.k8s.io/e2e-test-images/agnhost:2.47",
// "busybox@sha256:...") to a built-in image. A tag that the real repository
// does not have (hello-app:3.0) is not found.
func Lookup(ref string) (*Image, bool) {
	return LookupWithArgs(ref, nil)
}

// LookupWithArgs is Lookup for a container with a command and args (command
// followed by args, as the container runtime joins them). agnhost needs
// them to pick its mode (`netexec --http-port=8080`, `serve-hostname`),
// traefik/whoami reads its --port and --name flags; other images ignore them.
func LookupWithArgs(ref string, args []string) (*Image, bool) {
	r, ok := parseReference(ref)
	if !ok {
		return nil, false
	}
	for _, b := range builtins {
		if !slices.Contains(b.repositories, r.repository) {
			continue
		}
		tag := r.tag
		if tag == "" && r.digest != "" {
			// A digest pins one of the repository's images; which one we
			// cannot tell, so take the one tutorials use.
			tag = b.digestTag
		}
		if tag == "" {
			tag = "latest"
		}
		if b.tags != nil && !slices.Contains(b.tags, tag) {
			return nil, false
		}
		img := b.build(tag, args)
		img.Name = familiarName(b.repositories[0]) + ":" + tag
		return img, true
	}
	return nil, false
}

// Names lists the built-in images, sorted, for error messages such as the
// one the kubelet records when it cannot pull an image.
func Names() []string {
	var names []string
	for _, b := range builtins {
		names = append(names, b.names...)
	}
	slices.Sort(names)
	return names
}

// builtin is one built-in image repository.
type builtin struct {
	// repositories are the normalized repositories (see parseReference) that
	// hold this image: the canonical one and its well-known mirrors.
	repositories []string
	// tags the repository has; nil means any tag.
	tags []string
	// digestTag is the tag assumed for a reference by digest alone.
	digestTag string
	// names are how Names lists the image.
	names []string
	// build makes the image for one tag and container command line.
	build func(tag string, args []string) *Image
}

// builtins is every built-in image. Each image's file holds its server.
var builtins = []builtin{
	{
		repositories: []string{"gcr.io/google-samples/hello-app", "us-docker.pkg.dev/google-samples/containers/gke/hello-app"},
		tags:         []string{"1.0", "2.0"},
		digestTag:    "1.0",
		names:        []string{"gcr.io/google-samples/hello-app:1.0", "gcr.io/google-samples/hello-app:2.0", "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0"},
		build:        helloApp,
	},
	{
		repositories: []string{"docker.io/xiaopeng163/hello-app"},
		tags:         []string{"1.0", "2.0"},
		digestTag:    "1.0",
		names:        []string{"xiaopeng163/hello-app:1.0"},
		build:        helloApp,
	},
	{
		repositories: []string{"docker.io/wangyanglinux/myapp", "docker.io/ikubernetes/myapp"},
		tags:         []string{"v1", "v2", "v3", "v4"},
		digestTag:    "v1",
		names:        []string{"wangyanglinux/myapp:v1", "wangyanglinux/myapp:v2", "wangyanglinux/myapp:v3", "wangyanglinux/myapp:v4"},
		build:        myApp,
	},
	{
		repositories: []string{"docker.io/library/nginx", "mirror.gcr.io/library/nginx", "public.ecr.aws/nginx/nginx", "registry.k8s.io/nginx-slim", "k8s.gcr.io/nginx-slim"},
		names:        []string{"nginx"},
		build:        nginx,
	},
	{
		repositories: []string{"docker.io/traefik/whoami", "docker.io/containous/whoami", "ghcr.io/traefik/whoami"},
		names:        []string{"traefik/whoami"},
		build:        whoami,
	},
	{
		repositories: []string{"quay.io/qxu/spring-boot-whoami"},
		names:        []string{"quay.io/qxu/spring-boot-whoami"},
		build:        springBootWhoami,
	},
	{
		repositories: []string{"registry.k8s.io/e2e-test-images/agnhost", "k8s.gcr.io/e2e-test-images/agnhost", "gcr.io/kubernetes-e2e-test-images/agnhost"},
		names:        []string{"registry.k8s.io/e2e-test-images/agnhost"},
		build:        agnhost,
	},
	{
		repositories: []string{"registry.k8s.io/pause", "k8s.gcr.io/pause", "gcr.io/google-containers/pause"},
		names:        []string{"registry.k8s.io/pause"},
		build:        pause,
	},
	toolbox("busybox", "docker.io/library/busybox", "registry.k8s.io/busybox", "k8s.gcr.io/busybox", "gcr.io/google-containers/busybox", "registry.k8s.io/e2e-test-images/busybox"),
	toolbox("alpine", "docker.io/library/alpine"),
	toolbox("ubuntu", "docker.io/library/ubuntu"),
	toolbox("debian", "docker.io/library/debian"),
	toolbox("curlimages/curl", "docker.io/curlimages/curl", "quay.io/curl/curl"),
	toolbox("nicolaka/netshoot", "docker.io/nicolaka/netshoot", "ghcr.io/nicolaka/netshoot"),
	toolbox("registry.k8s.io/e2e-test-images/jessie-dnsutils", "registry.k8s.io/e2e-test-images/jessie-dnsutils", "k8s.gcr.io/e2e-test-images/jessie-dnsutils", "gcr.io/kubernetes-e2e-test-images/dnsutils"),
}
