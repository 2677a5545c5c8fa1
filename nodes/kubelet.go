package nodes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"

	"github.com/minilab/minilab/nodes/envvars"
)

// Kubelet is the agent of one node, doing what the kubelet does for the
// pods the scheduler bound to it: it registers the Node, creates each
// pod's sandbox (namespace, veth, address), starts its containers (the
// built-in images), reports status, and tears everything down when the pod
// is deleted, finishing the deletion the API server started.
type Kubelet struct {
	cfg      Config
	node     Node
	nodeNs   *Namespace
	client   kubernetes.Interface
	recorder record.EventRecorder
	ipam     *IPAM
	version  string
	logDir   string
	opts     KubeletOptions
	logf     func(string, ...interface{})

	informer cache.SharedIndexInformer
	capacity corev1.ResourceList

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup
}

// KubeletOptions configure a node agent.
type KubeletOptions struct {
	// Version is reported as the node's kubelet version (kubectl get nodes).
	Version string
	// LogDir keeps container logs, one directory per pod.
	LogDir string
	// SandboxDir keeps each pod's /etc files and its pause process's pid,
	// one directory per pod network namespace name.
	SandboxDir string
	// PauseCommand runs `minilab pause`; empty means pods get no pause
	// process (no own hostname or /etc files), as in unit tests.
	PauseCommand []string
	// DNS is the cluster DNS written into pods' resolv.conf.
	DNS DNSConfig
	// Services and ConfigMaps give containers their environment: the
	// Services' variables and configMapKeyRef/envFrom values. The caller
	// starts their informers and waits for them to sync before Run. Nil:
	// no service variables, and every ConfigMap is missing.
	Services   corelisters.ServiceLister
	ConfigMaps corelisters.ConfigMapLister
	Logf       func(string, ...interface{})
}

// NewKubelet returns the agent of one node.
func NewKubelet(cfg Config, node Node, nodeNs *Namespace, client kubernetes.Interface, recorder record.EventRecorder, opts KubeletOptions) *Kubelet {
	if opts.Logf == nil {
		opts.Logf = log.Printf
	}
	k := &Kubelet{
		cfg: cfg, node: node, nodeNs: nodeNs, client: client, recorder: recorder,
		ipam: NewIPAM(node.PodCIDR), version: opts.Version, logDir: opts.LogDir, opts: opts, logf: opts.Logf,
		workers: map[types.UID]*podWorker{},
	}
	// Like the real kubelet, watch only the pods bound to this node.
	lw := cache.NewListWatchFromClient(client.CoreV1().RESTClient(), "pods", metav1.NamespaceAll,
		fields.OneTermEqualSelector("spec.nodeName", node.Name))
	k.capacity = k.nodeObject().Status.Allocatable
	k.informer = cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { k.podChanged(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj interface{}) { k.podChanged(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj interface{}) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				k.podGone(pod)
			}
		},
	})
	return k
}

// Register creates or updates this node's Node object.
func (k *Kubelet) Register(ctx context.Context) error {
	want := k.nodeObject()
	nodes := k.client.CoreV1().Nodes()
	created, err := nodes.Create(ctx, want, metav1.CreateOptions{FieldManager: "kubelet"})
	if apierrors.IsAlreadyExists(err) {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := nodes.Get(ctx, k.node.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Labels, cur.Spec.PodCIDR, cur.Spec.PodCIDRs, cur.Spec.Taints = want.Labels, want.Spec.PodCIDR, want.Spec.PodCIDRs, want.Spec.Taints
			if cur, err = nodes.Update(ctx, cur, metav1.UpdateOptions{FieldManager: "kubelet"}); err != nil {
				return err
			}
			cur.Status = want.Status
			_, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{FieldManager: "kubelet"})
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("registering node %s: %w", k.node.Name, err)
	}
	created.Status = want.Status
	_, err = nodes.UpdateStatus(ctx, created, metav1.UpdateOptions{FieldManager: "kubelet"})
	return err
}

