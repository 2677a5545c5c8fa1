package main

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/minilab/minilab/apiserver/apiservertest"
	"github.com/minilab/minilab/nodes"
	"github.com/minilab/minilab/proxy/iptables/tracer"
)

// Root integration tests: a whole lab per test, with its own name and
// subnets, its host side in a throwaway network namespace, real packets,
// real iptables rules, real kubectl and curl. Each checks that nothing is
// left behind.

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces, links, routes and iptables rules (run `sudo make test`)")
	}
}

// netLab is a lab with nodes, started through the CLI.
type netLab struct {
	*testLab
	hostNetns string
	third     int // 1-55: the lab's subnets are 172.31.<third>.0/24, 10.<100+third>.0.0/16, 10.<200+third>.0.0/16
}

func newNetLab(t *testing.T, name string, third int) *netLab {
	requireRoot(t)
	l := &netLab{testLab: newTestLab(t, name), hostNetns: "mlt-" + name + "-host", third: third}
	exec.Command("ip", "netns", "del", l.hostNetns).Run()
	if out, err := exec.Command("ip", "netns", "add", l.hostNetns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() {
		if info := readRunInfo(l.dir); info != nil {
			stopProcess(info.PID, 10*time.Second)
		}
		exec.Command("ip", "netns", "del", l.hostNetns).Run()
		if left := l.leftovers(); len(left) > 0 {
			t.Errorf("left behind: %v", left)
			for _, n := range left {
				nodes.DeleteNamespace(n)
			}
		}
	})
	return l
}

func (l *netLab) config() nodes.Config {
	return nodes.Config{Name: l.name}
}

func (l *netLab) up(extra ...string) string {
	l.tb.Helper()
	return l.testLab.up(append([]string{"--workers", "2",
		"--node-cidr", fmt.Sprintf("172.31.%d.0/24", l.third),
		"--pod-cidr", fmt.Sprintf("10.%d.0.0/16", 100+l.third),
		"--service-cidr", fmt.Sprintf("10.%d.0.0/16", 200+l.third),
		"--host-netns", l.hostNetns}, extra...)...)
}

// leftovers lists the lab's network namespaces that still exist.
func (l *netLab) leftovers() []string {
	var out []string
	names, _ := nodes.ListNamespaces()
	for _, n := range names {
		if l.config().OwnsNamespace(n) {
			out = append(out, n)
		}
	}
	return out
}

// inHost runs a command on the lab's "host" (the throwaway namespace).
func (l *netLab) inHost(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", l.hostNetns}, args...)...).CombinedOutput()
	return string(out), err
}

// inNode runs a command in a node's namespace ("worker", "control-plane",
// or "lb" for the load balancer appliance).
func (l *netLab) inNode(node string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", l.name + "-" + node}, args...)...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v: %v\n%s", node, args, err, out)
	}
	return string(out)
}

// curlNames curls url n times from the host and returns the distinct
// "Hostname:" values hello-app printed.
func (l *netLab) curlNames(url string, n int) map[string]int {
	l.t.Helper()
	names := map[string]int{}
	for i := 0; i < n; i++ {
		out, err := l.inHost("curl", "-s", "--max-time", "5", url)
		if err != nil {
			l.t.Fatalf("curl %s: %v %s", url, err, out)
		}
		if m := regexp.MustCompile(`Hostname: (\S+)`).FindStringSubmatch(out); m != nil {
			names[m[1]]++
		} else {
			l.t.Fatalf("curl %s: unexpected answer %q", url, out)
		}
	}
	return names
}

