package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/minilab/minilab/apiserver"
	"github.com/minilab/minilab/apiserver/allocator"
	"github.com/minilab/minilab/controllers"
	"github.com/minilab/minilab/dns"
	"github.com/minilab/minilab/nodes"
	"github.com/minilab/minilab/proxy"
)

// runningLab is everything one lab runs, in the order it starts: the API
// server, the network (bridge, node namespaces, routes), the controllers,
// a kubelet and a kube-proxy per node. It stops in the reverse order.
type runningLab struct {
	cfg       *upConfig
	api       *apiserver.Server
	network   *nodes.Network
	mgr       *controllers.Manager
	kubelets  []*nodes.Kubelet
	proxiers  []*proxy.Proxier
	events    record.EventBroadcaster
	metrics   *prometheus.Registry
	dns       *dns.Server
	runtime   *podRuntime
	appliance *nodes.Appliance
	client    kubernetes.Interface

	cancel   context.CancelFunc
	serveErr chan error
}

// startLab starts a lab. On error everything started so far is stopped.
func startLab(parent context.Context, cfg *upConfig) (lab *runningLab, err error) {
	ctx, cancel := context.WithCancel(parent)
	lab = &runningLab{cfg: cfg, cancel: cancel, serveErr: make(chan error, 1), runtime: &podRuntime{}}
	defer func() {
		if err != nil {
			lab.stop()
		}
	}()
	ncfg := cfg.nodesConfig()
	cp := ncfg.ControlPlane()
	lab.metrics = prometheus.NewRegistry()
	lab.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	lab.api, err = apiserver.New(apiserver.Config{
		Metrics:          promhttp.HandlerFor(lab.metrics, promhttp.HandlerOpts{}),
		DataDir:          cfg.dataDir,
		BindAddress:      cfg.apiAddress,
		Port:             cfg.apiPort,
		ServiceCIDR:      cfg.serviceCIDR,
		NodePortRange:    cfg.nodePorts,
		AdvertiseAddress: net.IP(cp.IP.AsSlice()),
		PodRuntime:       lab.runtime,
	})
	if err != nil {
		return lab, err
	}
	if err = lab.api.Listen(); err != nil {
		return lab, err
	}
	if !cfg.apiOnly {
		if lab.network, err = nodes.CreateNetwork(ncfg); err != nil {
			return lab, err
		}
		// Pods reach the API at https://10.96.0.1 → the control-plane
		// node's 172.30.0.2:6443, served from inside that node.
		var l net.Listener
		if err = lab.network.Node(cp.Name).Do(func() error {
			var lerr error
			l, lerr = net.Listen("tcp4", net.JoinHostPort(cp.IP.String(), "6443"))
			return lerr
		}); err != nil {
			return lab, fmt.Errorf("serving the API inside %s: %w", cp.Name, err)
		}
		lab.api.AddListener(l)
	}
	go func() { lab.serveErr <- lab.api.Serve(ctx) }()

	var ctlOpts controllers.Options
	if !cfg.apiOnly {
		ctlOpts.LoadBalancerPool = cfg.lbPool
	}
	if lab.mgr, err = controllers.Start(ctx, lab.api.LoopbackConfig(), lab.api.CAPEM(), ctlOpts); err != nil {
		return lab, err
	}
	if cfg.apiOnly {
		return lab, nil
	}
	if err = lab.startNodes(ctx, ncfg); err != nil {
		return lab, err
	}
	return lab, nil
}

