package loadbalancer

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/minilab/minilab/apiserver"
	"github.com/minilab/minilab/store"
)

// These tests run the controller against minilab's real API server, in
// process, without the controller manager. Events go to the API through a
// real broadcaster, so the tests read them as `kubectl describe` would.

const ns = "default"

// startAPIServer runs minilab's API server alone and returns an in-process
// client of it.
func startAPIServer(t *testing.T) kubernetes.Interface {
	t.Helper()
	srv, err := apiserver.New(apiserver.Config{
		DataDir: t.TempDir(), AdvertiseAddress: net.ParseIP("172.30.0.2"),
		Logf: t.Logf, StoreOptions: store.Options{NoSync: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		srv.Shutdown()
		<-served
	})
	client, err := kubernetes.NewForConfig(srv.LoopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// runController runs a controller with its informers synced; the returned
// function stops it (it is stopped at the end of the test anyway).
func runController(t *testing.T, client kubernetes.Interface, cfg Config) (stop func()) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(client, 0)
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "service-controller"})
	c := NewController(cfg, client, factory, recorder)
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("cache of %v did not sync", typ)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 2)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			factory.Shutdown()
			broadcaster.Shutdown()
		})
	}
	t.Cleanup(stop)
	return stop
}

func mustPool(t *testing.T, s string) []netip.Addr {
	t.Helper()
	p, err := ParsePool(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func start(t *testing.T, pool string) kubernetes.Interface {
	t.Helper()
	client := startAPIServer(t)
	runController(t, client, Config{Pool: mustPool(t, pool)})
	return client
}

// waitFor polls cond every few milliseconds until it reports done; on
// timeout the test fails with cond's last description of what it saw.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last saw: %s", what, saw)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type svcOption func(*corev1.Service)

func withIP(ip string) svcOption { return func(s *corev1.Service) { s.Spec.LoadBalancerIP = ip } }

func withClass(class string) svcOption {
	return func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To(class) }
}

func withType(typ corev1.ServiceType) svcOption { return func(s *corev1.Service) { s.Spec.Type = typ } }

func createService(t *testing.T, client kubernetes.Interface, name string, opts ...svcOption) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
	for _, o := range opts {
		o(svc)
	}
	out, err := client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func getService(t *testing.T, client kubernetes.Interface, name string) *corev1.Service {
	t.Helper()
	svc, err := client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func deleteService(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	if err := client.CoreV1().Services(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// externalIP is what `kubectl get svc` shows as EXTERNAL-IP ("" for
// <pending>), after checking the ingress entry is exactly {ip, ipMode: VIP}.
func externalIP(svc *corev1.Service) string {
	ing := svc.Status.LoadBalancer.Ingress
	if len(ing) != 1 || ing[0].IPMode == nil || *ing[0].IPMode != corev1.LoadBalancerIPModeVIP || ing[0].Hostname != "" {
		return fmt.Sprintf("%+v", svc.Status.LoadBalancer)
	}
	return ing[0].IP
}

func waitForIP(t *testing.T, client kubernetes.Interface, name, ip string) *corev1.Service {
	t.Helper()
	var svc *corev1.Service
	waitFor(t, fmt.Sprintf("%s to get %s", name, ip), func() (bool, string) {
		svc = getService(t, client, name)
		return externalIP(svc) == ip, externalIP(svc)
	})
	if !slices.Contains(svc.Finalizers, cleanupFinalizer) {
		t.Errorf("%s has finalizers %v, want %s", name, svc.Finalizers, cleanupFinalizer)
	}
	return svc
}

func waitForGone(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	waitFor(t, name+" to be gone", func() (bool, string) {
		svc, err := client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("%v finalizers %v", err, svc.Finalizers)
	})
}

// eventsOf lists "Type Reason Message" of the service controller's events
// about a Service.
func eventsOf(t *testing.T, client kubernetes.Interface, name string) []string {
	t.Helper()
	list, err := client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Source.Component == "service-controller" && e.InvolvedObject.Kind == "Service" {
			out = append(out, e.Type+" "+e.Reason+" "+e.Message)
		}
	}
	return out
}

// waitForEvents waits until the Service has (at least) these events.
func waitForEvents(t *testing.T, client kubernetes.Interface, name string, want ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("events %q on %s", want, name), func() (bool, string) {
		got := eventsOf(t, client, name)
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false, fmt.Sprintf("%q", got)
			}
		}
		return true, ""
	})
}

