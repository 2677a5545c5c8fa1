package main

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Issue 5: the cluster DNS, queried with dig from the host and used by
// pods through their resolv.conf. The upstream resolver is a test server
// of the test's own, never the host's.

// testUpstream is a tiny resolver on 127.0.0.1 answering hub.example.test.
func testUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		q := r.Question[0]
		if strings.EqualFold(q.Name, "hub.example.test.") && q.Qtype == mdns.TypeA {
			rr, _ := mdns.NewRR("hub.example.test. 60 IN A 192.0.2.10")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// dig runs dig from the lab's host against the kube-dns ClusterIP.
func (l *netLab) dig(t *testing.T, args ...string) string {
	t.Helper()
	out, err := l.inHost(append([]string{"dig", "@" + l.dnsIP(), "+time=2", "+tries=1"}, args...)...)
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", args, err, out)
	}
	return out
}

func (l *netLab) dnsIP() string { return fmt.Sprintf("10.%d.0.10", 200+l.third) }

func digShort(out string) []string {
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" {
			lines = append(lines, line)
		}
	}
	sort.Strings(lines)
	return lines
}

func TestClusterDNS(t *testing.T) {
	upstream := testUpstream(t)
	l := newNetLab(t, "t5a", 54)
	l.up("--dns-upstream", upstream)
	c := l.client()
	ctx := context.Background()

	// kube-dns as in a kubeadm cluster.
	dnsPods := readyPodsIn(t, l, "kube-system", "k8s-app=kube-dns", 2)
	for _, p := range dnsPods {
		if p.Spec.NodeName != "t5a-control-plane" || !strings.HasPrefix(p.Name, "coredns-") {
			t.Fatalf("coredns pod %s on %s", p.Name, p.Spec.NodeName)
		}
	}
	kubeDNS, err := c.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || kubeDNS.Spec.ClusterIP != l.dnsIP() {
		t.Fatalf("kube-dns service: %v %+v", err, kubeDNS.Spec)
	}

	deploy(t, c, "hello-world", "gcr.io/google-samples/hello-app:1.0", 2, nil)
	svc := createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hello-world"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "hello-world"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}})

	t.Run("A and PTR from the host", func(t *testing.T) {
		var out string
		waitFor(t, "the service to resolve", 10*time.Second, func() bool {
			out = l.dig(t, "hello-world.default.svc.cluster.local")
			return strings.Contains(out, svc.Spec.ClusterIP)
		})
		if !regexp.MustCompile(`flags: qr aa rd;`).MatchString(out) || !regexp.MustCompile(`(?m)^hello-world\.default\.svc\.cluster\.local\.\s+30\s+IN\s+A\s+`+regexp.QuoteMeta(svc.Spec.ClusterIP)+`$`).MatchString(out) {
			t.Fatalf("dig A:\n%s", out)
		}
		ptr := l.dig(t, "-x", svc.Spec.ClusterIP, "+short")
		if strings.TrimSpace(ptr) != "hello-world.default.svc.cluster.local." {
			t.Fatalf("dig -x: %q", ptr)
		}
		// dig @<pod IP> straight at a coredns pod works too.
		if out := l.dig(t, "@"+dnsPods[0].Status.PodIP, "hello-world.default.svc.cluster.local", "+short"); strings.TrimSpace(out) != svc.Spec.ClusterIP {
			t.Fatalf("dig @pod: %q", out)
		}
	})

	t.Run("headless and StatefulSet names, SRV", func(t *testing.T) {
		createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hello-headless"},
			Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"app": "hello-world"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}})
		l.kubectlLatest(t, "scale", "deployment", "hello-world", "--replicas=3")
		readyPods(t, c, "app=hello-world", 3)
		waitFor(t, "3 A records", 10*time.Second, func() bool {
			return len(digShort(l.dig(t, "hello-headless.default.svc.cluster.local", "+short"))) == 3
		})

		labels := map[string]string{"app": "nginx"}
		three := int32(3)
		createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "nginx"},
			Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: labels, Ports: []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromInt32(80)}}}})
		if _, err := c.AppsV1().StatefulSets("default").Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.StatefulSetSpec{ServiceName: "nginx", Replicas: &three, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "nginx", Image: "nginx", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 80}}}}}}}},
			metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		readyPods(t, c, "app=nginx", 3)
		var web0 corev1.Pod
		for _, p := range readyPods(t, c, "app=nginx", 3) {
			if p.Name == "web-0" {
				web0 = p
			}
		}
		waitFor(t, "web-0.nginx to resolve", 10*time.Second, func() bool {
			return strings.TrimSpace(l.dig(t, "web-0.nginx.default.svc.cluster.local", "+short")) == web0.Status.PodIP
		})
		srv := digShort(l.dig(t, "SRV", "_web._tcp.nginx.default.svc.cluster.local", "+short"))
		if len(srv) != 3 {
			t.Fatalf("SRV: %v", srv)
		}
		for i, line := range srv {
			want := fmt.Sprintf(`^0 33 80 web-%d\.nginx\.default\.svc\.cluster\.local\.$`, i)
			if !regexp.MustCompile(want).MatchString(line) {
				t.Fatalf("SRV line %q does not match %s", line, want)
			}
		}
	})

	t.Run("ExternalName through the upstream", func(t *testing.T) {
		createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "my-service-1"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "hub.example.test"}})
		var out string
		waitFor(t, "the CNAME", 10*time.Second, func() bool {
			out = l.dig(t, "my-service-1.default.svc.cluster.local")
			return strings.Contains(out, "CNAME")
		})
		if !regexp.MustCompile(`(?m)^my-service-1\.default\.svc\.cluster\.local\.\s+30\s+IN\s+CNAME\s+hub\.example\.test\.$`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^hub\.example\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.10$`).MatchString(out) {
			t.Fatalf("ExternalName A query:\n%s", out)
		}
	})

	t.Run("negative answers and case", func(t *testing.T) {
		for _, tc := range []struct{ args, status, section string }{
			{"nope.default.svc.cluster.local", "NXDOMAIN", "SOA"},
			{"hello-world.nowhere.svc.cluster.local", "NXDOMAIN", "SOA"},
			{"AAAA hello-world.default.svc.cluster.local", "NOERROR", "SOA"},
		} {
			out := l.dig(t, strings.Fields(tc.args)...)
			if !strings.Contains(out, "status: "+tc.status) || !strings.Contains(out, "ANSWER: 0") || !regexp.MustCompile(`(?m)^cluster\.local\.\s+\d+\s+IN\s+SOA\s+ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\.`).MatchString(out) {
				t.Errorf("dig %s:\n%s", tc.args, out)
			}
		}
		// A headless service with no ready endpoints: NXDOMAIN.
		createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "empty-headless"},
			Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"app": "none"}, Ports: []corev1.ServicePort{{Port: 80}}}})
		time.Sleep(200 * time.Millisecond)
		if out := l.dig(t, "empty-headless.default.svc.cluster.local"); !strings.Contains(out, "status: NXDOMAIN") {
			t.Errorf("empty headless service:\n%s", out)
		}
		// Upper case is matched and echoed.
		out := l.dig(t, "Hello-World.Default.SVC.cluster.local")
		if !regexp.MustCompile(`(?m)^Hello-World\.Default\.SVC\.cluster\.local\.\s+30\s+IN\s+A\s+` + regexp.QuoteMeta(svc.Spec.ClusterIP) + `$`).MatchString(out) {
			t.Errorf("uppercase query:\n%s", out)
		}
	})

	t.Run("short names inside a pod", func(t *testing.T) {
		l.kubectlLatest(t, "run", "toolbox", "--image=nicolaka/netshoot", "--restart=Never", "--", "sleep", "infinity")
		readyPods(t, c, "run=toolbox", 1)
		resolv, code := l.run("exec", "toolbox", "--", "cat", "/etc/resolv.conf")
		want := fmt.Sprintf("nameserver %s\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n", l.dnsIP())
		if code != 0 || !strings.HasPrefix(resolv, want) {
			t.Fatalf("/etc/resolv.conf in a pod (%d):\n%s\nwant:\n%s", code, resolv, want)
		}
		if host, _ := l.run("exec", "toolbox", "--", "hostname"); strings.TrimSpace(host) != "toolbox" {
			t.Fatalf("hostname in the pod: %q", host)
		}
		for _, name := range []string{"hello-world", "hello-world.default", "hello-world.default.svc.cluster.local"} {
			out, code := l.run("exec", "toolbox", "--", "curl", "-s", "--max-time", "5", "http://"+name)
			if code != 0 || !strings.Contains(out, "Hello, world!") {
				t.Fatalf("curl %s in a pod: %d %q", name, code, out)
			}
		}
	})
}

func (l *netLab) kubectlLatest(t *testing.T, args ...string) string {
	t.Helper()
	ks := kubectlsFor(t)
	return l.kubectl(ks[len(ks)-1], "", args...)
}

// readyPodsIn is readyPods for another namespace.
func readyPodsIn(t *testing.T, l *netLab, namespace, selector string, n int) []corev1.Pod {
	t.Helper()
	c := l.client()
	var pods []corev1.Pod
	waitFor(t, fmt.Sprintf("%d ready pods %s in %s", n, selector, namespace), 30*time.Second, func() bool {
		list, err := c.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false
		}
		pods = nil
		for _, p := range list.Items {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					pods = append(pods, p)
				}
			}
		}
		return len(pods) == n
	})
	return pods
}
