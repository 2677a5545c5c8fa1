// Package images holds minilab's built-in container images.
//
// minilab has no container runtime and pulls no images. When a pod's
// container names a well-known tutorial image (gcr.io/google-samples/hello-app,
// nginx, traefik/whoami, agnhost netexec, ...), the node agent opens the
// image's listening sockets inside the pod's network namespace and hands
// them to the image's Serve function, which answers from Go what the real
// image would answer: the same bodies, the same headers, the same access log
// lines in `kubectl logs`. Toolbox images (busybox, alpine, curlimages/curl,
// nicolaka/netshoot, ...) serve nothing and just stay running so that
// `kubectl exec` has a container to enter.
//
// Lookup resolves an image reference the way a container runtime would
// (docker.io/library/ for short names, registry mirrors, tags, digests);
// where an image's behaviour depends on its tag (hello-app 1.0 against 2.0,
// myapp v1 against v2, the nginx version in the Server header) the tag
// selects it, and a tag the real registry does not have is not found, so the
// pod fails with ErrImagePull as it would on a real cluster. Names lists the
// built-in images for that error message.
//
// This package knows nothing about namespaces: callers pass sockets that
// are already open in the pod's network namespace, and an optional dialer
// for the images that connect out (agnhost netexec's /dial).
package images