const (
	ensuring = "Normal EnsuringLoadBalancer Ensuring load balancer"
	ensured  = "Normal EnsuredLoadBalancer Ensured load balancer"
	deleting = "Normal DeletingLoadBalancer Deleting load balancer"
	deleted  = "Normal DeletedLoadBalancer Deleted load balancer"
	failed   = "Warning SyncLoadBalancerFailed Error syncing load balancer: failed to ensure load balancer: "
)

func TestAllocatesLowestFreeAddress(t *testing.T) {
	client := start(t, "172.30.0.200-172.30.0.210")
	createService(t, client, "web")
	waitForIP(t, client, "web", "172.30.0.200")
	waitForEvents(t, client, "web", ensuring, ensured)
	createService(t, client, "api")
	waitForIP(t, client, "api", "172.30.0.201")

	// A ClusterIP Service is none of the controller's business.
	plain := createService(t, client, "plain", withType(corev1.ServiceTypeClusterIP))
	createService(t, client, "last")
	waitForIP(t, client, "last", "172.30.0.202")
	if got := getService(t, client, "plain"); len(got.Finalizers) != 0 || len(got.Status.LoadBalancer.Ingress) != 0 || got.ResourceVersion != plain.ResourceVersion {
		t.Errorf("ClusterIP Service was touched: finalizers %v status %+v", got.Finalizers, got.Status)
	}

	// The status write that web's own update events bring back is not a
	// reason to ensure again: one of each event, once.
	list, err := client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=web"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range list.Items {
		got = append(got, fmt.Sprintf("%s x%d", e.Reason, e.Count))
	}
	slices.Sort(got)
	if want := []string{"EnsuredLoadBalancer x1", "EnsuringLoadBalancer x1"}; !slices.Equal(got, want) {
		t.Errorf("events of web = %q, want %q", got, want)
	}
}

