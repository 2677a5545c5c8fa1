package apiserver_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minilab/minilab/apiserver/apiservertest"
)

// BenchmarkCreateService measures a Service create over HTTPS with client-go
// (allocation, validation, managed fields, one fsync'ed store write).
func BenchmarkCreateService(b *testing.B) {
	lab := apiservertest.Start(b, apiservertest.Options{})
	svcs := lab.Client().CoreV1().Services("default")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := svcs.Create(bg, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s-%d", i)},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "x"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWatchLatency measures the time from starting a create until a
// watching client-go client has the event: how fast a proxier or the DNS
// server can learn about a new Service.
func BenchmarkWatchLatency(b *testing.B) {
	lab := apiservertest.Start(b, apiservertest.Options{})
	svcs := lab.Client().CoreV1().Services("default")
	w, err := svcs.Watch(bg, metav1.ListOptions{ResourceVersion: "", Watch: true})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	<-w.ResultChan() // the kubernetes Service
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		_, err := svcs.Create(bg, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("w-%d", i)},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		<-w.ResultChan()
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/event")
}

// BenchmarkListServicesTable measures what `kubectl get svc` asks for: a
// Table of 100 Services.
func BenchmarkListServicesTable(b *testing.B) {
	lab := apiservertest.Start(b, apiservertest.Options{NoSync: true})
	svcs := lab.Client().CoreV1().Services("default")
	for i := 0; i < 100; i++ {
		svcs.Create(bg, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t-%d", i)},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	}
	accept := map[string]string{"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, _ := lab.Do("GET", "/api/v1/namespaces/default/services?limit=500", accept, "") // a new TLS connection each time, as each kubectl run makes
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}
