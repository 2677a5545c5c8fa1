package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/minilab/minilab/apiserver/apiservertest"
	"github.com/minilab/minilab/nodes"
	"github.com/minilab/minilab/proxy/iptables/tracer"
)

// Issue 4: every Service feature of the iptables proxier, with real
// packets from the host, from pods and from inside nodes.

func (l *netLab) nodeIP(i int) string { return fmt.Sprintf("172.31.%d.%d", l.third, i+2) }
func (l *netLab) hostIP() string      { return fmt.Sprintf("172.31.%d.1", l.third) }

// deploy creates a Deployment of one container and waits for its pods.
func deploy(t *testing.T, c kubernetes.Interface, name, image string, replicas int32, mutate func(*corev1.PodSpec)) []corev1.Pod {
	t.Helper()
	labels := map[string]string{"app": name}
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}}
	if mutate != nil {
		mutate(&spec)
	}
	_, err := c.AppsV1().Deployments("default").Create(context.Background(), deploymentOf(name, labels, replicas, spec), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return readyPods(t, c, "app="+name, int(replicas))
}

func createService(t *testing.T, c kubernetes.Interface, svc *corev1.Service) *corev1.Service {
	t.Helper()
	out, err := c.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// curlUntil curls from the host until the answer matches (rules are written
// asynchronously, as in any cluster).
func (l *netLab) curlUntil(t *testing.T, url, pattern string) string {
	t.Helper()
	var out string
	waitFor(t, url+" to answer "+pattern, 15*time.Second, func() bool {
		out, _ = l.inHost("curl", "-s", "--max-time", "2", url)
		return regexp.MustCompile(pattern).MatchString(out)
	})
	return out
}

func TestNodePortAndServiceFeatures(t *testing.T) {
	l := newNetLab(t, "t4a", 52)
	l.up("--proxy-sync-period", "500ms")
	c := l.client()
	ctx := context.Background()
	kubectls := apiservertest.Kubectls(t)
	k := kubectls[len(kubectls)-1]

	pods := deploy(t, c, "hello-world", "gcr.io/google-samples/hello-app:1.0", 2, nil)
	l.kubectl(k, "", "expose", "deployment", "hello-world", "--target-port=8080", "--port=80", "--type=NodePort")
	svc, _ := c.CoreV1().Services("default").Get(ctx, "hello-world", metav1.GetOptions{})
	nodePort := svc.Spec.Ports[0].NodePort
	if out := l.kubectl(kubectls[0], "", "get", "svc", "hello-world"); !regexp.MustCompile(fmt.Sprintf(`NodePort\s+\S+\s+<none>\s+80:%d/TCP`, nodePort)).MatchString(out) {
		t.Fatalf("get svc:\n%s", out)
	}

	t.Run("NodePort on every node from the host", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			url := fmt.Sprintf("http://%s:%d", l.nodeIP(i), nodePort)
			l.curlUntil(t, url, "Hostname:")
			if names := l.curlNames(url, 16); len(names) != 2 {
				t.Errorf("node %d: 16 curls reached %v, want both pods", i, names)
			}
		}
	})
	t.Run("the tracer agrees: NodePort and ClusterIP", func(t *testing.T) {
		want := map[string]float64{}
		for _, p := range pods {
			want[p.Status.PodIP+":8080 ACCEPT"] = 0.5
		}
		check := func(what string, got []tracer.Outcome, masq bool) {
			t.Helper()
			m := endpointsOf(got)
			for k, v := range want {
				if math.Abs(m[k]-v) > 1e-9 {
					t.Fatalf("%s: traced %v, want %v\n%s", what, m, want, got[0].Explain())
				}
			}
			for _, o := range got {
				if o.Masquerade != masq {
					t.Fatalf("%s: masquerade %v, want %v\n%s", what, o.Masquerade, masq, o.Explain())
				}
			}
		}
		host := netip.MustParseAddr(l.hostIP())
		// What curl from the host did above: to every node's NodePort
		// (masqueraded, eTP Cluster) and to the ClusterIP at the control
		// plane (masqueraded: the host is not a pod).
		for i, node := range []string{"control-plane", "worker", "worker2"} {
			check("NodePort on "+node, l.traceOn(t, node, i, tracer.Packet{Source: host, Destination: netip.MustParseAddr(l.nodeIP(i)),
				Protocol: "tcp", Port: nodePort, From: tracer.FromOutside}), true)
		}
		check("ClusterIP from the host", l.traceOn(t, "control-plane", 0, tracer.Packet{Source: host,
			Destination: netip.MustParseAddr(svc.Spec.ClusterIP), Protocol: "tcp", Port: 80, From: tracer.FromOutside}), true)
		// From a pod (not a backend: a backend reaching itself is hairpin
		// traffic, masqueraded) to the ClusterIP: not masqueraded.
		check("ClusterIP from a pod", l.traceOn(t, "worker", 1, tracer.Packet{Source: netip.MustParseAddr(fmt.Sprintf("10.%d.1.250", 100+l.third)),
			Destination: netip.MustParseAddr(svc.Spec.ClusterIP), Protocol: "tcp", Port: 80, From: tracer.FromPod}), false)
		// 127.0.0.1:nodePort inside a node, as curl did.
		check("localhost NodePort", l.traceOn(t, "worker", 1, tracer.Packet{Destination: netip.MustParseAddr("127.0.0.1"),
			Protocol: "tcp", Port: nodePort, From: tracer.FromNode}), true)
		// A port nothing serves: not DNATed.
		out := l.traceOn(t, "worker", 1, tracer.Packet{Source: host, Destination: netip.MustParseAddr(l.nodeIP(1)), Protocol: "tcp", Port: 31999, From: tracer.FromOutside})
		if len(out) != 1 || out[0].Endpoint != "" {
			t.Fatalf("an unused NodePort was DNATed: %v", out)
		}
	})

	t.Run("NodePort on 127.0.0.1 inside a node", func(t *testing.T) {
		out := l.inNode("worker", "curl", "-s", "--max-time", "5", fmt.Sprintf("http://127.0.0.1:%d", nodePort))
		if !strings.Contains(out, "Hello, world!") {
			t.Fatalf("localhost NodePort: %q", out)
		}
		rules := l.inNode("worker", "iptables", "-t", "nat", "-L", "KUBE-NODEPORTS", "-n")
		if !strings.Contains(rules, "KUBE-EXT-"+svcHash("default/hello-world", "tcp")) || !strings.Contains(rules, fmt.Sprintf("dpt:%d", nodePort)) {
			t.Fatalf("KUBE-NODEPORTS:\n%s", rules)
		}
	})
	t.Run("NodePort from a pod", func(t *testing.T) {
		out, code := l.run("exec", pods[0].Name, "--", "curl", "-s", "--max-time", "5", fmt.Sprintf("http://%s:%d", l.nodeIP(0), nodePort))
		if code != 0 || !strings.Contains(out, "Hello, world!") {
			t.Fatalf("from a pod: %d %s", code, out)
		}
	})

	t.Run("requested node ports", func(t *testing.T) {
		np := func(name string, port int32) error {
			_, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "hello-world"},
					Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: port}}}}, metav1.CreateOptions{})
			return err
		}
		if err := np("fixed", 30007); err != nil {
			t.Fatal(err)
		}
		l.curlUntil(t, fmt.Sprintf("http://%s:30007", l.nodeIP(1)), "Hostname:")
		if err := np("clash", 30007); err == nil || !strings.Contains(err.Error(), `spec.ports[0].nodePort: Invalid value: 30007: provided port is already allocated`) {
			t.Fatalf("second 30007: %v", err)
		}
		if err := np("low", 29999); err == nil || !strings.Contains(err.Error(), `spec.ports[0].nodePort: Invalid value: 29999: provided port is not in the valid range. The range of valid ports is 30000-32767`) {
			t.Fatalf("29999: %v", err)
		}
	})

	t.Run("session affinity", func(t *testing.T) {
		l.kubectl(k, "", "run", "client", "--image=nicolaka/netshoot", "--restart=Never", "--", "sleep", "infinity")
		readyPods(t, c, "run=client", 1)
		l.kubectl(k, "", "patch", "svc", "hello-world", "-p", `{"spec":{"sessionAffinity":"ClientIP"}}`)
		affinityChain := "KUBE-SEP-"
		waitFor(t, "affinity rules", 10*time.Second, func() bool {
			return strings.Contains(l.inNode("worker", "iptables-save", "-t", "nat"), "--rcheck --seconds 10800 --reap --name "+affinityChain)
		})
		names := map[string]int{}
		for i := 0; i < 20; i++ {
			out, _ := l.run("exec", "client", "--", "curl", "-s", "--max-time", "5", "http://"+svc.Spec.ClusterIP)
			if m := regexp.MustCompile(`Hostname: (\S+)`).FindStringSubmatch(out); m != nil {
				names[m[1]]++
			}
		}
		if len(names) != 1 || sumCounts(names) != 20 {
			t.Fatalf("with ClientIP affinity, 20 curls from one pod reached %v", names)
		}
		l.kubectl(k, "", "patch", "svc", "hello-world", "-p", `{"spec":{"sessionAffinity":"None"}}`)
		waitFor(t, "affinity rules gone", 10*time.Second, func() bool {
			return !strings.Contains(l.inNode("worker", "iptables-save", "-t", "nat"), "--rcheck")
		})
		names = map[string]int{}
		for i := 0; i < 20; i++ {
			out, _ := l.run("exec", "client", "--", "curl", "-s", "--max-time", "5", "http://"+svc.Spec.ClusterIP)
			if m := regexp.MustCompile(`Hostname: (\S+)`).FindStringSubmatch(out); m != nil {
				names[m[1]]++
			}
		}
		if len(names) != 2 {
			t.Fatalf("back to None, 20 curls reached %v", names)
		}
	})

	t.Run("hairpin: a pod reaches itself through its Service", func(t *testing.T) {
		deploy(t, c, "solo", "gcr.io/google-samples/hello-app:2.0", 1, nil)
		solo := createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "solo"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "solo"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}})
		pod := readyPods(t, c, "app=solo", 1)[0]
		var out string
		waitFor(t, "hairpin answer", 10*time.Second, func() bool {
			out, _ = l.run("exec", pod.Name, "--", "curl", "-s", "--max-time", "2", "http://"+solo.Spec.ClusterIP)
			return strings.Contains(out, "Version: 2.0.0")
		})
		idx := map[string]int{"t4a-control-plane": 0, "t4a-worker": 1, "t4a-worker2": 2}[pod.Spec.NodeName]
		traced := l.traceOn(t, strings.TrimPrefix(pod.Spec.NodeName, "t4a-"), idx, tracer.Packet{Source: netip.MustParseAddr(pod.Status.PodIP),
			Destination: netip.MustParseAddr(solo.Spec.ClusterIP), Protocol: "tcp", Port: 80, From: tracer.FromPod})
		if len(traced) != 1 || traced[0].Endpoint != pod.Status.PodIP+":8080" || !traced[0].Masquerade {
			t.Fatalf("the tracer does not see the hairpin masquerade: %v", traced)
		}
	})

	t.Run("externalIPs", func(t *testing.T) {
		// An address routed to the lab: the host sends it to worker2,
		// whose proxy answers for it.
		ext := fmt.Sprintf("10.%d.99.99", 100+l.third)
		createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "hello-world"}, ExternalIPs: []string{ext},
				Ports: []corev1.ServicePort{{Port: 8888, TargetPort: intstr.FromInt32(8080)}}}})
		if out, err := l.inHost("ip", "route", "add", ext+"/32", "via", l.nodeIP(2)); err != nil {
			t.Fatal(out)
		}
		l.curlUntil(t, "http://"+ext+":8888", "Hostname:")
	})

	t.Run("multi-port, named targetPort and UDP", func(t *testing.T) {
		deploy(t, c, "netexec", "registry.k8s.io/e2e-test-images/agnhost:2.47", 2, func(s *corev1.PodSpec) {
			s.Containers[0].Args = []string{"netexec", "--http-port=8080", "--udp-port=8081"}
			s.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "udp", ContainerPort: 8081, Protocol: corev1.ProtocolUDP}}
		})
		ne := createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "netexec"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "netexec"}, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
				{Name: "udp", Port: 90, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("udp")},
			}}})
		l.curlUntil(t, "http://"+ne.Spec.ClusterIP+"/hostname", "^netexec-")
		var reply string
		waitFor(t, "a UDP answer through the ClusterIP", 10*time.Second, func() bool {
			reply = l.udpAsk(t, ne.Spec.ClusterIP+":90", "hostname")
			return strings.HasPrefix(reply, "netexec-")
		})
	})

	t.Run("a Service without selector to a program in a toolbox pod", func(t *testing.T) {
		l.kubectl(k, "", "run", "backend", "--image=busybox", "--restart=Never", "--", "sleep", "infinity")
		backend := readyPods(t, c, "run=backend", 1)[0]
		server := exec.Command(binary, "--name", l.name, "--data-dir", l.dir, "exec", "backend", "--", "python3", "-m", "http.server", "8000", "--bind", "0.0.0.0")
		if err := server.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			server.Process.Kill()
			server.Wait()
		}()
		manual := createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "manual"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8000)}}}})
		_, err := c.CoreV1().Endpoints("default").Create(ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "manual"},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: backend.Status.PodIP}},
				Ports: []corev1.EndpointPort{{Name: "http", Port: 8000}}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l.curlUntil(t, "http://"+manual.Spec.ClusterIP+"/", "Directory listing")
	})

	t.Run("a flushed nat table is repaired within the sync period", func(t *testing.T) {
		url := fmt.Sprintf("http://%s:%d", l.nodeIP(1), nodePort)
		l.curlUntil(t, url, "Hostname:")
		l.inNode("worker", "iptables", "-t", "nat", "-F")
		if out, err := l.inHost("curl", "-s", "--max-time", "1", url); err == nil && strings.Contains(out, "Hostname") {
			t.Fatal("the NodePort still answered right after the flush; the test flushed nothing")
		}
		l.curlUntil(t, url, "Hostname:")
		if !strings.Contains(l.inNode("worker", "iptables-save", "-t", "nat"), "KUBE-SEP-") {
			t.Fatal("endpoint chains missing after the repair")
		}
	})

	t.Run("metrics", func(t *testing.T) {
		out := l.kubectl(k, "", "get", "--raw", "/metrics")
		for _, want := range []string{`kubeproxy_sync_proxy_rules_duration_seconds_count{node="t4a-worker"}`,
			`kubeproxy_sync_full_proxy_rules_duration_seconds_count{node="t4a-worker"}`,
			`kubeproxy_sync_partial_proxy_rules_duration_seconds_count{node="t4a-worker"}`,
			`kubeproxy_network_programming_duration_seconds_bucket{node="t4a-worker",le=`,
			`kubeproxy_sync_proxy_rules_iptables_total{node="t4a-worker",table="nat"}`} {
			if !strings.Contains(out, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
	_ = types.NamespacedName{}
	_ = pods
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// udpAsk sends one datagram from the host namespace and returns the reply.
func (l *netLab) udpAsk(t *testing.T, addr, msg string) string {
	t.Helper()
	host, err := nodes.OpenNamespace(l.hostNetns)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	var reply string
	host.Do(func() error {
		conn, err := net.Dial("udp4", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
		conn.Write([]byte(msg))
		buf := make([]byte, 256)
		n, err := conn.Read(buf)
		if err == nil {
			reply = strings.TrimSpace(string(buf[:n]))
		}
		return nil
	})
	return reply
}

func TestExternalTrafficPolicyLocal(t *testing.T) {
	l := newNetLab(t, "t4b", 53)
	l.up()
	c := l.client()
	ctx := context.Background()
	// whoami on worker only.
	deploy(t, c, "whoami", "traefik/whoami", 1, func(s *corev1.PodSpec) {
		s.NodeSelector = map[string]string{"kubernetes.io/hostname": "t4b-worker"}
	})
	svc := createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "whoami"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Selector: map[string]string{"app": "whoami"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}}}})
	nodePort, hc := svc.Spec.Ports[0].NodePort, svc.Spec.HealthCheckNodePort
	if hc == 0 {
		t.Fatal("no healthCheckNodePort allocated for an eTP Local LoadBalancer")
	}
	// The worker with the pod answers, and whoami sees the host's address.
	out := l.curlUntil(t, fmt.Sprintf("http://%s:%d", l.nodeIP(1), nodePort), "RemoteAddr:")
	if !strings.Contains(out, "RemoteAddr: "+l.hostIP()+":") {
		t.Fatalf("the client address was not preserved:\n%s", out)
	}
	// Nodes without a local endpoint drop the traffic.
	for _, i := range []int{0, 2} {
		out, err := l.inHost("curl", "-s", "--max-time", "1", fmt.Sprintf("http://%s:%d", l.nodeIP(i), nodePort))
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 28 {
			t.Errorf("node %d without a local endpoint: %v %q (want a time-out: the packet is dropped)", i, err, out)
		}
	}
	// Health check node ports: 200 where the endpoint is, 503 elsewhere.
	for i, want := range []string{"503", "200", "503"} {
		var code string
		waitFor(t, "health check answers", 10*time.Second, func() bool {
			code, _ = l.inHost("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", fmt.Sprintf("http://%s:%d/", l.nodeIP(i), hc))
			return code == want
		})
	}
	body, _ := l.inHost("curl", "-s", "--max-time", "2", fmt.Sprintf("http://%s:%d/", l.nodeIP(1), hc))
	if !strings.Contains(body, `"localEndpoints": 1`) || !strings.Contains(body, `"name": "whoami"`) {
		t.Fatalf("health check body:\n%s", body)
	}
	// The tracer agrees: the node with the endpoint DNATs without
	// masquerading; the others drop.
	host := netip.MustParseAddr(l.hostIP())
	pod := readyPods(t, c, "app=whoami", 1)[0]
	for i, node := range []string{"control-plane", "worker", "worker2"} {
		out := l.traceOn(t, node, i, tracer.Packet{Source: host, Destination: netip.MustParseAddr(l.nodeIP(i)), Protocol: "tcp", Port: nodePort, From: tracer.FromOutside})
		if len(out) != 1 {
			t.Fatalf("%s: %d outcomes: %v", node, len(out), out)
		}
		o := out[0]
		if node == "worker" && (o.Endpoint != pod.Status.PodIP+":80" || o.Masquerade || o.Verdict != "ACCEPT") {
			t.Fatalf("%s: traced %s, want the local pod unmasqueraded\n%s", node, o, o.Explain())
		}
		if node != "worker" && o.Verdict != "DROP" {
			t.Fatalf("%s: traced %s, want DROP (no local endpoint)\n%s", node, o, o.Explain())
		}
	}

	// The proxy's own health.
	if code, _ := l.inHost("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", fmt.Sprintf("http://%s:10256/healthz", l.nodeIP(2))); code != "200" {
		t.Fatalf("kube-proxy healthz on worker2: %s", code)
	}
	_ = ctx
}

// traceOn parses a node's real iptables-save and traces a packet through it.
func (l *netLab) traceOn(t *testing.T, node string, nodeIndex int, p tracer.Packet) []tracer.Outcome {
	t.Helper()
	rs, err := tracer.Parse([]byte(l.inNode(node, "iptables-save")))
	if err != nil {
		t.Fatalf("parsing %s's iptables-save: %v", node, err)
	}
	out, err := rs.Trace(tracer.Node{IPs: []netip.Addr{netip.MustParseAddr(l.nodeIP(nodeIndex))},
		ClusterCIDR: netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", 100+l.third))}, p)
	if err != nil {
		t.Fatalf("trace on %s: %v", node, err)
	}
	return out
}

// endpointsOf sums the outcomes' probabilities per endpoint ("" = not
// DNATed) with the verdict, e.g. {"10.151.1.2:8080 ACCEPT": 0.5, ...}.
func endpointsOf(outcomes []tracer.Outcome) map[string]float64 {
	m := map[string]float64{}
	for _, o := range outcomes {
		m[o.Endpoint+" "+o.Verdict] += o.Probability
	}
	return m
}
