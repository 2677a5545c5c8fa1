package defaults

import (
	corev1 "k8s.io/api/core/v1"
)

// defaultNamespace applies upstream SetDefaults_Namespace and SetDefaults_NamespaceStatus.
func defaultNamespace(ns *corev1.Namespace) {
	// Every named namespace carries kubernetes.io/metadata.name=<name>, so that network policies
	// and webhooks can select namespaces by name. The API server always writes it, even over a
	// client's value: the label must equal the name.
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	setIfEmpty(&ns.Status.Phase, corev1.NamespaceActive)
}

// PrepareNamespaceForCreate does what the Namespace REST strategy (PrepareForCreate) does to a
// new namespace: its status becomes phase Active, and spec.finalizers gains "kubernetes" so that
// the namespace controller can empty the namespace before it goes away.
//
// This is not a default and must not run on update: while a namespace terminates, the namespace
// controller removes the "kubernetes" finalizer through the /finalize subresource, and putting it
// back would keep the namespace Terminating for ever.
func PrepareNamespaceForCreate(ns *corev1.Namespace) {
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return
		}
	}
	ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
}

// defaultNode applies upstream SetDefaults_NodeStatus: a node that reports its capacity but not
// its allocatable resources can allocate all of it. Nodes have no default phase (the field is
// deprecated and the API server leaves it empty).
func defaultNode(node *corev1.Node) {
	status := &node.Status
	if status.Allocatable == nil && status.Capacity != nil {
		status.Allocatable = status.Capacity.DeepCopy()
	}
	roundResourceList(status.Capacity)
	roundResourceList(status.Allocatable)
}

// defaultConfigMap applies upstream SetDefaults_ConfigMap: data is never nil. (It is still
// omitted from JSON when empty.)
func defaultConfigMap(cm *corev1.ConfigMap) {
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
}

// defaultSecret applies upstream SetDefaults_Secret: an untyped secret is Opaque.
func defaultSecret(s *corev1.Secret) {
	setIfEmpty(&s.Type, corev1.SecretTypeOpaque)
}