func (l *netLab) kubectl(k apiservertest.Kubectl, stdin string, args ...string) string {
	l.t.Helper()
	cmd := exec.Command(k.Path, append([]string{"--kubeconfig", filepath.Join(l.dir, "kubeconfig"), "--cache-dir", filepath.Join(l.dir, "cache")}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %v: %v\n%s", k, args, err, out)
	}
	return string(out)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const helloWorld = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello-world
spec:
  replicas: 2
  selector:
    matchLabels:
      app: hello-world
  template:
    metadata:
      labels:
        app: hello-world
    spec:
      containers:
      - name: hello-app
        image: gcr.io/google-samples/hello-app:1.0
        ports:
        - containerPort: 8080
`

func deploymentOf(name string, labels map[string]string, replicas int32, spec corev1.PodSpec) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}},
	}
}

// readyPods waits for n Running and Ready pods with the label and returns them.
func readyPods(t *testing.T, c kubernetes.Interface, selector string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	waitFor(t, fmt.Sprintf("%d ready pods %s", n, selector), 30*time.Second, func() bool {
		list, err := c.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false
		}
		pods = nil
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && p.Status.PodIP != "" {
					pods = append(pods, p)
				}
			}
		}
		return len(pods) == n && len(list.Items) == n
	})
	return pods
}

func TestClusterIPTutorial(t *testing.T) {
	l := newNetLab(t, "t3a", 51)
	kubectls := apiservertest.Kubectls(t)
	l.up()
	c := l.client()
	ctx := context.Background()

	// The nodes: Ready, with their InternalIPs, as namespaces.
	for _, k := range kubectls {
		out := l.kubectl(k, "", "get", "nodes", "-o", "wide")
		for _, want := range []string{
			`(?m)^t3a-control-plane\s+Ready\s+control-plane\s+\S+\s+v1\.33\.\d+\+minilab\s+172\.31\.51\.2\s`,
			`(?m)^t3a-worker\s+Ready\s+<none>\s+\S+\s+v1\.33\.\d+\+minilab\s+172\.31\.51\.3\s`,
			`(?m)^t3a-worker2\s+Ready\s+<none>\s+\S+\s+v1\.33\.\d+\+minilab\s+172\.31\.51\.4\s`,
		} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Fatalf("%s get nodes -o wide does not match %s:\n%s", k, want, out)
			}
		}
	}
	netns, _ := exec.Command("ip", "netns", "list").Output()
	for _, n := range []string{"t3a-control-plane", "t3a-worker", "t3a-worker2"} {
		if !strings.Contains(string(netns), n) {
			t.Fatalf("ip netns list lacks %s:\n%s", n, netns)
		}
	}

	// The tutorial.
	k := kubectls[len(kubectls)-1]
	l.kubectl(k, helloWorld, "apply", "-f", "-")
	l.kubectl(k, "", "expose", "deployment", "hello-world", "--port=80", "--target-port=8080")
	svcs := l.kubectl(kubectls[0], "", "get", "svc", "hello-world")
	if !regexp.MustCompile(`(?m)^hello-world\s+ClusterIP\s+10\.251\.\d+\.\d+\s+<none>\s+80/TCP\s+\d+s$`).MatchString(svcs) {
		t.Fatalf("get svc:\n%s", svcs)
	}
	svc, _ := c.CoreV1().Services("default").Get(ctx, "hello-world", metav1.GetOptions{})
	pods := readyPods(t, c, "app=hello-world", 2)
	if pods[0].Spec.NodeName == pods[1].Spec.NodeName || strings.Contains(pods[0].Spec.NodeName+pods[1].Spec.NodeName, "control-plane") {
		t.Fatalf("2 replicas must land on the two workers: %s, %s", pods[0].Spec.NodeName, pods[1].Spec.NodeName)
	}
	for _, p := range pods {
		want := map[string]string{"t3a-worker": "10.151.1.", "t3a-worker2": "10.151.2."}[p.Spec.NodeName]
		if !strings.HasPrefix(p.Status.PodIP, want) {
			t.Fatalf("pod %s on %s has IP %s, not from the node's podCIDR", p.Name, p.Spec.NodeName, p.Status.PodIP)
		}
	}
	url := "http://" + svc.Spec.ClusterIP
	waitFor(t, "the ClusterIP to answer", 10*time.Second, func() bool {
		_, err := l.inHost("curl", "-s", "--max-time", "2", url)
		return err == nil
	})
	names := l.curlNames(url, 20)
	if len(names) != 2 || names[pods[0].Name] == 0 || names[pods[1].Name] == 0 {
		t.Fatalf("20 curls from the host reached %v; want both pods %s and %s", names, pods[0].Name, pods[1].Name)
	}

	// The same from inside a toolbox pod, through minilab exec.
	l.kubectl(k, "", "run", "toolbox", "--image=curlimages/curl", "--restart=Never", "--", "sleep", "infinity")
	readyPods(t, c, "run=toolbox", 1)
	fromPod := map[string]int{}
	for i := 0; i < 20; i++ {
		out, code := l.run("exec", "toolbox", "--", "curl", "-s", "--max-time", "5", url)
		m := regexp.MustCompile(`Hostname: (\S+)`).FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("minilab exec toolbox -- curl: %d %s", code, out)
		}
		fromPod[m[1]]++
	}
	if len(fromPod) != 2 {
		t.Fatalf("20 curls from a pod reached %v", fromPod)
	}
	l.kubectl(k, "", "delete", "pod", "toolbox")

	// The rules kube-proxy would write, in the worker.
	chain := "KUBE-SVC-" + svcHash("default/hello-world", "tcp")
	nat := l.inNode("worker", "iptables", "-t", "nat", "-L", "KUBE-SERVICES", "-n")
	if !regexp.MustCompile(regexp.QuoteMeta(chain) + `\s+(tcp|6)\s+--\s+0\.0\.0\.0/0\s+` + regexp.QuoteMeta(svc.Spec.ClusterIP) + `\s+/\* default/hello-world cluster IP \*/ tcp dpt:80`).MatchString(nat) {
		t.Fatalf("KUBE-SERVICES of the worker lacks %s for the ClusterIP:\n%s", chain, nat)
	}
	svcChain := l.inNode("worker", "iptables", "-t", "nat", "-L", chain, "-n")
	if strings.Count(svcChain, "statistic mode random probability 0.50000000000") != 1 || strings.Count(svcChain, "KUBE-SEP-") != 2 {
		t.Fatalf("%s should spread over 2 endpoints with one 0.5 rule:\n%s", chain, svcChain)
	}
	checkNoStaleChains(t, l, 2)

	// Scale up: three backends answer.
	l.kubectl(k, "", "scale", "deployment", "hello-world", "--replicas=3")
	pods = readyPods(t, c, "app=hello-world", 3)
	waitFor(t, "3 endpoints in the rules", 10*time.Second, func() bool {
		return strings.Count(l.inNode("worker", "iptables", "-t", "nat", "-S", chain), "KUBE-SEP-") == 3
	})
	names = l.curlNames(url, 30)
	if len(names) != 3 {
		t.Fatalf("after scaling to 3, curls reached %v", names)
	}
	checkNoStaleChains(t, l, 3)

	// Scale to zero: refused at once (REJECT), not a time-out.
	l.kubectl(k, "", "scale", "deployment", "hello-world", "--replicas=0")
	readyPods(t, c, "app=hello-world", 0)
	waitFor(t, "the REJECT rule", 10*time.Second, func() bool {
		return strings.Contains(l.inNode("worker", "iptables", "-S", "KUBE-SERVICES"), "default/hello-world has no endpoints")
	})
	out, err := l.inHost("curl", "-s", "--max-time", "10", url)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("curl to a service without endpoints: %v %s (want exit 7, connection refused)", err, out)
	}
	traced := l.traceOn(t, "control-plane", 0, tracer.Packet{Source: netip.MustParseAddr(l.hostIP()),
		Destination: netip.MustParseAddr(svc.Spec.ClusterIP), Protocol: "tcp", Port: 80, From: tracer.FromOutside})
	if len(traced) != 1 || traced[0].Verdict != "REJECT" {
		t.Fatalf("the tracer does not see the REJECT: %v", traced)
	}
	checkNoStaleChains(t, l, 0)

	// Scale back, then delete the service: its chains go.
	l.kubectl(k, "", "scale", "deployment", "hello-world", "--replicas=2")
	readyPods(t, c, "app=hello-world", 2)
	clusterIP := svc.Spec.ClusterIP

	// down leaves nothing; up brings everything back with the same ClusterIP.
	if out, code := l.run("down"); code != 0 {
		t.Fatalf("down: %s", out)
	}
	if left := l.leftovers(); len(left) > 0 {
		t.Fatalf("down left namespaces: %v", left)
	}
	if links, _ := l.inHost("ip", "-o", "link"); strings.Contains(links, "t3a") {
		t.Fatalf("down left host links:\n%s", links)
	}
	if routes, _ := l.inHost("ip", "route"); strings.TrimSpace(routes) != "" {
		t.Fatalf("down left host routes:\n%s", routes)
	}
	l.up()
	c = l.client()
	svc, err = c.CoreV1().Services("default").Get(ctx, "hello-world", metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP != clusterIP {
		t.Fatalf("after down/up the service is %v (%v), ClusterIP was %s", svc.Spec.ClusterIP, err, clusterIP)
	}
	readyPods(t, c, "app=hello-world", 2)
	waitFor(t, "the ClusterIP to answer after a restart", 10*time.Second, func() bool {
		_, err := l.inHost("curl", "-s", "--max-time", "2", url)
		return err == nil
	})

	l.kubectl(k, "", "delete", "svc", "hello-world")
	waitFor(t, "the service chains to go", 10*time.Second, func() bool {
		return !strings.Contains(l.inNode("worker", "iptables-save", "-t", "nat"), chain)
	})
}

// checkNoStaleChains checks every node's nat table: no duplicate chain, no
// per-service chain that nothing jumps to, and the expected number of
// endpoint chains for hello-world.
func checkNoStaleChains(t *testing.T, l *netLab, helloEndpoints int) {
	t.Helper()
	for _, node := range []string{"control-plane", "worker", "worker2"} {
		waitFor(t, "rules settled on "+node, 10*time.Second, func() bool {
			save := l.inNode(node, "iptables-save", "-t", "nat")
			declared := map[string]int{}
			for _, m := range regexp.MustCompile(`(?m)^:(KUBE-\S+)`).FindAllStringSubmatch(save, -1) {
				declared[m[1]]++
			}
			for name, n := range declared {
				if n > 1 {
					t.Fatalf("%s: chain %s declared %d times", node, name, n)
				}
				if (strings.HasPrefix(name, "KUBE-SVC-") || strings.HasPrefix(name, "KUBE-SEP-")) && !strings.Contains(save, "-j "+name) {
					return false // stale: nothing jumps to it (yet to be cleaned)
				}
			}
			seps := map[string]bool{}
			for _, m := range regexp.MustCompile(`(?m)^-A (KUBE-SEP-\S+) .*default/hello-world`).FindAllStringSubmatch(save, -1) {
				seps[m[1]] = true
			}
			return len(seps) == helloEndpoints
		})
	}
}

// svcHash is kube-proxy's chain-name hash (sha256, base32, 16
// characters), computed here independently of the proxier.
func svcHash(portName, proto string) string {
	sum := sha256.Sum256([]byte(portName + proto))
	return base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// kubectlsFor returns the installed kubectls (oldest, newest).
func kubectlsFor(t *testing.T) []apiservertest.Kubectl { return apiservertest.Kubectls(t) }
