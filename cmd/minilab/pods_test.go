package main

// Issue 7: pods that behave like pods. Host programs run in the pod's
// namespaces, kubectl exec and logs reach them, probes decide readiness and
// restarts, terminating pods leave the proxy rules, StatefulSets keep their
// order and identity, and nothing outlives the lab.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/minilab/minilab/apiserver/apiservertest"
	"github.com/minilab/minilab/internal/pty"
)

// markerEnv is set in every container the pod tests start, so the tests
// can find any process of theirs that outlives the lab.
const markerEnv = "MINILAB_POD_TEST"

func TestPodExecLogsAndHostPrograms(t *testing.T) {
	l := newNetLab(t, "t7a", 46)
	l.up("--dns-upstream", testUpstream(t))
	c := l.client()
	marker := corev1.EnvVar{Name: markerEnv, Value: l.name}
	kubectls := apiservertest.Kubectls(t)

	deploy(t, c, "whoami", "traefik/whoami", 2, nil)
	createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "whoami"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "whoami"},
		Ports:    []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(80)}},
	}})
	// A toolbox pod as the tutorials start it: busybox sleeping, whose
	// shell and tools are the host's.
	createPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "toolbox"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "toolbox", Image: "busybox", Command: []string{"sleep", "3600"}, Env: []corev1.EnvVar{marker}}},
	}})
	waitReady(t, c, "toolbox")

	for _, k := range []apiservertest.Kubectl{kubectls[0], kubectls[len(kubectls)-1]} {
		t.Run("exec -it with "+k.String(), func(t *testing.T) {
			// The tutorials' shell in a pod, on a terminal of 30x90.
			out := l.kubectlTerminal(t, k, "exec", "-it", "toolbox", "--",
				"sh", "-c", "curl -s --max-time 5 whoami:8080; env | grep _SERVICE_ | sort; tty; stty size; hostname")
			kubernetesIP := fmt.Sprintf("10.%d.0.1", 200+l.third)
			for _, want := range []string{
				"Hostname: whoami-",
				"KUBERNETES_SERVICE_HOST=" + kubernetesIP + "\r\n",
				"KUBERNETES_SERVICE_PORT=443\r\n",
				"WHOAMI_SERVICE_HOST=10.",
				"WHOAMI_SERVICE_PORT_HTTP=8080\r\n",
				"/dev/pts/",
				"30 90\r\n",
				"toolbox\r\n",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("missing %q in:\n%s", want, out)
				}
			}
			// Exit codes come back, without a terminal too.
			cmd := exec.Command(k.Path, l.kubectlArgs("exec", "toolbox", "--", "false")...)
			if err := cmd.Run(); exitCode(err) != 1 {
				t.Errorf("kubectl exec toolbox -- false: %v, want exit status 1", err)
			}
			cmd = exec.Command(k.Path, l.kubectlArgs("exec", "-i", "toolbox", "--", "sh", "-c", "tr a-z A-Z; exit 7")...)
			cmd.Stdin = strings.NewReader("piped stdin\n")
			out2, err := cmd.Output()
			if exitCode(err) != 7 || string(out2) != "PIPED STDIN\n" {
				t.Errorf("kubectl exec -i: %q %v, want PIPED STDIN and exit status 7", out2, err)
			}
		})
	}

	t.Run("minilab exec", func(t *testing.T) {
		out, code := l.run("exec", "toolbox", "--", "sh", "-c", "hostname; grep nameserver /etc/resolv.conf")
		if code != 0 || out != "toolbox\nnameserver "+l.dnsIP()+"\n" {
			t.Fatalf("minilab exec: %d %q", code, out)
		}
	})

	// A Python web server with the container fields the tutorials use:
	// command, workingDir, runAsUser and the downward API.
	www := wwwDir(t)
	for _, f := range []string{"index.html"} {
		os.WriteFile(filepath.Join(www, f), []byte("served by python\n"), 0o644)
	}
	deploy(t, c, "pyweb", "python:3.12", 2, func(s *corev1.PodSpec) {
		s.Containers[0].Command = []string{"python3", "-m", "http.server", "8080"}
		s.Containers[0].WorkingDir = www
		s.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To(int64(65534)), RunAsGroup: ptr.To(int64(65534))}
		s.Containers[0].Env = []corev1.EnvVar{marker,
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		}
		s.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1,
			ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}
	})
	svc := createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "pyweb"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "pyweb"},
		Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
	}})
	t.Run("python http.server", func(t *testing.T) {
		k := kubectls[len(kubectls)-1]
		l.curlUntil(t, "http://"+svc.Spec.ClusterIP+"/index.html", "served by python")
		for i := 0; i < 10; i++ {
			l.curlUntil(t, "http://"+svc.Spec.ClusterIP+"/index.html?n="+strconv.Itoa(i), "served by python")
		}
		// kubectl logs deploy/pyweb picks one of its pods; each got some of
		// the requests (or is served its log all the same).
		var logs string
		waitFor(t, "access log lines in kubectl logs deploy/pyweb", 10*time.Second, func() bool {
			logs = l.kubectl(k, "", "logs", "deploy/pyweb")
			return strings.Contains(logs, `"GET /index.html`) && strings.Contains(logs, `HTTP/1.1" 200 -`)
		})
		pods := readyPods(t, c, "app=pyweb", 2)
		for _, p := range pods {
			out := l.kubectl(k, "", "exec", p.Name, "--", "sh", "-c", `hostname; id -u; id -g; pwd; echo "$POD_NAME $POD_IP $NODE_NAME"`)
			want := fmt.Sprintf("%s\n65534\n65534\n%s\n%s %s %s\n", p.Name, www, p.Name, p.Status.PodIP, p.Spec.NodeName)
			if out != want {
				t.Errorf("in %s: %q, want %q", p.Name, out, want)
			}
			if tail := l.kubectl(k, "", "logs", p.Name, "--tail=1", "--timestamps"); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z .*\n$`).MatchString(tail) {
				t.Errorf("kubectl logs %s --tail=1 --timestamps: %q", p.Name, tail)
			}
		}
	})

	t.Run("kubectl logs -f", func(t *testing.T) {
		pod := readyPods(t, c, "app=pyweb", 2)[0]
		var out syncBuffer
		cmd := exec.Command(kubectls[0].Path, l.kubectlArgs("logs", "-f", "--tail=0", pod.Name)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		// Requests straight to the pod, until kubectl shows one arriving.
		waitFor(t, "a new access log line in kubectl logs -f", 15*time.Second, func() bool {
			l.inHost("curl", "-s", "--max-time", "2", "http://"+pod.Status.PodIP+":8080/followed")
			return strings.Contains(out.String(), `"GET /followed HTTP/1.1" 404`)
		})
	})

	// Containers of a pod share its network namespace; enableServiceLinks:
	// false leaves only the kubernetes Service's variables.
	t.Run("sidecar and enableServiceLinks", func(t *testing.T) {
		createPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pair"}, Spec: corev1.PodSpec{
			EnableServiceLinks: ptr.To(false),
			Containers: []corev1.Container{
				{Name: "web", Image: "python:3.12", Command: []string{"python3", "-m", "http.server", "8080", "--directory", www}, Env: []corev1.EnvVar{marker}},
				{Name: "sidecar", Image: "curlimages/curl", Command: []string{"sleep", "3600"}, Env: []corev1.EnvVar{marker}},
			}}})
		k := kubectls[len(kubectls)-1]
		waitFor(t, "the sidecar to reach the web container on localhost", 20*time.Second, func() bool {
			cmd := exec.Command(k.Path, l.kubectlArgs("exec", "pair", "-c", "sidecar", "--", "curl", "-s", "--max-time", "2", "localhost:8080/index.html")...)
			out, _ := cmd.Output()
			return string(out) == "served by python\n"
		})
		env := l.kubectl(k, "", "exec", "pair", "-c", "sidecar", "--", "sh", "-c", "env | grep _SERVICE_HOST= | sort")
		if env != fmt.Sprintf("KUBERNETES_SERVICE_HOST=10.%d.0.1\n", 200+l.third) {
			t.Errorf("with enableServiceLinks false: %q, want only KUBERNETES_SERVICE_HOST", env)
		}
	})

	l.downAndCheckNoStrays(t)
}

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestReadinessAndRestarts(t *testing.T) {
	l := newNetLab(t, "t7b", 47)
	l.up()
	c := l.client()
	ctx := context.Background()
	marker := corev1.EnvVar{Name: markerEnv, Value: l.name}
	k := apiservertest.Kubectls(t)[0]
	www := wwwDir(t)

	// Each pod serves its own directory, www/<pod name>; the readiness
	// probe asks for /healthz there, so the test decides which pod is ready
	// by writing that file.
	t.Run("readiness", func(t *testing.T) {
		labels := map[string]string{"app": "ready"}
		spec := corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "python:3.12",
			Command: []string{"python3", "-m", "http.server", "8080", "--directory", www + "/$(POD_NAME)"},
			Env: []corev1.EnvVar{marker, {Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1,
				ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}},
		}}}
		if _, err := c.AppsV1().Deployments("default").Create(ctx, deploymentOf("ready", labels, 3, spec), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		svc := createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ready"}, Spec: corev1.ServiceSpec{
			Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}})
		var pods []corev1.Pod
		waitFor(t, "3 running pods", 30*time.Second, func() bool {
			pods = runningPods(c, "app=ready")
			return len(pods) == 3
		})
		for _, p := range pods {
			dir := filepath.Join(www, p.Name)
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, "name"), []byte(p.Name+"\n"), 0o644)
		}
		late := pods[2]
		for _, p := range pods[:2] {
			os.WriteFile(filepath.Join(www, p.Name, "healthz"), []byte("ok\n"), 0o644)
		}
		waitFor(t, "2 ready pods", 15*time.Second, func() bool { return len(readyNames(c, "app=ready")) == 2 })
		// The unready pod shows 0/1 and is in no ready endpoint.
		out := l.kubectl(k, "", "get", "pod", late.Name, "--no-headers")
		if !regexp.MustCompile(`^` + late.Name + `\s+0/1\s+Running\s`).MatchString(out) {
			t.Errorf("kubectl get pod %s: %q, want 0/1 Running", late.Name, out)
		}
		ep := l.kubectl(k, "", "get", "endpoints", "ready", "-o", "jsonpath={.subsets[*].addresses[*].ip}|{.subsets[*].notReadyAddresses[*].ip}")
		if ready, notReady, _ := strings.Cut(ep, "|"); strings.Contains(ready, late.Status.PodIP) || notReady != late.Status.PodIP {
			t.Errorf("endpoints ready=%q notReady=%q, want %s only not ready", ready, notReady, late.Status.PodIP)
		}
		if cond := sliceConditions(t, c, "ready", late.Status.PodIP); cond == nil || cond.Ready == nil || *cond.Ready {
			t.Errorf("EndpointSlice conditions of %s: %+v, want not ready", late.Name, cond)
		}
		// It never answers through the ClusterIP.
		names := map[string]int{}
		for i := 0; i < 30; i++ {
			out, err := l.inHost("curl", "-s", "--max-time", "5", "http://"+svc.Spec.ClusterIP+"/name")
			if err != nil {
				t.Fatalf("curl: %v %s", err, out)
			}
			names[strings.TrimSpace(out)]++
		}
		if names[late.Name] > 0 || len(names) != 2 {
			t.Errorf("answers through the ClusterIP: %v, want only the two ready pods", names)
		}
		// Once its probe passes it joins, within a probe period plus a sync.
		start := time.Now()
		os.WriteFile(filepath.Join(www, late.Name, "healthz"), []byte("ok\n"), 0o644)
		waitFor(t, late.Name+" ready in the EndpointSlice", 15*time.Second, func() bool {
			cond := sliceConditions(t, c, "ready", late.Status.PodIP)
			return cond != nil && cond.Ready != nil && *cond.Ready
		})
		joined := time.Since(start)
		l.curlUntil(t, "http://"+svc.Spec.ClusterIP+"/name", late.Name)
		t.Logf("readiness: %s joined the EndpointSlice %v after its probe began to pass (periodSeconds 1); answered through the ClusterIP after %v",
			late.Name, joined.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	})

	t.Run("CrashLoopBackOff", func(t *testing.T) {
		createPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "crash"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "crash", Image: "busybox", Command: []string{"sh", "-c", "echo starting; exit 1"}, Env: []corev1.EnvVar{marker}}},
		}})
		// The kubelet's back-off doubles from 10s: the first wait says 10s,
		// the second 20s, and restartCount counts the restarts.
		for i, backOff := range []string{"10s", "20s"} {
			var st corev1.ContainerStatus
			waitFor(t, "back-off "+backOff, 30*time.Second, func() bool {
				st = containerStatus(c, "crash")
				return st.State.Waiting != nil && st.State.Waiting.Reason == "CrashLoopBackOff" &&
					strings.HasPrefix(st.State.Waiting.Message, "back-off "+backOff+" restarting failed container=crash pod=crash_default(")
			})
			if st.RestartCount != int32(i+1) || st.LastTerminationState.Terminated == nil || st.LastTerminationState.Terminated.ExitCode != 1 ||
				st.LastTerminationState.Terminated.Reason != "Error" {
				t.Errorf("after back-off %s: restartCount %d, last state %+v", backOff, st.RestartCount, st.LastTerminationState)
			}
		}
		if out := l.kubectl(k, "", "logs", "crash", "--previous"); out != "starting\n" {
			t.Errorf("kubectl logs --previous: %q", out)
		}
		out := l.kubectl(k, "", "get", "pod", "crash", "--no-headers")
		if !regexp.MustCompile(`^crash\s+0/1\s+(CrashLoopBackOff|Error|Completed|Running)\s+[12] `).MatchString(out) {
			t.Errorf("kubectl get pod crash: %q", out)
		}
	})

	t.Run("restartPolicy and phases", func(t *testing.T) {
		for _, tc := range []struct {
			name, script string
			policy       corev1.RestartPolicy
			phase        corev1.PodPhase
			exit         int32
		}{
			{"never-fails", "exit 3", corev1.RestartPolicyNever, corev1.PodFailed, 3},
			{"onfailure-succeeds", "true", corev1.RestartPolicyOnFailure, corev1.PodSucceeded, 0},
		} {
			createPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name}, Spec: corev1.PodSpec{RestartPolicy: tc.policy,
				Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sh", "-c", tc.script}, Env: []corev1.EnvVar{marker}}}}})
			var p *corev1.Pod
			waitFor(t, tc.name+" "+string(tc.phase), 20*time.Second, func() bool {
				p, _ = c.CoreV1().Pods("default").Get(ctx, tc.name, metav1.GetOptions{})
				return p != nil && p.Status.Phase == tc.phase
			})
			st := p.Status.ContainerStatuses[0]
			if st.State.Terminated == nil || st.State.Terminated.ExitCode != tc.exit || st.RestartCount != 0 {
				t.Errorf("%s: %+v restarts %d", tc.name, st.State, st.RestartCount)
			}
		}
	})

	t.Run("liveness", func(t *testing.T) {
		dir := filepath.Join(www, "alive")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "healthz"), []byte("ok\n"), 0o644)
		createPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "alive"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "web", Image: "python:3.12",
				Command: []string{"python3", "-m", "http.server", "8080", "--directory", dir}, Env: []corev1.EnvVar{marker},
				LivenessProbe: &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 2,
					ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}}},
		}})
		waitReady(t, c, "alive")
		os.Remove(filepath.Join(dir, "healthz"))
		waitFor(t, "the liveness restart", 20*time.Second, func() bool {
			st := containerStatus(c, "alive")
			return st.RestartCount == 1 && st.State.Running != nil
		})
		os.WriteFile(filepath.Join(dir, "healthz"), []byte("ok\n"), 0o644)
		out := l.kubectl(k, "", "describe", "pod", "alive")
		for _, want := range []string{
			"Liveness probe failed: HTTP probe failed with statuscode: 404",
			"Container web failed liveness probe, will be restarted",
			"Restart Count:  1",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl describe pod alive lacks %q:\n%s", want, out)
			}
		}
	})

	// A program that ignores SIGTERM keeps running, Terminating, for its
	// grace period; then the kubelet kills it.
	t.Run("graceful termination", func(t *testing.T) {
		createPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stubborn"}, Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To(int64(3)),
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Env: []corev1.EnvVar{marker},
				Command: []string{"sh", "-c", `trap "echo ignoring TERM" TERM; while true; do sleep 0.1; done`}}}}})
		waitReady(t, c, "stubborn")
		deleted := time.Now()
		if err := c.CoreV1().Pods("default").Delete(ctx, "stubborn", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if out := l.kubectl(k, "", "get", "pod", "stubborn", "--no-headers"); !regexp.MustCompile(`^stubborn\s+1/1\s+Terminating\s`).MatchString(out) {
			t.Errorf("1s after the delete: %q, want 1/1 Terminating", out)
		}
		if out := l.kubectl(k, "", "logs", "stubborn"); out != "ignoring TERM\n" {
			t.Errorf("kubectl logs stubborn: %q, want the trap's line", out)
		}
		waitFor(t, "stubborn to be killed and gone", 15*time.Second, func() bool {
			_, err := c.CoreV1().Pods("default").Get(ctx, "stubborn", metav1.GetOptions{})
			return err != nil
		})
		if gone := time.Since(deleted); gone < 3*time.Second {
			t.Errorf("gone %v after the delete, before its 3s grace period", gone)
		}
	})

	l.downAndCheckNoStrays(t)
}

// TestTerminatingPodLeavesTheService deletes a backend while requests
// stream through its Service: none fails, none reaches it once the
// proxier has dropped it, and a replacement joins.
func TestTerminatingPodLeavesTheService(t *testing.T) {
	l := newNetLab(t, "t7c", 48)
	l.up("--proxy-sync-period", "1s")
	c := l.client()
	ctx := context.Background()
	pods := deploy(t, c, "term", "gcr.io/google-samples/hello-app:1.0", 3, func(s *corev1.PodSpec) {
		s.TerminationGracePeriodSeconds = ptr.To(int64(5))
	})
	svc := createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "term"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "term"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}})
	url := "http://" + svc.Spec.ClusterIP + "/"
	l.curlUntil(t, url, "Hostname: term-")
	waitFor(t, "all three pods answering", 20*time.Second, func() bool { return len(l.curlNames(url, 20)) == 3 })
	victim := pods[0]

	// Watch the EndpointSlice for the victim's terminating condition.
	sliceWatch, err := c.DiscoveryV1().EndpointSlices("default").Watch(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=term"})
	if err != nil {
		t.Fatal(err)
	}
	defer sliceWatch.Stop()
	sawTerminating := make(chan discoveryv1.EndpointConditions, 1)
	go func() {
		for ev := range sliceWatch.ResultChan() {
			slice, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			for _, e := range slice.Endpoints {
				if e.Addresses[0] == victim.Status.PodIP && ptr.Deref(e.Conditions.Terminating, false) {
					select {
					case sawTerminating <- e.Conditions:
					default:
					}
				}
			}
		}
	}()

	// A stream of requests, one connection each, as a client would send.
	type answer struct {
		start time.Time
		name  string
		err   error
	}
	var (
		mu      sync.Mutex
		answers []answer
		stop    = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			out, err := l.inHost("curl", "-s", "--max-time", "5", url)
			m := regexp.MustCompile(`Hostname: (\S+)`).FindStringSubmatch(out)
			a := answer{start: start, err: err}
			if m != nil {
				a.name = m[1]
			} else if err == nil {
				a.err = fmt.Errorf("unexpected answer %q", out)
			}
			mu.Lock()
			answers = append(answers, a)
			mu.Unlock()
		}
	}()

	time.Sleep(500 * time.Millisecond)
	deleted := time.Now()
	if err := c.CoreV1().Pods("default").Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// When every node's rules have lost the victim's address, no new
	// connection can reach it.
	var dropped time.Time
	waitFor(t, "the proxiers to drop "+victim.Status.PodIP, 15*time.Second, func() bool {
		for _, node := range []string{"control-plane", "worker", "worker2"} {
			if strings.Contains(l.inNode(node, "iptables-save", "-t", "nat"), victim.Status.PodIP) {
				return false
			}
		}
		dropped = time.Now()
		return true
	})
	// ... while the pod still terminates: the proxier dropped it for being
	// terminating, not for being gone.
	if p, err := c.CoreV1().Pods("default").Get(ctx, victim.Name, metav1.GetOptions{}); err != nil || p.DeletionTimestamp == nil {
		t.Errorf("when the rules dropped it, the victim was %v (%v), want still terminating", p, err)
	}
	var conditions discoveryv1.EndpointConditions
	select {
	case conditions = <-sawTerminating:
	case <-time.After(10 * time.Second):
		t.Fatal("the EndpointSlice never showed the deleted pod as terminating")
	}
	replacement := waitForReplacement(t, c, "app=term", victim.Name, 3)
	l.curlUntil(t, url, "Hostname: "+replacement)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-done

	var failures, afterDrop, total int
	for _, a := range answers {
		total++
		if a.err != nil {
			failures++
			t.Errorf("request at +%v failed: %v", a.start.Sub(deleted), a.err)
		}
		if a.name == victim.Name && a.start.After(dropped) {
			afterDrop++
			t.Errorf("request sent at +%v reached the deleted pod, whose rules went at +%v", a.start.Sub(deleted), dropped.Sub(deleted))
		}
	}
	t.Logf("%d requests, %d failed; the EndpointSlice showed the victim ready=%v serving=%v terminating=%v; every node dropped it %v after the delete",
		total, failures, ptr.Deref(conditions.Ready, true), ptr.Deref(conditions.Serving, false), ptr.Deref(conditions.Terminating, false),
		dropped.Sub(deleted).Round(time.Millisecond))
	if ptr.Deref(conditions.Ready, true) {
		t.Errorf("terminating endpoint still ready: %+v", conditions)
	}
	l.downAndCheckNoStrays(t)
}

func TestStatefulSetAndDaemonSet(t *testing.T) {
	l := newNetLab(t, "t7d", 49)
	l.up("--dns-upstream", testUpstream(t))
	c := l.client()
	ctx := context.Background()
	k := apiservertest.Kubectls(t)[0]

	createService(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "nginx", Labels: map[string]string{"app": "nginx"}},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "nginx"},
			Ports: []corev1.ServicePort{{Name: "web", Port: 80}}}})
	// Record, from a watch, when each pod appears, turns ready and goes.
	events := watchPodEvents(t, c, "app=nginx")
	labels := map[string]string{"app": "nginx"}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.StatefulSetSpec{
		ServiceName: "nginx", Replicas: ptr.To(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "nginx", Image: "registry.k8s.io/nginx-slim:0.8", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 80}}}}}},
	}}
	if _, err := c.AppsV1().StatefulSets("default").Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 ready web pods", 30*time.Second, func() bool { return len(readyNames(c, "app=nginx")) == 3 })
	// OrderedReady: web-N is created only once web-(N-1) is ready.
	want := []string{"added web-0", "ready web-0", "added web-1", "ready web-1", "added web-2", "ready web-2"}
	waitFor(t, "the watch to see web-2 ready", 10*time.Second, func() bool { return len(events.get()) >= len(want) })
	if got := events.get(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pod events %v, want %v", got, want)
	}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		if out := l.kubectl(k, "", "exec", name, "--", "hostname"); out != name+"\n" {
			t.Errorf("hostname in %s: %q", name, out)
		}
		p, _ := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if got := digShort(l.dig(t, "@"+l.dnsIP(), name+".nginx.default.svc.cluster.local", "+short")); len(got) != 1 || got[0] != p.Status.PodIP {
			t.Errorf("%s.nginx: %v, want %s", name, got, p.Status.PodIP)
		}
	}

	// A deleted pod comes back with its name, hostname and DNS name.
	old, _ := c.CoreV1().Pods("default").Get(ctx, "web-1", metav1.GetOptions{})
	if err := c.CoreV1().Pods("default").Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web-1 back", 30*time.Second, func() bool {
		p, err := c.CoreV1().Pods("default").Get(ctx, "web-1", metav1.GetOptions{})
		return err == nil && p.UID != old.UID && isReady(p)
	})
	if out := l.kubectl(k, "", "exec", "web-1", "--", "hostname"); out != "web-1\n" {
		t.Errorf("hostname of the new web-1: %q", out)
	}

	// Scaling down removes the highest ordinal first, one at a time.
	events.reset()
	l.kubectl(k, "", "scale", "statefulset", "web", "--replicas=1")
	waitFor(t, "web scaled to 1", 30*time.Second, func() bool {
		list, _ := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=nginx"})
		return list != nil && len(list.Items) == 1 && list.Items[0].Name == "web-0" &&
			strings.HasSuffix(strings.Join(events.get(), ","), "deleted web-1")
	})
	got := strings.Join(events.get(), ",")
	if !regexp.MustCompile(`^(ready web-1,)?terminating web-2,(\w+ web-2,)*deleted web-2,terminating web-1,(\w+ web-1,)*deleted web-1$`).MatchString(got) {
		t.Errorf("scale down events %s, want web-2 terminating and gone before web-1", got)
	}

	// A DaemonSet puts one pod on every schedulable node: the workers
	// (the control plane is tainted NoSchedule, as kubeadm does).
	dsLabels := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: dsLabels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: dsLabels}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "agent", Image: "busybox", Command: []string{"sleep", "3600"},
				Env: []corev1.EnvVar{{Name: markerEnv, Value: l.name}}}}}},
	}}
	if _, err := c.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var agents []corev1.Pod
	waitFor(t, "an agent on each worker", 30*time.Second, func() bool {
		agents = runningPods(c, "app=agent")
		return len(agents) == 2
	})
	time.Sleep(time.Second) // no third pod shows up late
	agents = runningPods(c, "app=agent")
	nodesSeen := map[string]bool{}
	for _, p := range agents {
		nodesSeen[p.Spec.NodeName] = true
	}
	if len(agents) != 2 || !nodesSeen[l.name+"-worker"] || !nodesSeen[l.name+"-worker2"] {
		t.Errorf("agent pods on %v, want one on each worker", nodesSeen)
	}

	l.downAndCheckNoStrays(t)
}

// --- helpers -------------------------------------------------------------

func createPod(t *testing.T, c kubernetes.Interface, p *corev1.Pod) {
	t.Helper()
	if _, err := c.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func isReady(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func waitReady(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	waitFor(t, name+" ready", 30*time.Second, func() bool {
		p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && isReady(p)
	})
}

func containerStatus(c kubernetes.Interface, pod string) corev1.ContainerStatus {
	p, err := c.CoreV1().Pods("default").Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil || len(p.Status.ContainerStatuses) == 0 {
		return corev1.ContainerStatus{}
	}
	return p.Status.ContainerStatuses[0]
}

// runningPods lists the Running pods with the label that are not being deleted.
func runningPods(c kubernetes.Interface, selector string) []corev1.Pod {
	list, err := c.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && p.Status.PodIP != "" {
			out = append(out, p)
		}
	}
	return out
}

func readyNames(c kubernetes.Interface, selector string) []string {
	var out []string
	for _, p := range runningPods(c, selector) {
		if isReady(&p) {
			out = append(out, p.Name)
		}
	}
	return out
}

// waitForReplacement waits for n ready pods without the old one and
// returns the name of one that is new.
func waitForReplacement(t *testing.T, c kubernetes.Interface, selector, old string, n int) string {
	t.Helper()
	var fresh string
	waitFor(t, "a replacement for "+old, 30*time.Second, func() bool {
		names := readyNames(c, selector)
		fresh = ""
		for _, name := range names {
			if name == old {
				return false
			}
			fresh = name
		}
		return len(names) == n
	})
	// The newest pod is the replacement.
	list, _ := c.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	var newest time.Time
	for _, p := range list.Items {
		if p.Name != old && p.CreationTimestamp.After(newest) {
			newest, fresh = p.CreationTimestamp.Time, p.Name
		}
	}
	return fresh
}

// sliceConditions finds an address's conditions in the Service's EndpointSlices.
func sliceConditions(t *testing.T, c kubernetes.Interface, service, ip string) *discoveryv1.EndpointConditions {
	list, err := c.DiscoveryV1().EndpointSlices("default").List(context.Background(),
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			if len(e.Addresses) > 0 && e.Addresses[0] == ip {
				return &e.Conditions
			}
		}
	}
	return nil
}

// podEvents is what a pod watch saw, in order: "added", "ready",
// "terminating" and "deleted", each with the pod's name.
type podEvents struct {
	mu   sync.Mutex
	seen []string
}

func (e *podEvents) add(s string) { e.mu.Lock(); e.seen = append(e.seen, s); e.mu.Unlock() }
func (e *podEvents) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.seen...)
}
func (e *podEvents) reset() { e.mu.Lock(); e.seen = nil; e.mu.Unlock() }

func watchPodEvents(t *testing.T, c kubernetes.Interface, selector string) *podEvents {
	w, err := c.CoreV1().Pods("default").Watch(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	e := &podEvents{}
	go func() {
		ready, terminating := map[string]bool{}, map[string]bool{}
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			switch {
			case ev.Type == watch.Added:
				e.add("added " + p.Name)
				ready[p.Name], terminating[p.Name] = false, false
			case ev.Type == watch.Deleted:
				e.add("deleted " + p.Name)
				continue
			}
			if p.DeletionTimestamp != nil && !terminating[p.Name] {
				terminating[p.Name] = true
				e.add("terminating " + p.Name)
			}
			if isReady(p) && !ready[p.Name] {
				ready[p.Name] = true
				e.add("ready " + p.Name)
			} else if !isReady(p) {
				ready[p.Name] = false
			}
		}
	}()
	return e
}

// wwwDir is a directory the pods' web servers serve, readable by the
// unprivileged users they run as.
func wwwDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "minilab-www-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func (l *netLab) kubectlArgs(args ...string) []string {
	return append([]string{"--kubeconfig", filepath.Join(l.dir, "kubeconfig"), "--cache-dir", filepath.Join(l.dir, "cache")}, args...)
}

// kubectlTerminal runs kubectl on a terminal of 30 rows and 90 columns, as
// a user at a shell would, and returns what it printed there.
func (l *netLab) kubectlTerminal(t *testing.T, k apiservertest.Kubectl, args ...string) string {
	t.Helper()
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	if err := pty.SetSize(master, 30, 90); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(k.Path, l.kubectlArgs(args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = pty.Controlling(nil)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	var out bytes.Buffer
	read := make(chan struct{})
	go func() {
		// Ends with EIO once kubectl has exited and closed the terminal.
		io.Copy(&out, master)
		close(read)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("kubectl %v: %v", args, err)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("kubectl %v did not end; it printed:\n%s", args, out.String())
	}
	select {
	case <-read:
	case <-time.After(5 * time.Second):
	}
	return out.String()
}

// downAndCheckNoStrays stops the lab and checks that no process it
// started lives on: none whose command line names the lab's data dir (the
// pod sandboxes) and none with the test marker in its environment (the
// containers' host programs).
func (l *netLab) downAndCheckNoStrays(t *testing.T) {
	t.Helper()
	// While it runs, the check finds the lab's processes (or it could not
	// find strays either).
	if running := strayProcesses(l.dir, markerEnv+"="+l.name); len(running) == 0 {
		t.Errorf("no processes of the running lab found under %s", l.dir)
	}
	if out, code := l.run("down"); code != 0 {
		t.Fatalf("minilab down: %d %s", code, out)
	}
	var strays []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if strays = strayProcesses(l.dir, markerEnv+"="+l.name); len(strays) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("processes outlived the lab:\n%s", strings.Join(strays, "\n"))
			for _, s := range strays {
				pid, _ := strconv.Atoi(strings.Fields(s)[0])
				syscall.Kill(pid, syscall.SIGKILL)
			}
			break
		}
	}
	if left := l.leftovers(); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
}

func strayProcesses(dataDir, marker string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if bytes.Contains(cmdline, []byte(dataDir)) || bytes.Contains(environ, append([]byte(marker), 0)) {
			if syscall.Kill(pid, 0) == nil {
				out = append(out, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
			}
		}
	}
	return out
}
