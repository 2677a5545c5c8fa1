package endpointutil

import (
	"fmt"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// IsPodReady says whether the pod's Ready condition is True, the kubelet's
// verdict from readiness probes.
func IsPodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ShouldPodBeInEndpoints says whether a selected pod is an endpoint at all:
// it must have an IP and must not have finished (Succeeded or Failed).
// Terminating pods count only when includeTerminating is set: the
// EndpointSlice controller keeps them (with terminating=true), the
// Endpoints controller drops them unless the Service publishes not-ready
// addresses.
func ShouldPodBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// ShouldSetHostname says whether the endpoint carries the pod's hostname:
// only when the pod asked for it (spec.hostname) under this Service's name
// (spec.subdomain), which is what gives it a DNS name
// <hostname>.<service>.<namespace>.svc.
func ShouldSetHostname(pod *corev1.Pod, svc *corev1.Service) bool {
	return pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace
}

// PodIPv4 returns the pod's IPv4 address, or "" if it has none.
func PodIPv4(pod *corev1.Pod) string {
	ips := []string{pod.Status.PodIP}
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	for _, s := range ips {
		if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
			return ip.String()
		}
	}
	return ""
}

// FindPort resolves a Service port's targetPort on one pod. A number is
// used as it is; a name is looked up among the pod's container ports (and
// those of sidecar init containers) with the same protocol, so one Service
// can reach pods that listen on different numbers under one name.
func FindPort(pod *corev1.Pod, svcPort *corev1.ServicePort) (int32, error) {
	target := svcPort.TargetPort
	if target.Type == intstr.Int {
		return int32(target.IntValue()), nil
	}
	for _, c := range pod.Spec.Containers {
		if port, ok := namedPort(c.Ports, target.StrVal, svcPort.Protocol); ok {
			return port, nil
		}
	}
	for _, c := range pod.Spec.InitContainers {
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if !sidecar {
			continue // ordinary init containers have exited before the pod serves
		}
		if port, ok := namedPort(c.Ports, target.StrVal, svcPort.Protocol); ok {
			return port, nil
		}
	}
	return 0, fmt.Errorf("pod %s/%s has no %s container port named %q", pod.Namespace, pod.Name, svcPort.Protocol, target.StrVal)
}

func namedPort(ports []corev1.ContainerPort, name string, protocol corev1.Protocol) (int32, bool) {
	for _, p := range ports {
		if p.Name == name && p.Protocol == protocol {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// IsHeadless says whether the Service has no cluster IP ("None"), the case
// the service.kubernetes.io/headless label marks on its endpoints.
func IsHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == ""
}

// ServicesForPod returns the keys (namespace/name) of the Services whose
// selector matches the pod's labels. A Service without a selector selects
// nothing, not everything.
func ServicesForPod(services listerscorev1.ServiceLister, pod *corev1.Pod) []string {
	list, err := services.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var keys []string
	for _, svc := range list {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		if labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			keys = append(keys, svc.Namespace+"/"+svc.Name)
		}
	}
	return keys
}

// PodFromEvent unwraps the pod of an informer event, including the
// tombstone a delete may carry.
func PodFromEvent(obj interface{}) *corev1.Pod {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, _ := obj.(*corev1.Pod)
	return pod
}

// TriggerTimeTracker computes the endpoints.kubernetes.io/last-change-trigger-time
// annotation: the time of the earliest change (a pod's Ready transition,
// or the Service's creation) that a sync reflects and an earlier sync did
// not. Latency SLOs of real clusters are measured from it.
type TriggerTimeTracker struct {
	mu       sync.Mutex
	services map[string]triggerState
}

type triggerState struct {
	service time.Time
	pods    map[string]time.Time
}

// NewTriggerTimeTracker returns an empty tracker.
func NewTriggerTimeTracker() *TriggerTimeTracker {
	return &TriggerTimeTracker{services: map[string]triggerState{}}
}

// Compute records what this sync sees for the Service and returns the time
// to write into the annotation; zero means no annotation. A Service seen
// for the first time reports its creation time.
func (t *TriggerTimeTracker) Compute(svc *corev1.Service, pods []*corev1.Pod) time.Time {
	key := svc.Namespace + "/" + svc.Name
	t.mu.Lock()
	prev, known := t.services[key]
	t.mu.Unlock()

	var earliest time.Time
	consider := func(ts time.Time) {
		if earliest.IsZero() || ts.Before(earliest) {
			earliest = ts
		}
	}
	next := triggerState{service: svc.CreationTimestamp.Time, pods: map[string]time.Time{}}
	for _, pod := range pods {
		ts := readyTransition(pod)
		if ts.IsZero() {
			continue
		}
		next.pods[pod.Name] = ts
		if ts.After(prev.pods[pod.Name]) {
			consider(ts)
		}
	}
	if next.service.After(prev.service) {
		consider(next.service)
	}
	t.mu.Lock()
	t.services[key] = next
	t.mu.Unlock()
	if !known {
		return svc.CreationTimestamp.Time
	}
	return earliest
}

// Forget drops what the tracker knows about a deleted Service.
func (t *TriggerTimeTracker) Forget(namespace, name string) {
	t.mu.Lock()
	delete(t.services, namespace+"/"+name)
	t.mu.Unlock()
}

func readyTransition(pod *corev1.Pod) time.Time {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// FormatTriggerTime formats a trigger time as the annotation holds it.
func FormatTriggerTime(ts time.Time) string {
	return ts.UTC().Format(time.RFC3339Nano)
}