func TestLoadBalancerIP(t *testing.T) {
	client := start(t, "172.30.0.200-172.30.0.210")
	createService(t, client, "pinned", withIP("172.30.0.205"))
	waitForIP(t, client, "pinned", "172.30.0.205")

	// Requests reserve their address: automatic allocation skips it.
	createService(t, client, "first", withIP("172.30.0.200"))
	createService(t, client, "auto")
	waitForIP(t, client, "first", "172.30.0.200")
	waitForIP(t, client, "auto", "172.30.0.201")

	tests := []struct {
		name, ip, reason string
	}{
		{"outside", "10.0.0.1", "requested loadBalancerIP 10.0.0.1 is not in pool 172.30.0.200-172.30.0.210"},
		{"taken", "172.30.0.205", "requested loadBalancerIP 172.30.0.205 is already in use by service default/pinned"},
	}
	for _, tc := range tests {
		createService(t, client, tc.name, withIP(tc.ip))
		waitForEvents(t, client, tc.name, ensuring, failed+tc.reason)
		if got := getService(t, client, tc.name); len(got.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("%s: status %+v, want <pending>", tc.name, got.Status.LoadBalancer)
		}
	}

	// Pointing a pending Service at a free address gets it that address.
	svc := getService(t, client, "outside")
	svc.Spec.LoadBalancerIP = "172.30.0.209"
	if _, err := client.CoreV1().Services(ns).Update(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForIP(t, client, "outside", "172.30.0.209")
	waitForEvents(t, client, "outside", "Normal LoadbalancerIP 10.0.0.1 -> 172.30.0.209", ensured)

	// Once the holder lets go, the address goes to the Service asking.
	deleteService(t, client, "pinned")
	waitForIP(t, client, "taken", "172.30.0.205")
}

func TestConflictingRequestsFirstComeFirstServed(t *testing.T) {
	client := startAPIServer(t)
	// Created before the controller runs, so that it sees both at once.
	createService(t, client, "older", withIP("172.30.0.203"))
	createService(t, client, "younger", withIP("172.30.0.203"))
	if older, younger := getService(t, client, "older"), getService(t, client, "younger"); younger.CreationTimestamp.Before(&older.CreationTimestamp) {
		t.Fatal("younger created before older")
	}
	runController(t, client, Config{Pool: mustPool(t, "172.30.0.200-172.30.0.210")})
	waitForIP(t, client, "older", "172.30.0.203")
	// Depending on which the workers sync first, older already holds the
	// address or only asked first: either way younger is refused.
	refusals := []string{
		failed + "requested loadBalancerIP 172.30.0.203 is also requested by service default/older, which came first",
		failed + "requested loadBalancerIP 172.30.0.203 is already in use by service default/older",
	}
	waitFor(t, "younger to be refused", func() (bool, string) {
		got := eventsOf(t, client, "younger")
		return slices.ContainsFunc(got, func(e string) bool { return slices.Contains(refusals, e) }), fmt.Sprintf("%q", got)
	})
	if got := getService(t, client, "younger"); len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Fatalf("younger: status %+v, want <pending>", got.Status.LoadBalancer)
	}

	deleteService(t, client, "older")
	waitForGone(t, client, "older")
	waitForIP(t, client, "younger", "172.30.0.203")
}

func TestPoolExhausted(t *testing.T) {
	client := start(t, "172.30.0.200-172.30.0.201")
	for _, name := range []string{"a", "b", "c"} {
		createService(t, client, name)
	}
	waitForIP(t, client, "a", "172.30.0.200")
	waitForIP(t, client, "b", "172.30.0.201")
	waitForEvents(t, client, "c", ensuring, failed+"no available IPs in pool 172.30.0.200-172.30.0.201")
	if got := getService(t, client, "c"); len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Fatalf("c: status %+v, want <pending>", got.Status.LoadBalancer)
	}

	// Failures are not retried on a back-off: only an address coming free
	// sends c back to the queue, and then it gets it at once.
	deleteService(t, client, "a")
	waitForGone(t, client, "a")
	waitForEvents(t, client, "a", deleting, deleted)
	waitForIP(t, client, "c", "172.30.0.200")
	waitForEvents(t, client, "c", ensured)
}

func TestOldestWaitingServiceGetsTheFreedAddress(t *testing.T) {
	client := start(t, "172.30.0.200")
	createService(t, client, "a")
	waitForIP(t, client, "a", "172.30.0.200")
	createService(t, client, "b")
	waitForEvents(t, client, "b", failed+"no available IPs in pool 172.30.0.200")
	// c comes after b (by creationTimestamp, or by name within the same
	// second; TestChoose covers the two orders disagreeing).
	createService(t, client, "c")
	waitForEvents(t, client, "c", failed+"no available IPs in pool 172.30.0.200")

	deleteService(t, client, "a")
	waitForIP(t, client, "b", "172.30.0.200")
	if got := getService(t, client, "c"); len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("c: status %+v, want <pending>", got.Status.LoadBalancer)
	}
}

