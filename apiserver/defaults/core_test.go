package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestNamespace(t *testing.T) {
	ns := &corev1.Namespace{}
	decodeYAML(t, `{metadata: {name: demo, labels: {team: a, kubernetes.io/metadata.name: wrong}}}`, ns)
	Default(ns)
	assertYAML(t, field(t, ns, "metadata").(map[string]any)["labels"], `{team: a, kubernetes.io/metadata.name: demo}`)
	assertYAML(t, field(t, ns, "status"), `{phase: Active}`)
	if len(ns.Spec.Finalizers) != 0 {
		t.Errorf("Default must not add finalizers (that is create-only), got %v", ns.Spec.Finalizers)
	}

	// generateName-only namespaces have no name yet and get no label.
	unnamed := &corev1.Namespace{}
	Default(unnamed)
	if unnamed.Labels != nil {
		t.Errorf("namespace without a name got labels %v", unnamed.Labels)
	}

	// A Terminating namespace keeps its phase.
	terminating := &corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	Default(terminating)
	if terminating.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase = %s, want Terminating", terminating.Status.Phase)
	}
}

func TestPrepareNamespaceForCreate(t *testing.T) {
	tests := []struct {
		name, manifest, want string
	}{
		{"kubectl create namespace", `{metadata: {name: demo}, spec: {}, status: {}}`, `{finalizers: [kubernetes]}`},
		{"other finalizers are kept, kubernetes appended", `{spec: {finalizers: [example.com/x]}}`, `{finalizers: [example.com/x, kubernetes]}`},
		{"not added twice", `{spec: {finalizers: [kubernetes]}}`, `{finalizers: [kubernetes]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := &corev1.Namespace{}
			decodeYAML(t, tt.manifest, ns)
			ns.Status.Phase = corev1.NamespaceTerminating // a client cannot create a terminating namespace
			PrepareNamespaceForCreate(ns)
			PrepareNamespaceForCreate(ns)
			assertYAML(t, field(t, ns, "spec"), tt.want)
			assertYAML(t, field(t, ns, "status"), `{phase: Active}`)
		})
	}
}

func TestNode(t *testing.T) {
	node := &corev1.Node{}
	decodeYAML(t, `{status: {capacity: {cpu: "2", memory: 4Gi, pods: "110"}}}`, node)
	Default(node)
	assertYAML(t, node.Status.Allocatable, `{cpu: "2", memory: 4Gi, pods: "110"}`)
	if node.Status.Phase != "" {
		t.Errorf("nodes get no default phase, got %q", node.Status.Phase)
	}
	// Allocatable is a copy: changing it leaves capacity alone.
	delete(node.Status.Allocatable, corev1.ResourcePods)
	if _, ok := node.Status.Capacity[corev1.ResourcePods]; !ok {
		t.Error("allocatable shares its map with capacity")
	}
}

func TestSmallTypes(t *testing.T) {
	tests := []struct {
		name  string
		obj   runtime.Object
		check func(t *testing.T, obj runtime.Object)
	}{
		{"secret is Opaque", &corev1.Secret{}, func(t *testing.T, o runtime.Object) {
			if got := o.(*corev1.Secret).Type; got != corev1.SecretTypeOpaque {
				t.Errorf("type = %q", got)
			}
		}},
		{"configmap data is never nil", &corev1.ConfigMap{}, func(t *testing.T, o runtime.Object) {
			if o.(*corev1.ConfigMap).Data == nil {
				t.Error("data is nil")
			}
		}},
		{"service accounts have no defaults", &corev1.ServiceAccount{}, func(t *testing.T, o runtime.Object) {
			assertSameJSON(t, o, &corev1.ServiceAccount{})
		}},
		{"events have no defaults", &corev1.Event{}, func(t *testing.T, o runtime.Object) {
			assertSameJSON(t, o, &corev1.Event{})
		}},
		{"list items are defaulted", &corev1.PodList{Items: []corev1.Pod{{}, {}}}, func(t *testing.T, o runtime.Object) {
			for i, p := range o.(*corev1.PodList).Items {
				if p.Spec.RestartPolicy != corev1.RestartPolicyAlways {
					t.Errorf("item %d not defaulted", i)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Default(tt.obj)
			tt.check(t, tt.obj)
		})
	}
}
