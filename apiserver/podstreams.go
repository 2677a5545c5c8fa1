package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/minilab/minilab/apiserver/registry"
)

// Pods' streaming subresources, pods/log and pods/exec, are not stored
// objects: kube-apiserver checks the request against the stored pod, then
// hands it to the kubelet of the pod's node (pkg/registry/core/pod/rest).
// minilab hands it to Config.PodRuntime, the node agents in this process.

// podStreamHandlers serve the streaming subresources, by resource/subresource.
var podStreamHandlers = map[string]func(s *Server, w http.ResponseWriter, r *http.Request, namespace, name string){
	"pods/log":  (*Server).servePodLog,
	"pods/exec": (*Server).servePodExec,
}

// streamingSubresource returns the handler of a streaming subresource, or
// nil for the subresources served from the store.
func streamingSubresource(res *registry.Resource, subresource string) func(s *Server, w http.ResponseWriter, r *http.Request, namespace, name string) {
	if res.Group != "" || subresource == "" {
		return nil
	}
	return podStreamHandlers[res.Resource+"/"+subresource]
}

// podContainer finds the pod and the container a log or exec request is
// for: the named one, or the pod's only container. The messages are
// kube-apiserver's (validateContainer in pkg/registry/core/pod/strategy.go).
func (s *Server) podContainer(namespace, name, container string) (*corev1.Pod, string, error) {
	res, _ := s.reg.Lookup(corev1.SchemeGroupVersion.WithResource("pods"))
	obj, err := s.getObject(res, namespace, name)
	if err != nil {
		return nil, "", err
	}
	pod := obj.(*corev1.Pod)
	names := containerNames(pod)
	if container == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod, pod.Spec.Containers[0].Name, nil
		case 0:
			return nil, "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", name))
		default:
			return nil, "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", name, strings.Join(names, " ")))
		}
	}
	for _, n := range names {
		if n == container {
			return pod, container, nil
		}
	}
	return nil, "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, name))
}

// containerNames lists init, regular and ephemeral containers, the order in
// which kube-apiserver offers them.
func containerNames(pod *corev1.Pod) []string {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return names
}

// podRuntime returns the runtime that serves the pod, or the error a
// kube-apiserver gives when it cannot reach the pod's kubelet.
func (s *Server) podRuntime() (PodRuntime, error) {
	if s.cfg.PodRuntime == nil {
		return nil, apierrors.NewServiceUnavailable("no node agent serves this pod")
	}
	return s.cfg.PodRuntime, nil
}

// methodNotAllowed answers a method a streaming subresource does not serve.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, subresource string, allowed ...string) {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/" + subresource}, strings.ToLower(r.Method)))
}
