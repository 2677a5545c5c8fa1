package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestNamespaceRows(t *testing.T) {
	active := &corev1.Namespace{ObjectMeta: objectMeta("demo", 3*time.Minute), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	terminating := &corev1.Namespace{ObjectMeta: objectMeta("old", 50*time.Hour), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	p := mustPrinter(t, "", "namespaces")
	expectRow(t, p, active, "demo", "Active", "3m")
	expectRow(t, p, terminating, "old", "Terminating", "2d2h")
}

func TestConfigMapRows(t *testing.T) {
	tests := []struct {
		name string
		cm   *corev1.ConfigMap
		want int64
	}{
		{"empty", &corev1.ConfigMap{ObjectMeta: objectMeta("kube-root-ca.crt", time.Minute)}, 0},
		{"data only", &corev1.ConfigMap{ObjectMeta: objectMeta("kube-root-ca.crt", time.Minute), Data: map[string]string{"ca.crt": "..."}}, 1},
		{"data and binary data", &corev1.ConfigMap{ObjectMeta: objectMeta("kube-root-ca.crt", time.Minute),
			Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {0}}}, 3},
	}
	p := mustPrinter(t, "", "configmaps")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectRow(t, p, tt.cm, "kube-root-ca.crt", tt.want, "60s") })
	}
}

func TestServiceAccountRows(t *testing.T) {
	p := mustPrinter(t, "", "serviceaccounts")
	expectRow(t, p, &corev1.ServiceAccount{ObjectMeta: objectMeta("default", 26*time.Hour)}, "default", int64(0), "26h")
	expectRow(t, p, &corev1.ServiceAccount{
		ObjectMeta: objectMeta("builder", 10*time.Minute),
		Secrets:    []corev1.ObjectReference{{Name: "builder-token"}, {Name: "builder-dockercfg"}},
	}, "builder", int64(2), "10m")
}
