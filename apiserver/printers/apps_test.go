package printers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func template(containers ...corev1.Container) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "hello-world"}},
		Spec:       corev1.PodSpec{Containers: containers},
	}
}

var (
	helloContainer = corev1.Container{Name: "hello-app", Image: "gcr.io/google-samples/hello-app:1.0"}
	proxyContainer = corev1.Container{Name: "proxy", Image: "nginx:1.27"}
	helloSelector  = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "hello-world"}}
)

func TestDeploymentRows(t *testing.T) {
	deployment := func(replicas *int32, selector *metav1.LabelSelector, st appsv1.DeploymentStatus) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: objectMeta("hello-world", 4*time.Minute),
			Spec:       appsv1.DeploymentSpec{Replicas: replicas, Selector: selector, Template: template(helloContainer, proxyContainer)},
			Status:     st,
		}
	}
	expressions := &metav1.LabelSelector{
		MatchLabels:      map[string]string{"app": "hello-world"},
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "track", Operator: metav1.LabelSelectorOpIn, Values: []string{"stable", "canary"}}},
	}
	invalid := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}

	tests := []struct {
		name string
		d    *appsv1.Deployment
		want []interface{}
	}{
		{"rolling out", deployment(ptr(int32(3)), helloSelector, appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}),
			[]interface{}{"hello-world", "2/3", int64(3), int64(2), "4m", "hello-app,proxy", "gcr.io/google-samples/hello-app:1.0,nginx:1.27", "app=hello-world"}},
		{"scaled to zero", deployment(ptr(int32(0)), helloSelector, appsv1.DeploymentStatus{}),
			[]interface{}{"hello-world", "0/0", int64(0), int64(0), "4m", "hello-app,proxy", "gcr.io/google-samples/hello-app:1.0,nginx:1.27", "app=hello-world"}},
		{"replicas defaulted", deployment(nil, helloSelector, appsv1.DeploymentStatus{ReadyReplicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}),
			[]interface{}{"hello-world", "1/1", int64(1), int64(1), "4m", "hello-app,proxy", "gcr.io/google-samples/hello-app:1.0,nginx:1.27", "app=hello-world"}},
		{"set-based selector", deployment(ptr(int32(1)), expressions, appsv1.DeploymentStatus{}),
			[]interface{}{"hello-world", "0/1", int64(0), int64(0), "4m", "hello-app,proxy", "gcr.io/google-samples/hello-app:1.0,nginx:1.27", "app=hello-world,track in (canary,stable)"}},
		// Unlike ReplicaSets and DaemonSets, a Deployment's missing selector prints empty, not <none>.
		{"no selector", deployment(ptr(int32(1)), nil, appsv1.DeploymentStatus{}),
			[]interface{}{"hello-world", "0/1", int64(0), int64(0), "4m", "hello-app,proxy", "gcr.io/google-samples/hello-app:1.0,nginx:1.27", ""}},
		{"invalid selector", deployment(ptr(int32(1)), invalid, appsv1.DeploymentStatus{}),
			[]interface{}{"hello-world", "0/1", int64(0), int64(0), "4m", "hello-app,proxy", "gcr.io/google-samples/hello-app:1.0,nginx:1.27", "<invalid>"}},
	}
	p := mustPrinter(t, "apps", "deployments")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectRow(t, p, tt.d, tt.want...) })
	}
}

func TestReplicaSetRows(t *testing.T) {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: objectMeta("hello-world-5d8b9c6f7", 4*time.Minute),
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr(int32(3)), Selector: helloSelector, Template: template(helloContainer)},
		Status:     appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1},
	}
	noSelector := rs.DeepCopy()
	noSelector.Spec.Selector = nil

	p := mustPrinter(t, "apps", "replicasets")
	expectRow(t, p, rs, "hello-world-5d8b9c6f7", int64(3), int64(3), int64(1), "4m",
		"hello-app", "gcr.io/google-samples/hello-app:1.0", "app=hello-world")
	expectCells(t, p, noSelector, map[string]interface{}{"Selector": "<none>"})
}

func TestStatefulSetRows(t *testing.T) {
	ss := &appsv1.StatefulSet{
		ObjectMeta: objectMeta("web", 20*time.Minute),
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Selector: helloSelector, Template: template(proxyContainer)},
		Status:     appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 1},
	}
	p := mustPrinter(t, "apps", "statefulsets")
	expectRow(t, p, ss, "web", "1/3", "20m", "proxy", "nginx:1.27")
}

func TestDaemonSetRows(t *testing.T) {
	ds := &appsv1.DaemonSet{
		ObjectMeta: objectMeta("kube-proxy", 26*time.Hour),
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-proxy"}},
			Template: template(corev1.Container{Name: "kube-proxy", Image: "registry.k8s.io/kube-proxy:v1.33.1"}),
		},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2},
	}
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	anywhere := ds.DeepCopy()
	anywhere.Spec.Template.Spec.NodeSelector = nil

	p := mustPrinter(t, "apps", "daemonsets")
	expectRow(t, p, ds, "kube-proxy", int64(3), int64(3), int64(2), int64(3), int64(2), "kubernetes.io/os=linux", "26h",
		"kube-proxy", "registry.k8s.io/kube-proxy:v1.33.1", "k8s-app=kube-proxy")
	expectCells(t, p, anywhere, map[string]interface{}{"Node Selector": "<none>"})
}
