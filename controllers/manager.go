// Package controllers is minilab's kube-controller-manager: the control
// loops that watch the API and act on what they see. Each loop lives in a
// subpackage; this file starts them all against the API server, as clients
// of it like any other (client-go informers, work queues, writes through the
// API), so what they do shows up in watches and in `kubectl get`.
package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/minilab/minilab/controllers/garbagecollector"
	"github.com/minilab/minilab/controllers/namespace"
	"github.com/minilab/minilab/controllers/serviceaccount"
)

// Manager runs the controllers.
type Manager struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	factory informers.SharedInformerFactory
	gc      *garbagecollector.Collector
}

// Start discovers the served resources and starts every controller.
func Start(ctx context.Context, cfg *rest.Config, caPEM []byte) (*Manager, error) {
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
	m := &Manager{cancel: cancel, factory: informers.NewSharedInformerFactory(client, 0)}

	var namespaced []schema.GroupVersionResource
	for _, r := range resources {
		if r.Namespaced {
			namespaced = append(namespaced, r.GVR)
		}
	}
	m.gc = garbagecollector.New(md, resources)
	nsController := namespace.New(client, md, m.factory, namespaced)
	saController := serviceaccount.New(client, m.factory, caPEM)

	m.factory.Start(ctx.Done())
	m.gc.Start(ctx)
	for _, run := range []func(context.Context){nsController.Run, saController.Run} {
		m.wg.Add(1)
		go func(run func(context.Context)) {
			defer m.wg.Done()
			run(ctx)
		}(run)
	}
	return m, nil
}

// WaitForSync waits until every informer has its initial list, so that the
// controllers act on the full state (the lab reports ready after that).
func (m *Manager) WaitForSync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for typ, ok := range m.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("controllers: %v informer did not sync", typ)
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), m.gc.HasSynced) {
		return fmt.Errorf("controllers: the garbage collector did not sync")
	}
	return nil
}

// Stop stops every controller and waits for them.
func (m *Manager) Stop() {
	m.cancel()
	m.factory.Shutdown()
	m.wg.Wait()
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
