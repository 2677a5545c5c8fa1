package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/minilab/minilab/apiserver/apiservertest"
	"github.com/minilab/minilab/nodes"
)

// BenchmarkUpAPIOnly measures `minilab up --api-only` (background start)
// until it returns: the API answers and the controllers have synced.
// "fresh" starts from an empty data dir (CA, certificates, token and
// default objects are created); "restart" from an existing one.
func BenchmarkUpAPIOnly(b *testing.B) {
	for _, mode := range []string{"fresh", "restart"} {
		b.Run(mode, func(b *testing.B) {
			root := b.TempDir()
			dir := filepath.Join(root, "data")
			run := func(args ...string) {
				cmd := exec.Command(binary, append([]string{"--name", "bench", "--data-dir", dir}, args...)...)
				cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(root, "kubeconfig"))
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %v\n%s", args, err, out)
				}
			}
			if mode == "restart" {
				run("up", "--api-only", "--api-port", "0")
				run("down")
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if mode == "fresh" {
					b.StopTimer()
					os.RemoveAll(dir)
					b.StartTimer()
				}
				run("up", "--api-only", "--api-port", "0")
				b.StopTimer()
				run("down")
				b.StartTimer()
			}
		})
	}
}

// BenchmarkLabUp measures `minilab up` of a 3-node lab whose store already
// holds the hello-world Deployment and Service (a restart, as in the
// tutorial's second day): until the API answers, and until hello-world
// answers through its ClusterIP from the host. Needs root.
func BenchmarkLabUp(b *testing.B) {
	requireRoot(b)
	l := newBenchLab(b, "bup", 31)
	l.up()
	c := l.client()
	ctx := context.Background()
	createHelloWorld(b, c)
	svc, _ := c.CoreV1().Services("default").Get(ctx, "hello-world", metav1.GetOptions{})
	url := "http://" + svc.Spec.ClusterIP
	l.waitHTTP(b, url, 30*time.Second)
	l.run("down")
	var apiTotal, curlTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		l.up()
		apiTotal += time.Since(start)
		l.waitHTTP(b, url, 30*time.Second)
		curlTotal += time.Since(start)
		b.StopTimer()
		l.run("down")
		b.StartTimer()
	}
	b.ReportMetric(float64(apiTotal.Milliseconds())/float64(b.N), "ms-to-api")
	b.ReportMetric(float64(curlTotal.Milliseconds())/float64(b.N), "ms-to-clusterip-answer")
}

// BenchmarkExposeToFirstAnswer measures the time from a Service being
// created (what `kubectl expose` returns after) to the first successful
// HTTP request through its ClusterIP from the host: watch → proxier sync →
// iptables-restore in every node. kube-proxy's default minimum sync
// interval alone is 1 s. Needs root.
func BenchmarkExposeToFirstAnswer(b *testing.B) {
	requireRoot(b)
	l := newBenchLab(b, "bexp", 32)
	l.up()
	c := l.client()
	ctx := context.Background()
	createHelloWorld(b, c)
	svc, _ := c.CoreV1().Services("default").Get(ctx, "hello-world", metav1.GetOptions{})
	l.waitHTTP(b, "http://"+svc.Spec.ClusterIP, 30*time.Second)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("exposed-%d", i)
		created, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "hello-world"},
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
		}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		l.waitHTTP(b, "http://"+created.Spec.ClusterIP, 30*time.Second)
		total += time.Since(start)
		b.StopTimer()
		c.CoreV1().Services("default").Delete(ctx, name, metav1.DeleteOptions{})
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-first-answer")
}

// newBenchLab is newNetLab for benchmarks.
func newBenchLab(b *testing.B, name string, third int) *netLab {
	dir := b.TempDir()
	l := &netLab{testLab: &testLab{name: name, dir: filepath.Join(dir, "data"), kubeconfig: filepath.Join(dir, "kc")},
		hostNetns: "mlt-" + name + "-host", third: third}
	l.tb = b
	exec.Command("ip", "netns", "del", l.hostNetns).Run()
	if out, err := exec.Command("ip", "netns", "add", l.hostNetns).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v %s", err, out)
	}
	b.Cleanup(func() {
		if info := readRunInfo(l.dir); info != nil {
			stopProcess(info.PID, 10*time.Second)
		}
		exec.Command("ip", "netns", "del", l.hostNetns).Run()
	})
	return l
}

