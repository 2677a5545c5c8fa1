package apiserver

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minilab/minilab/store"
)

// bootstrap creates what every cluster has from its first start, as
// kube-apiserver's bootstrap controllers do: the four system namespaces and
// the `kubernetes` Service at the first address of the service CIDR, with
// Endpoints and an EndpointSlice pointing at the API server itself.
func (s *Server) bootstrap() error {
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := s.ensure("namespaces", "", ns); err != nil {
			return err
		}
	}
	first, _ := s.serviceIPs.Nth(1)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"},
		},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: first.String(),
			Ports: []corev1.ServicePort{{
				Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(6443),
			}},
		},
	}
	if err := s.ensure("services", "default", svc); err != nil {
		return err
	}
	return s.reconcileAPIEndpoints()
}

// apiEndpointPort is the port the API server listens on inside the cluster
// (on the control-plane node), which the `kubernetes` Service targets.
const apiEndpointPort = 6443

// reconcileAPIEndpoints writes the `kubernetes` Service's Endpoints and
// EndpointSlice, which kube-apiserver maintains itself (the Service has no
// selector).
func (s *Server) reconcileAPIEndpoints() error {
	addr := s.cfg.AdvertiseAddress
	if addr == nil {
		return nil
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{
			Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"},
		},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr.String()}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: apiEndpointPort, Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := s.ensureUpToDate("endpoints", "default", ep); err != nil {
		return err
	}
	ready := true
	name, proto, port := "https", corev1.ProtocolTCP, int32(apiEndpointPort)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{addr.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
	}
	return s.ensureUpToDate("endpointslices", "default", slice)
}

func (s *Server) resourceNamed(resource string) *op {
	for _, r := range s.reg.All() {
		if r.Resource == resource {
			return &op{res: r, fieldManager: "kube-apiserver", validation: validationStrict}
		}
	}
	panic("unknown resource " + resource)
}

// ensure creates obj unless it exists.
func (s *Server) ensure(resource, namespace string, obj runtime.Object) error {
	o := s.resourceNamed(resource)
	o.namespace = namespace
	obj.GetObjectKind().SetGroupVersionKind(o.res.GroupVersionKind())
	if _, err := s.getObject(o.res, namespace, obj.(metav1.Object).GetName()); !apierrors.IsNotFound(err) {
		return err // exists already (or the store failed)
	}
	_, err := s.create(o, obj)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// ensureUpToDate creates obj or replaces the stored object's content with it.
func (s *Server) ensureUpToDate(resource, namespace string, obj runtime.Object) error {
	o := s.resourceNamed(resource)
	o.namespace = namespace
	obj.GetObjectKind().SetGroupVersionKind(o.res.GroupVersionKind())
	m := obj.(metav1.Object)
	_, _, err := s.update(o, m.GetName(), true, func(cur runtime.Object) (runtime.Object, error) {
		next := obj.DeepCopyObject()
		if cur != nil {
			nm := next.(metav1.Object)
			nm.SetResourceVersion(cur.(metav1.Object).GetResourceVersion())
		}
		return next, nil
	})
	return err
}

// eventTTL is how long events are kept; kube-apiserver's default (--event-ttl).
const eventTTL = time.Hour

// runMaintenance does the API server's periodic chores: expiring old events
// (etcd leases do it in a real cluster).
func (s *Server) runMaintenance(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.expireEvents(time.Now().Add(-eventTTL))
		}
	}
}

func (s *Server) expireEvents(before time.Time) {
	res, _ := s.reg.Lookup(schema.GroupVersionResource{Version: "v1", Resource: "events"})
	kvs, _, err := s.store.List(resourcePrefix(res))
	if err != nil {
		return
	}
	for _, kv := range kvs {
		obj, err := decodeKV(res, kv)
		if err != nil {
			continue
		}
		ev := obj.(*corev1.Event)
		last := ev.LastTimestamp.Time
		if last.IsZero() {
			last = ev.EventTime.Time
		}
		if last.IsZero() {
			last = ev.CreationTimestamp.Time
		}
		if last.Before(before) {
			rev := kv.ModRevision
			s.store.Delete(kv.Key, func(cur store.KeyValue) error {
				if cur.ModRevision != rev {
					return errStale
				}
				return nil
			})
		}
	}
}
