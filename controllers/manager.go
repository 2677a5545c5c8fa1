// Package controllers is minilab's kube-controller-manager: the control
// loops that watch the API and act on what they see. Each loop lives in a
// subpackage; this file starts them all against the API server, as clients
// of it like any other (client-go informers, work queues, writes through the
// API), so what they do shows up in watches and in `kubectl get`.
package controllers

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/minilab/minilab/controllers/daemonset"
	"github.com/minilab/minilab/controllers/deployment"
	"github.com/minilab/minilab/controllers/endpoint"
	"github.com/minilab/minilab/controllers/endpointslice"
	"github.com/minilab/minilab/controllers/garbagecollector"
	"github.com/minilab/minilab/controllers/loadbalancer"
	"github.com/minilab/minilab/controllers/namespace"
	"github.com/minilab/minilab/controllers/replicaset"
	"github.com/minilab/minilab/controllers/scheduler"
	"github.com/minilab/minilab/controllers/serviceaccount"
	"github.com/minilab/minilab/controllers/statefulset"
)

// Manager runs the controllers.
type Manager struct {
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	factory   informers.SharedInformerFactory
	informers []cache.SharedIndexInformer
	gc        *garbagecollector.Collector
	client    kubernetes.Interface
	events    record.EventBroadcaster
}

// Options tune the controllers.
type Options struct {
	// LoadBalancerPool is where LoadBalancer Services get their external
	// IPs; empty leaves them pending (no load balancer, as on bare metal).
	LoadBalancerPool []netip.Addr
}

// Start discovers the served resources and starts every controller.
func Start(ctx context.Context, cfg *rest.Config, caPEM []byte, opts Options) (*Manager, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "kube-controller-manager/minilab"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	resources, err := deletableResources(client.Discovery())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &Manager{cancel: cancel, factory: informers.NewSharedInformerFactory(client, 0), client: client}

	var namespaced []schema.GroupVersionResource
	for _, r := range resources {
		if r.Namespaced {
			namespaced = append(namespaced, r.GVR)
		}
	}
	m.gc = garbagecollector.New(md, resources)
	nsController := namespace.New(client, md, m.factory, namespaced)
	saController := serviceaccount.New(client, m.factory, caPEM)
	// Events go to the API as core/v1 Events, each controller under its
	// upstream component name (what `kubectl describe` shows under From).
	m.events = record.NewBroadcaster(record.WithContext(ctx))
	m.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := func(component string) record.EventRecorder {
		return m.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	}
	deployments := deployment.NewController(client, m.factory, recorder("deployment-controller"))
	replicaSets := replicaset.NewController(client, m.factory, recorder("replicaset-controller"))
	endpoints := endpoint.NewController(client, m.factory, recorder("endpoint-controller"))
	slices := endpointslice.NewController(client, m.factory, recorder("endpointslice-controller"))
	sched := scheduler.New(client, m.factory, recorder("default-scheduler"))
	statefulSets := statefulset.NewController(client, m.factory, recorder("statefulset-controller"))
	daemonSets := daemonset.NewController(client, m.factory, recorder("daemonset-controller"))
	var lb *loadbalancer.Controller
	if len(opts.LoadBalancerPool) > 0 {
		lb = loadbalancer.NewController(loadbalancer.Config{Pool: opts.LoadBalancerPool}, client, m.factory, recorder("service-controller"))
	}
	loops := []func(context.Context){
		nsController.Run, saController.Run, sched.Run,
		func(ctx context.Context) { deployments.Run(ctx, 2) },
		func(ctx context.Context) { replicaSets.Run(ctx, 2) },
		func(ctx context.Context) { endpoints.Run(ctx, 2) },
		func(ctx context.Context) { slices.Run(ctx, 2) },
		func(ctx context.Context) { statefulSets.Run(ctx, 2) },
		func(ctx context.Context) { daemonSets.Run(ctx, 2) },
	}
	if lb != nil {
		loops = append(loops, func(ctx context.Context) { lb.Run(ctx, 1) })
	}

	for _, inf := range []cache.SharedIndexInformer{
		m.factory.Core().V1().Namespaces().Informer(),
		m.factory.Core().V1().ServiceAccounts().Informer(),
		m.factory.Core().V1().ConfigMaps().Informer(),
		m.factory.Core().V1().Pods().Informer(),
		m.factory.Core().V1().Services().Informer(),
		m.factory.Core().V1().Nodes().Informer(),
		m.factory.Core().V1().Endpoints().Informer(),
		m.factory.Discovery().V1().EndpointSlices().Informer(),
		m.factory.Apps().V1().Deployments().Informer(),
		m.factory.Apps().V1().ReplicaSets().Informer(),
		m.factory.Apps().V1().StatefulSets().Informer(),
		m.factory.Apps().V1().DaemonSets().Informer(),
	} {
		m.informers = append(m.informers, inf)
	}
	m.factory.Start(ctx.Done())
	m.gc.Start(ctx)
	// The loops start once the caches hold the initial lists, so that they
	// act on the whole state.
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if m.WaitForSync(ctx) != nil {
			return
		}
		for _, run := range loops {
			m.wg.Add(1)
			go func(run func(context.Context)) {
				defer m.wg.Done()
				run(ctx)
			}(run)
		}
	}()
	return m, nil
}

// WaitForSync waits until every informer has its initial list, so that the
// controllers act on the full state (the lab reports ready after that).
// client-go's own WaitForCacheSync polls every 100 ms, a third of minilab's
// whole start-up; this polls every 2 ms.
func (m *Manager) WaitForSync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	synced := []cache.InformerSynced{m.gc.HasSynced}
	for _, inf := range m.informers {
		synced = append(synced, inf.HasSynced)
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for _, ok := range synced {
			if !ok() {
				done = false
				break
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("controllers: informers did not sync: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// WaitForNamespaceDefaults waits until the default namespace has what the
// controllers put into every namespace (its ServiceAccount and CA
// ConfigMap), so a lab reported ready looks like a fresh kubeadm cluster.
func (m *Manager) WaitForNamespaceDefaults(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, e1 := m.client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		_, e2 := m.client.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if e1 == nil && e2 == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("controllers: the default namespace did not get its ServiceAccount and kube-root-ca.crt: %v / %v", e1, e2)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Stop stops every controller and waits for them.
func (m *Manager) Stop() {
	m.cancel()
	m.factory.Shutdown()
	m.wg.Wait()
	m.events.Shutdown()
}

// deletableResources lists, through discovery as kube-controller-manager
// does, every resource that can be listed, watched and deleted: the ones
// the garbage collector and the namespace controller must look at.
func deletableResources(dc discovery.DiscoveryInterface) ([]garbagecollector.Resource, error) {
	lists, err := dc.ServerPreferredResources()
	if err != nil {
		return nil, fmt.Errorf("controllers: discovery: %w", err)
	}
	var out []garbagecollector.Resource
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerbs(r.Verbs, "list", "watch", "delete") {
				continue
			}
			out = append(out, garbagecollector.Resource{GVR: gv.WithResource(r.Name), Kind: r.Kind, Namespaced: r.Namespaced})
		}
	}
	return out, nil
}

func hasVerbs(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