func createHelloWorld(b testing.TB, c kubernetes.Interface) {
	ctx := context.Background()
	labels := map[string]string{"app": "hello-world"}
	two := int32(2)
	if _, err := c.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-world"},
		Spec: appsv1.DeploymentSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "hello-app", Image: "gcr.io/google-samples/hello-app:1.0",
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-world"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
}

// waitHTTP polls url from the lab's host namespace every millisecond
// until it answers 200.
func (l *netLab) waitHTTP(tb testing.TB, url string, timeout time.Duration) {
	tb.Helper()
	host, err := nodes.OpenNamespace(l.hostNetns)
	if err != nil {
		tb.Fatal(err)
	}
	defer host.Close()
	// http.Transport dials from a goroutine of its own, so the dial itself
	// must enter the namespace.
	// A short connect timeout: before the rules exist a SYN to the
	// ClusterIP is lost, and waiting for the kernel's retransmission (1 s)
	// would measure that instead of the lab.
	client := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			derr := host.Do(func() error {
				d := net.Dialer{Timeout: 3 * time.Millisecond}
				conn, err = d.DialContext(ctx, network, addr)
				return nil
			})
			if derr != nil {
				return nil, derr
			}
			return conn, err
		},
	}}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatalf("%s did not answer within %v", url, timeout)
}

// BenchmarkServiceToDNSAnswer measures the time from a Service being
// created to the kube-dns ClusterIP answering its name from the host:
// the DNS server's informer and index, behind the proxy's DNAT. Needs root.
func BenchmarkServiceToDNSAnswer(b *testing.B) {
	requireRoot(b)
	l := newBenchLab(b, "bdns", 33)
	l.up()
	c := l.client()
	ctx := context.Background()
	host, err := nodes.OpenNamespace(l.hostNetns)
	if err != nil {
		b.Fatal(err)
	}
	defer host.Close()
	ask := func(name string) bool {
		ok := false
		host.Do(func() error {
			m := new(mdns.Msg)
			m.SetQuestion(name, mdns.TypeA)
			client := &mdns.Client{Timeout: 50 * time.Millisecond}
			r, _, err := client.Exchange(m, l.dnsIP()+":53")
			ok = err == nil && r.Rcode == mdns.RcodeSuccess && len(r.Answer) > 0
			return nil
		})
		return ok
	}
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("dns-%d", i)
		if _, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for !ask(name + ".default.svc.cluster.local.") {
			if time.Since(start) > 10*time.Second {
				b.Fatal("no answer within 10s")
			}
			time.Sleep(500 * time.Microsecond)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-dns-answer")
}

// BenchmarkPodToReady measures a pod's start: create → scheduled → sandbox
// (network namespace, veth, hostname) → container → Ready in the API, for a
// built-in image and for a host program, and then `kubectl exec` of
// `true` in it (the newest kubectl; its own start-up included). Needs root.
func BenchmarkPodToReady(b *testing.B) {
	requireRoot(b)
	l := newBenchLab(b, "bpod", 34)
	l.up()
	c := l.client()
	ctx := context.Background()
	k := apiservertest.Kubectls(b)
	kubectl := k[len(k)-1]
	for _, tc := range []struct {
		name, image string
		command     []string
	}{
		{"builtin", "traefik/whoami", nil},
		{"host-program", "busybox", []string{"sleep", "3600"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var ready, execs time.Duration
			for i := 0; i < b.N; i++ {
				name := fmt.Sprintf("%s-%d", tc.name, i)
				start := time.Now()
				_, err := c.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: tc.image, Command: tc.command}}}}, metav1.CreateOptions{})
				if err != nil {
					b.Fatal(err)
				}
				for {
					p, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
					if err == nil && isReady(p) {
						break
					}
					if time.Since(start) > 30*time.Second {
						b.Fatalf("%s not ready", name)
					}
					time.Sleep(2 * time.Millisecond)
				}
				ready += time.Since(start)
				start = time.Now()
				if out, err := exec.Command(kubectl.Path, l.kubectlArgs("exec", name, "--", "true")...).CombinedOutput(); err != nil {
					b.Fatalf("kubectl exec: %v %s", err, out)
				}
				execs += time.Since(start)
				b.StopTimer()
				c.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
				b.StartTimer()
			}
			b.ReportMetric(float64(ready.Microseconds())/1000/float64(b.N), "ms-to-ready")
			b.ReportMetric(float64(execs.Microseconds())/1000/float64(b.N), "ms-kubectl-exec")
		})
	}
}