func TestRestartKeepsAddresses(t *testing.T) {
	client := startAPIServer(t)
	cfg := Config{Pool: mustPool(t, "172.30.0.200-172.30.0.210")}
	stop := runController(t, client, cfg)
	createService(t, client, "web")
	web := waitForIP(t, client, "web", "172.30.0.200")
	createService(t, client, "api")
	api := waitForIP(t, client, "api", "172.30.0.201")
	createService(t, client, "gone")
	waitForIP(t, client, "gone", "172.30.0.202")
	stop()

	// While no controller runs, a Service whose name sorts first arrives.
	createService(t, client, "aaa")
	stop = runController(t, client, cfg)
	waitForIP(t, client, "aaa", "172.30.0.203")
	for _, before := range []*corev1.Service{web, api} {
		if got := getService(t, client, before.Name); got.ResourceVersion != before.ResourceVersion {
			t.Errorf("%s rewritten: %s, was %s", before.Name, externalIP(got), externalIP(before))
		}
	}
	stop()

	// A deletion while no controller runs waits on the finalizer; the next
	// controller releases the address.
	deleteService(t, client, "gone")
	if got := getService(t, client, "gone"); got.DeletionTimestamp == nil {
		t.Fatal("gone deleted without its finalizer being removed")
	}
	runController(t, client, cfg)
	waitForGone(t, client, "gone")
	waitForEvents(t, client, "gone", deleting, deleted)
	createService(t, client, "next")
	waitForIP(t, client, "next", "172.30.0.202")
}

func TestTypeChange(t *testing.T) {
	client := start(t, "172.30.0.200")
	createService(t, client, "web")
	waitForIP(t, client, "web", "172.30.0.200")
	createService(t, client, "waiting")
	waitForEvents(t, client, "waiting", failed+"no available IPs in pool 172.30.0.200")

	setType := func(name string, typ corev1.ServiceType) {
		t.Helper()
		svc := getService(t, client, name)
		svc.Spec.Type = typ
		if _, err := client.CoreV1().Services(ns).Update(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setType("web", corev1.ServiceTypeNodePort)
	waitFor(t, "web to lose its load balancer", func() (bool, string) {
		svc := getService(t, client, "web")
		return len(svc.Status.LoadBalancer.Ingress) == 0 && len(svc.Finalizers) == 0,
			fmt.Sprintf("status %+v finalizers %v", svc.Status.LoadBalancer, svc.Finalizers)
	})
	waitForEvents(t, client, "web", "Normal Type LoadBalancer -> NodePort", deleting, deleted)
	waitForIP(t, client, "waiting", "172.30.0.200")

	// Back to LoadBalancer: pending again, the pool being used up.
	setType("web", corev1.ServiceTypeLoadBalancer)
	waitForEvents(t, client, "web", "Normal Type NodePort -> LoadBalancer", failed+"no available IPs in pool 172.30.0.200")
}

func TestOtherClassLeftAlone(t *testing.T) {
	client := startAPIServer(t)
	runController(t, client, Config{Pool: mustPool(t, "172.30.0.200-172.30.0.210"), Class: "minilab.io/lb"})
	other := createService(t, client, "other", withClass("example.com/other"), withIP("172.30.0.200"))
	createService(t, client, "a-ours", withClass("minilab.io/lb"))
	createService(t, client, "b-no-class")
	// Another class's request reserves nothing in our pool.
	waitForIP(t, client, "a-ours", "172.30.0.200")
	waitForIP(t, client, "b-no-class", "172.30.0.201")
	got := getService(t, client, "other")
	if got.ResourceVersion != other.ResourceVersion || len(got.Finalizers) != 0 || len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("other class touched: finalizers %v status %+v", got.Finalizers, got.Status)
	}
	if ev := eventsOf(t, client, "other"); len(ev) != 0 {
		t.Errorf("events on other class: %q", ev)
	}

	// Without a class configured, only Services without a class are served.
	client = startAPIServer(t)
	runController(t, client, Config{Pool: mustPool(t, "172.30.0.200-172.30.0.210")})
	classed := createService(t, client, "classed", withClass("minilab.io/lb"))
	createService(t, client, "plain")
	waitForIP(t, client, "plain", "172.30.0.200")
	if got := getService(t, client, "classed"); got.ResourceVersion != classed.ResourceVersion {
		t.Errorf("classed Service touched: finalizers %v status %+v", got.Finalizers, got.Status)
	}
}
