package apiserver_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/minilab/minilab/apiserver/apiservertest"
)

// A client-go informer (list, then watch from the list's resourceVersion,
// re-list or re-watch after errors) must mirror the server's state through
// creates, updates, deletes and a restart of the server, as kube-proxy's
// and CoreDNS's informers will.
func TestInformerStaysInSyncAcrossRestart(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{})
	dataDir, port := lab.DataDir, lab.Port
	cfg := lab.RESTConfig()
	cfg.Timeout = 5 * time.Second
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(client, 0)
	defer func() {
		cancel()
		factory.Shutdown()
	}()
	services := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	services.Informer()
	slices.Informer()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), services.Informer().HasSynced, slices.Informer().HasSynced) {
		t.Fatal("informers did not sync")
	}

	// The informer's view must equal a fresh list from the server.
	inSync := func(what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			want, got := serverState(ctx, t, client), informerState(t, services.Lister(), slices.Lister())
			if want == got {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: informer out of sync\nserver:   %s\ninformer: %s", what, want, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	mkService := func(name string) {
		t.Helper()
		_, err := client.CoreV1().Services("default").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	mkSlice := func(name, ip string) {
		t.Helper()
		ready := true
		_, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: strings.SplitN(name, "-", 2)[0]}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}

	mkService("alpha")
	mkService("beta")
	mkSlice("alpha-1", "10.244.1.5")
	inSync("after creates")

	svc, _ := client.CoreV1().Services("default").Get(ctx, "alpha", metav1.GetOptions{})
	svc.Labels = map[string]string{"tier": "web"}
	if _, err := client.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Services("default").Delete(ctx, "beta", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	inSync("after update and delete")

	// Restart the server on the same port and data dir; the informers'
	// watches break and must resume.
	lab.Stop()
	time.Sleep(200 * time.Millisecond)
	apiservertest.Start(t, apiservertest.Options{DataDir: dataDir, Port: port})
	mkService("gamma")
	mkSlice("gamma-1", "10.244.2.7")
	if err := client.CoreV1().Services("default").Delete(ctx, "alpha", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	inSync("after the restart")
}

func serverState(ctx context.Context, t *testing.T, client kubernetes.Interface) string {
	svcs, err := client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "error: " + err.Error()
	}
	slices, err := client.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "error: " + err.Error()
	}
	var out []string
	for _, s := range svcs.Items {
		out = append(out, fmt.Sprintf("svc %s/%s@%s%v", s.Namespace, s.Name, s.ResourceVersion, s.Labels))
	}
	for _, s := range slices.Items {
		out = append(out, fmt.Sprintf("slice %s/%s@%s", s.Namespace, s.Name, s.ResourceVersion))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func informerState(t *testing.T, services corelisters.ServiceLister, slices discoverylisters.EndpointSliceLister) string {
	svcs, _ := services.List(labels.Everything())
	sl, _ := slices.List(labels.Everything())
	var out []string
	for _, s := range svcs {
		out = append(out, fmt.Sprintf("svc %s/%s@%s%v", s.Namespace, s.Name, s.ResourceVersion, s.Labels))
	}
	for _, s := range sl {
		out = append(out, fmt.Sprintf("slice %s/%s@%s", s.Namespace, s.Name, s.ResourceVersion))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
