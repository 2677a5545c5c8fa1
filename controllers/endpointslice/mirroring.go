package endpointslice

import (
	"context"
	"net"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

const (
	// mirrorControllerName is the managed-by value of mirrored slices.
	mirrorControllerName = "endpointslicemirroring-controller.k8s.io"
	// maxMirroredPerSubset is kube-controller-manager's default
	// --mirroring-max-endpoints-per-subset; it also bounds a mirrored slice.
	maxMirroredPerSubset = 1000
	// leaderElectionAnnotation marks Endpoints used as leader-election
	// locks by old components; they are not mirrored.
	leaderElectionAnnotation = "control-plane.alpha.kubernetes.io/leader"
)

// mirroring is the EndpointSlice mirroring loop: it copies the Endpoints
// of Services without a selector (written by users) into EndpointSlices.
// Its queue holds Endpoints keys, which are also Service keys.
type mirroring struct {
	c       *Controller
	queue   workqueue.TypedRateLimitingInterface[string]
	tracker *sliceTracker
}

func newMirroring(c *Controller) *mirroring {
	return &mirroring{c: c, queue: newQueue("endpointslicemirroring"), tracker: newSliceTracker(c.slices)}
}

func (m *mirroring) enqueue(obj interface{}) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		m.queue.Add(key)
	}
}

// sync makes the mirrored slices of one Endpoints object match it. Only
// Endpoints of an existing Service without a selector are mirrored, and
// not those labelled endpointslice.kubernetes.io/skip-mirror=true (the API
// server's own `kubernetes` Endpoints, whose slice it writes itself).
func (m *mirroring) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	if m.tracker.stale(key) {
		return errStaleCache
	}
	existing, err := ownedSlices(m.c.slices, namespace, name, mirrorControllerName)
	if err != nil {
		return err
	}
	svc, err := m.c.services.Services(namespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	ep, epErr := m.c.endpoints.Endpoints(namespace).Get(name)
	if epErr != nil && !apierrors.IsNotFound(epErr) {
		return epErr
	}
	if svc == nil || len(svc.Spec.Selector) > 0 || ep == nil || !shouldMirror(ep) {
		m.tracker.forget(key)
		return deleteSlices(ctx, m.c.client, existing)
	}
	t := endpointsTarget(ep)
	return apply(ctx, m.c.client, m.tracker, t, computePlan(t, existing, m.desiredEndpoints(ep)))
}

func shouldMirror(ep *corev1.Endpoints) bool {
	if ep.Labels[discoveryv1.LabelSkipMirror] == "true" {
		return false
	}
	_, leader := ep.Annotations[leaderElectionAnnotation]
	return !leader
}

// endpointsTarget describes the mirrored slices of an Endpoints object:
// its labels and annotations (minus the trigger time and kubectl's
// last-applied configuration), the service-name and managed-by labels,
// and a controller reference to the Endpoints.
func endpointsTarget(ep *corev1.Endpoints) *target {
	l := copyMap(ep.Labels)
	l[discoveryv1.LabelServiceName] = ep.Name
	l[discoveryv1.LabelManagedBy] = mirrorControllerName
	a := copyMap(ep.Annotations)
	delete(a, corev1.EndpointsLastChangeTriggerTime)
	delete(a, corev1.LastAppliedConfigAnnotation)
	return &target{
		key:          ep.Namespace + "/" + ep.Name,
		namespace:    ep.Namespace,
		owner:        *metav1.NewControllerRef(ep, corev1.SchemeGroupVersion.WithKind("Endpoints")),
		generateName: ep.Name + "-",
		labels:       l,
		annotations:  a,
		maxEndpoints: maxMirroredPerSubset,
		deleting:     ep.DeletionTimestamp != nil,
	}
}

// desiredEndpoints converts each subset's addresses into endpoints that
// carry only the ready condition (an Endpoints object knows no more). At
// most 1000 addresses per subset are mirrored; invalid IPs are skipped.
// Both cases are reported as events on the Endpoints, as upstream does.
func (m *mirroring) desiredEndpoints(ep *corev1.Endpoints) groups {
	wanted := groups{}
	invalid, skipped := 0, 0
	for _, subset := range ep.Subsets {
		ports := mirroredPorts(subset.Ports)
		added := 0
		add := func(addr corev1.EndpointAddress, ready bool) {
			if added >= maxMirroredPerSubset {
				skipped++
				return
			}
			ip := net.ParseIP(addr.IP)
			if ip == nil {
				invalid++
				return
			}
			addressType := discoveryv1.AddressTypeIPv4
			if ip.To4() == nil {
				addressType = discoveryv1.AddressTypeIPv6
			}
			wanted.add(addressType, ports, addressEndpoint(addr, ip, ready))
			added++
		}
		for _, addr := range subset.Addresses {
			add(addr, true)
		}
		for _, addr := range subset.NotReadyAddresses {
			add(addr, false)
		}
	}
	if invalid > 0 {
		m.c.recorder.Eventf(ep, corev1.EventTypeWarning, "InvalidIPAddress",
			"Skipped %d invalid IP addresses when mirroring to EndpointSlices", invalid)
	}
	if skipped > 0 {
		m.c.recorder.Eventf(ep, corev1.EventTypeWarning, "TooManyAddressesToMirror",
			"A max of %d addresses can be mirrored to EndpointSlices per Endpoints subset. %d addresses were skipped", maxMirroredPerSubset, skipped)
	}
	return wanted
}

func addressEndpoint(addr corev1.EndpointAddress, ip net.IP, ready bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{
		Addresses:  []string{ip.String()},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready},
	}
	if addr.TargetRef != nil {
		e.TargetRef = addr.TargetRef.DeepCopy()
	}
	if addr.NodeName != nil {
		nodeName := *addr.NodeName
		e.NodeName = &nodeName
	}
	if addr.Hostname != "" {
		hostname := addr.Hostname
		e.Hostname = &hostname
	}
	return e
}

func mirroredPorts(ports []corev1.EndpointPort) []discoveryv1.EndpointPort {
	out := make([]discoveryv1.EndpointPort, 0, len(ports))
	for _, p := range ports {
		name, port, protocol := p.Name, p.Port, p.Protocol
		out = append(out, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &protocol, AppProtocol: p.AppProtocol})
	}
	return out
}
