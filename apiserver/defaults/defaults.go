package defaults

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// Default fills in, in place, every static default kube-apiserver applies on create and update to
// an object of a type minilab serves. Unknown types are left alone. Idempotent.
//
// kube-apiserver runs these defaults while it decodes the request body, before admission and
// validation, so they apply equally to create, update and patch. The few defaults that only
// happen on create (the Pod admission plugins, the Namespace "kubernetes" finalizer) live in
// AdmitPod and PrepareNamespaceForCreate instead.
//
// Feature gates are taken as they are by default in v1.33. Defaults behind gates that are off
// there (ImageVolume's image pullPolicy, PodLevelResources, MaxUnavailableStatefulSet,
// DefaultHostNetworkHostPortsInPodTemplates) are not applied.
func Default(obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Pod:
		defaultPod(o)
	case *corev1.Service:
		defaultService(o)
	case *corev1.Endpoints:
		defaultEndpoints(o)
	case *corev1.Namespace:
		defaultNamespace(o)
	case *corev1.Node:
		defaultNode(o)
	case *corev1.ConfigMap:
		defaultConfigMap(o)
	case *corev1.Secret:
		defaultSecret(o)
	case *discoveryv1.EndpointSlice:
		defaultEndpointSlice(o)
	case *appsv1.Deployment:
		defaultDeployment(o)
	case *appsv1.ReplicaSet:
		defaultReplicaSet(o)
	case *appsv1.StatefulSet:
		defaultStatefulSet(o)
	case *appsv1.DaemonSet:
		defaultDaemonSet(o)
	default:
		// Lists (PodList, ServiceList, ...) are defaulted item by item, as the generated
		// SetObjectDefaults_XList functions do. Events and ServiceAccounts have no defaults.
		if meta.IsListType(obj) {
			_ = meta.EachListItem(obj, func(item runtime.Object) error {
				Default(item)
				return nil
			})
		}
	}
}

// setIfEmpty sets a string-typed field that the client left empty.
func setIfEmpty[T ~string](field *T, value T) {
	if *field == "" {
		*field = value
	}
}

// setIfZero sets a numeric field that the client left at zero (for fields where zero is not a
// valid value, such as probe periods).
func setIfZero(field *int32, value int32) {
	if *field == 0 {
		*field = value
	}
}

// setIfNil points an optional field at its default value when the client left it out.
// Every call allocates, so no two objects ever share a default.
func setIfNil[T any](field **T, value T) {
	if *field == nil {
		*field = &value
	}
}