// nodeObject is the Node as a kubeadm node's kubelet registers it.
func (k *Kubelet) nodeObject() *corev1.Node {
	now := metav1.Now()
	labels := map[string]string{
		"kubernetes.io/hostname":  k.node.Name,
		"kubernetes.io/os":        "linux",
		"kubernetes.io/arch":      runtime.GOARCH,
		"beta.kubernetes.io/os":   "linux",
		"beta.kubernetes.io/arch": runtime.GOARCH,
	}
	var taints []corev1.Taint
	if k.node.ControlPlane {
		labels["node-role.kubernetes.io/control-plane"] = ""
		labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
		taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(memTotal(), resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(110, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(100<<30, resource.BinarySI),
	}
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: k.node.Name, Labels: labels,
			Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
		Spec: corev1.NodeSpec{PodCIDR: k.node.PodCIDR.String(), PodCIDRs: []string{k.node.PodCIDR.String()}, Taints: taints,
			ProviderID: "minilab://" + k.node.Name},
		Status: corev1.NodeStatus{
			Capacity: capacity, Allocatable: capacity,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
			},
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: k.node.IP.String()}, {Type: corev1.NodeHostName, Address: k.node.Name}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID: machineID(k.node.Name), SystemUUID: machineID("uuid-" + k.node.Name), BootID: machineID("boot-" + k.node.Name),
				KernelVersion: kernelVersion(), OSImage: osImage(), ContainerRuntimeVersion: "minilab://" + k.version,
				KubeletVersion: k.version, KubeProxyVersion: "", OperatingSystem: "linux", Architecture: runtime.GOARCH,
			},
		},
	}
}

// Run starts watching this node's pods and keeps working until ctx ends;
// then call Stop.
func (k *Kubelet) Run(ctx context.Context) {
	go k.informer.Run(ctx.Done())
	go k.heartbeat(ctx)
}

// HasSynced says whether the kubelet has seen its pods.
func (k *Kubelet) HasSynced() bool { return k.informer.HasSynced() }

// heartbeat renews the Ready condition's heartbeat, as the kubelet's node
// status updates do, so `kubectl describe node` shows a live node.
func (k *Kubelet) heartbeat(ctx context.Context) {
	t := time.NewTicker(40 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			retry.RetryOnConflict(retry.DefaultRetry, func() error {
				n, err := k.client.CoreV1().Nodes().Get(ctx, k.node.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				for i := range n.Status.Conditions {
					n.Status.Conditions[i].LastHeartbeatTime = metav1.Now()
				}
				_, err = k.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{FieldManager: "kubelet"})
				return err
			})
		}
	}
}

func (k *Kubelet) podChanged(pod *corev1.Pod) {
	k.mu.Lock()
	w, ok := k.workers[pod.UID]
	if !ok {
		w = newPodWorker(k, pod)
		k.workers[pod.UID] = w
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			w.run()
			k.mu.Lock()
			delete(k.workers, pod.UID)
			k.mu.Unlock()
		}()
	}
	k.mu.Unlock()
	w.update(pod)
}

// podGone handles a pod deleted from the API (for instance by force) while
// its worker may still run.
func (k *Kubelet) podGone(pod *corev1.Pod) {
	k.mu.Lock()
	w, ok := k.workers[pod.UID]
	k.mu.Unlock()
	if ok {
		w.gone()
	}
}

// Stop stops every pod's containers and removes the sandboxes (the lab is
// going down; the pods stay in the API and come back with it). Call it
// after the context given to Run has ended.
func (k *Kubelet) Stop() {
	k.mu.Lock()
	var ws []*podWorker
	for _, w := range k.workers {
		ws = append(ws, w)
	}
	k.mu.Unlock()
	for _, w := range ws {
		w.shutdown()
	}
	k.wg.Wait()
}

func machineID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(sum[:16])
}

func kernelVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	return 8 << 30
}

// serviceEnv is the variables of the Services a container starting now
// sees: those of its pod's namespace (with enableServiceLinks) and the
// API server's `kubernetes` Service, as the kubelet's getServiceEnvVarMap.
func (w *podWorker) serviceEnv(pod *corev1.Pod) []corev1.EnvVar {
	lister := w.k.opts.Services
	if lister == nil {
		return nil
	}
	services, _ := lister.Services(pod.Namespace).List(labels.Everything())
	if pod.Namespace != metav1.NamespaceDefault {
		if api, err := lister.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil {
			services = append(services, api)
		}
	}
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	return envvars.ServiceEnv(services, links, pod.Namespace)
}

// configMap finds a ConfigMap for configMapKeyRef and envFrom.
func (k *Kubelet) configMap(namespace, name string) (*corev1.ConfigMap, error) {
	if k.opts.ConfigMaps == nil {
		return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
	}
	return k.opts.ConfigMaps.ConfigMaps(namespace).Get(name)
}

// allocatable is the node's allocatable resources, which resourceFieldRef
// reports for limits a container does not set.
func (k *Kubelet) allocatable() corev1.ResourceList { return k.capacity }

// podIPFromStatus is the address the pod had before a restart, if any.
func podIPFromStatus(pod *corev1.Pod) netip.Addr {
	ip, _ := netip.ParseAddr(pod.Status.PodIP)
	return ip
}