// startNodes registers the nodes and starts their kubelets and proxiers.
func (lab *runningLab) startNodes(ctx context.Context, ncfg nodes.Config) error {
	loopback := rest.CopyConfig(lab.api.LoopbackConfig())
	loopback.UserAgent = "kubelet/minilab"
	client, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return err
	}
	lab.client = client
	lab.events = record.NewBroadcaster(record.WithContext(ctx))
	lab.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})

	// The cluster DNS: its server, the image its pods run, its objects.
	dnsIP, _ := nthAddr(lab.cfg.serviceCIDR, 10)
	if err := lab.startDNS(ctx, dnsIP); err != nil {
		return err
	}

	version := apiserver.KubernetesVersion().GitVersion
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// What containers' environments are made of: Services (their
	// variables) and ConfigMaps, seen by every kubelet.
	envFactory := informers.NewSharedInformerFactory(client, 0)
	services, configMaps := envFactory.Core().V1().Services(), envFactory.Core().V1().ConfigMaps()
	services.Informer()
	configMaps.Informer()
	envFactory.Start(ctx.Done())
	// Polled every 2 ms: client-go's WaitForCacheSync polls every 100 ms,
	// a third of the lab's start-up.
	for !services.Informer().HasSynced() || !configMaps.Informer().HasSynced() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubelet: the Service and ConfigMap informers did not sync: %w", ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	for _, node := range ncfg.Nodes() {
		recorder := lab.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: node.Name})
		k := nodes.NewKubelet(ncfg, node, lab.network.Node(node.Name), client, recorder, nodes.KubeletOptions{
			Version: version, LogDir: filepath.Join(lab.cfg.dataDir, "pods"),
			SandboxDir: filepath.Join(lab.cfg.dataDir, "sandboxes"), PauseCommand: []string{self, "pause"},
			DNS:      nodes.DNSConfig{ClusterDNS: []string{dnsIP.String()}, ClusterDomain: lab.cfg.clusterDomain, HostResolvConf: "/etc/resolv.conf"},
			Services: services.Lister(), ConfigMaps: configMaps.Lister(),
		})
		if err := k.Register(ctx); err != nil {
			return err
		}
		k.Run(ctx)
		lab.kubelets = append(lab.kubelets, k)
		lab.runtime.add(k)
	}

	proxyConfig := rest.CopyConfig(lab.api.LoopbackConfig())
	proxyConfig.UserAgent = "kube-proxy/minilab"
	proxyClient, err := kubernetes.NewForConfig(proxyConfig)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(proxyClient, 0)
	metrics := proxy.NewMetrics(lab.metrics)
	for _, node := range ncfg.Nodes() {
		info := proxy.NodeInfo{Name: node.Name, IPs: []netip.Addr{node.IP}, ClusterCIDR: ncfg.PodCIDR}
		ns := lab.network.Node(node.Name)
		p := proxy.NewProxier(info, proxy.NewIPTablesWriter(ns), factory, metrics, proxy.NewHealthServer(ns, node.Name))
		if lab.cfg.proxySyncPeriod > 0 {
			p.SyncPeriod = lab.cfg.proxySyncPeriod
		}
		lab.proxiers = append(lab.proxiers, p)
	}
	// The load balancer appliance, fed by the same informers.
	lab.appliance = nodes.NewAppliance(lab.network, factory)
	factory.Start(ctx.Done())
	for _, p := range lab.proxiers {
		go p.Run(ctx)
	}
	go lab.appliance.Run(ctx)
	return nil
}

// startDNS starts the cluster DNS server (fed by its own informers) and
// creates the kube-dns addon objects; the coredns pods then run the server.
func (lab *runningLab) startDNS(ctx context.Context, dnsIP netip.Addr) error {
	cfg := rest.CopyConfig(lab.api.LoopbackConfig())
	cfg.UserAgent = "coredns/minilab"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	upstreams := lab.cfg.dnsUpstreams
	if len(upstreams) == 0 {
		upstreams, _ = dns.ReadUpstreams("/etc/resolv.conf")
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	lab.dns = dns.New(dns.Config{Zone: lab.cfg.clusterDomain, TTL: 30, Upstreams: upstreams, Metrics: prometheus.NewRegistry()}, factory)
	registerCoreDNSImage(lab.dns)
	factory.Start(ctx.Done())
	return ensureDNSAddon(ctx, client, lab.cfg.clusterDomain, dnsIP)
}

// nthAddr is the n-th address of a CIDR (kube-dns is the 10th).
func nthAddr(cidr string, n uint64) (netip.Addr, error) {
	r, err := allocator.NewIPRange(cidr)
	if err != nil {
		return netip.Addr{}, err
	}
	return r.Nth(n)
}

// waitReady waits until the lab is usable: controllers synced, the default
// namespace ready, every kubelet watching and every node's rules written.
func (lab *runningLab) waitReady(ctx context.Context) error {
	if err := lab.mgr.WaitForSync(ctx); err != nil {
		return err
	}
	if err := lab.mgr.WaitForNamespaceDefaults(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		ready := true
		for _, k := range lab.kubelets {
			ready = ready && k.HasSynced()
		}
		for _, p := range lab.proxiers {
			ready = ready && p.Syncs() > 0
		}
		if ready && lab.dns != nil {
			ready = lab.dns.HasSynced() && lab.systemPodsReady(ctx)
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the nodes did not become ready within a minute")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// systemPodsReady says whether every kube-system pod runs and is ready, as
// `minilab up` promises before it returns.
func (lab *runningLab) systemPodsReady(ctx context.Context) bool {
	if lab.client == nil {
		return true
	}
	pods, err := lab.client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) == 0 {
		return false
	}
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready || p.DeletionTimestamp != nil {
			return false
		}
	}
	return true
}

// stop stops the lab: proxiers, kubelets (their pods' sandboxes go), the
// controllers, the network, then the API server.
func (lab *runningLab) stop() {
	lab.cancel()
	for _, k := range lab.kubelets {
		k.Stop()
	}
	if lab.events != nil {
		lab.events.Shutdown()
	}
	if lab.mgr != nil {
		lab.mgr.Stop()
	}
	if lab.network != nil {
		if err := lab.network.Destroy(); err != nil {
			fmt.Println("minilab: removing the network:", err)
		}
	}
	if lab.api != nil {
		lab.api.Shutdown()
	}
}
