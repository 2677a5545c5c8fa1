package apiserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/minilab/minilab/apiserver"
	"github.com/minilab/minilab/apiserver/apiservertest"
	"github.com/minilab/minilab/internal/pty"
)

// createPods creates the pods the tests use: "app" (one container),
// "two" (containers a and b), "slow" and "waiting" (for the fake's special
// logs), all on node worker, and "pending", which no node runs.
func createPods(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	pods := []struct {
		name, node string
		containers []string
	}{
		{"app", "worker", []string{"app"}},
		{"two", "worker", []string{"a", "b"}},
		{"slow", "worker", []string{"app"}},
		{"waiting", "worker", []string{"app"}},
		{"pending", "", []string{"app"}},
	}
	for _, p := range pods {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name}, Spec: corev1.PodSpec{NodeName: p.node}}
		for _, c := range p.containers {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "busybox"})
		}
		if _, err := client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod %s: %v", p.name, err)
		}
	}
}

func int64p(n int64) *int64 { return &n }

// TestPodLogs reads pods/log through client-go: what the runtime writes,
// and the errors kube-apiserver gives before it asks the kubelet.
func TestPodLogs(t *testing.T) {
	fake := newFakeRuntime()
	lab := apiservertest.Start(t, apiservertest.Options{PodRuntime: fake})
	client := lab.Client()
	createPods(t, client)
	since := metav1.NewTime(logStart)
	tests := []struct {
		name    string
		pod     string
		opts    corev1.PodLogOptions
		want    string
		code    int32
		message string
	}{
		{name: "only container", pod: "app", want: "app line 1\napp line 2\napp line 3\napp line 4\napp line 5\n"},
		{name: "tail", pod: "app", opts: corev1.PodLogOptions{TailLines: int64p(2)}, want: "app line 4\napp line 5\n"},
		{name: "timestamps", pod: "app", opts: corev1.PodLogOptions{TailLines: int64p(1), Timestamps: true}, want: "2024-05-06T07:08:14Z app line 5\n"},
		{name: "named container", pod: "two", opts: corev1.PodLogOptions{Container: "b", TailLines: int64p(1)}, want: "b line 5\n"},
		{name: "follow until the container ends", pod: "app", opts: corev1.PodLogOptions{Follow: true, TailLines: int64p(1)}, want: "app line 5\napp line 6\napp line 7\napp line 8\n"},
		{name: "no node: empty log", pod: "pending", want: ""},
		{name: "container not named", pod: "two", code: 400,
			message: "a container name must be specified for pod two, choose one of: [a b]"},
		{name: "unknown container", pod: "two", opts: corev1.PodLogOptions{Container: "nope"}, code: 400,
			message: "container nope is not valid for pod two"},
		{name: "no such pod", pod: "ghost", code: 404, message: `pods "ghost" not found`},
		{name: "negative tail", pod: "app", opts: corev1.PodLogOptions{TailLines: int64p(-1)}, code: 422,
			message: `PodLogOptions "app" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0`},
		{name: "since twice", pod: "app", opts: corev1.PodLogOptions{SinceSeconds: int64p(5), SinceTime: &since}, code: 422,
			message: "PodLogOptions \"app\" is invalid: []: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"},
		{name: "zero limitBytes", pod: "app", opts: corev1.PodLogOptions{LimitBytes: int64p(0)}, code: 422,
			message: `PodLogOptions "app" is invalid: limitBytes: Invalid value: 0: must be greater than 0`},
		{name: "the kubelet's error passes through", pod: "waiting", code: 400,
			message: `container "app" in pod "waiting" is waiting to start: ContainerCreating`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Result.Error decodes a Status, as kubectl logs does.
			result := client.CoreV1().Pods("default").GetLogs(tt.pod, &tt.opts).Do(context.Background())
			body, _ := result.Raw()
			err := result.Error()
			if tt.code != 0 {
				var status apierrors.APIStatus
				if !errors.As(err, &status) {
					t.Fatalf("want a %d Status, got %v (body %q)", tt.code, err, body)
				}
				if st := status.Status(); st.Code != tt.code || st.Message != tt.message {
					t.Fatalf("got %d %q, want %d %q", st.Code, st.Message, tt.code, tt.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tt.want {
				t.Fatalf("got %q, want %q", body, tt.want)
			}
		})
	}

	t.Run("follow streams each write", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stream, err := client.CoreV1().Pods("default").GetLogs("slow", &corev1.PodLogOptions{Follow: true}).Stream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		r := bufio.NewReader(stream)
		// The runtime holds back everything after the first line; it must
		// reach the client all the same.
		if line, err := r.ReadString('\n'); err != nil || line != "app line 1\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		close(fake.release)
		rest, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if want := "app line 2\napp line 3\napp line 4\napp line 5\napp line 6\napp line 7\napp line 8\n"; string(rest) != want {
			t.Fatalf("rest %q, want %q", rest, want)
		}
	})

	t.Run("only GET", func(t *testing.T) {
		resp, body := lab.Do("POST", "/api/v1/namespaces/default/pods/app/log", nil, "")
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(body), `"reason":"MethodNotAllowed"`) {
			t.Fatalf("POST log: %d %s", resp.StatusCode, body)
		}
	})
}

// TestPodExecErrors covers what the API server answers before it upgrades
// an exec request.
func TestPodExecErrors(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{PodRuntime: newFakeRuntime()})
	createPods(t, lab.Client())
	upgrade := map[string]string{"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io"}
	tests := []struct {
		name, method, path string
		header             map[string]string
		code               int
		message            string
	}{
		{"not an upgrade", "POST", "/api/v1/namespaces/default/pods/app/exec?command=ls&stdout=true", nil,
			400, "Upgrade request required"},
		{"no streams", "POST", "/api/v1/namespaces/default/pods/app/exec?command=ls", upgrade,
			400, "you must specify at least 1 of stdin, stdout, stderr"},
		{"no node", "POST", "/api/v1/namespaces/default/pods/pending/exec?command=ls&stdout=true", upgrade,
			400, "pod pending does not have a host assigned"},
		{"container not named", "POST", "/api/v1/namespaces/default/pods/two/exec?command=ls&stdout=true", upgrade,
			400, "a container name must be specified for pod two, choose one of: [a b]"},
		{"unknown container", "POST", "/api/v1/namespaces/default/pods/app/exec?command=ls&stdout=true&container=x", upgrade,
			400, "container x is not valid for pod app"},
		{"no such pod", "GET", "/api/v1/namespaces/default/pods/ghost/exec?command=ls&stdout=true", upgrade,
			404, `pods "ghost" not found`},
		{"method", "PUT", "/api/v1/namespaces/default/pods/app/exec?command=ls&stdout=true", upgrade,
			405, "put is not supported on resources of kind \"pods/exec\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := lab.Do(tt.method, tt.path, tt.header, "")
			var status metav1.Status
			if err := json.Unmarshal(body, &status); err != nil {
				t.Fatalf("%d %s: %v", resp.StatusCode, body, err)
			}
			if resp.StatusCode != tt.code || status.Message != tt.message {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, status.Message, tt.code, tt.message)
			}
		})
	}

	t.Run("no pod runtime", func(t *testing.T) {
		bare := apiservertest.Start(t, apiservertest.Options{})
		createPods(t, bare.Client())
		err := bare.Client().CoreV1().Pods("default").GetLogs("app", &corev1.PodLogOptions{}).Do(context.Background()).Error()
		if !apierrors.IsServiceUnavailable(err) || err.Error() != "no node agent serves this pod" {
			t.Fatalf("logs without a runtime: %v", err)
		}
	})
}

// TestKubectlExecAndLogs drives kubectl exec and kubectl logs, the oldest
// and the newest kubectl, over each transport they use: SPDY for 1.27–1.29,
// WebSocket for 1.30+ (and SPDY again when told so).
func TestKubectlExecAndLogs(t *testing.T) {
	for _, k := range apiservertest.Kubectls(t) {
		transports := []string{"spdy"}
		if k.Minor >= 30 {
			transports = append(transports, "websocket")
		}
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			fake := newFakeRuntime()
			lab := apiservertest.Start(t, apiservertest.Options{PodRuntime: fake})
			createPods(t, lab.Client())
			for _, transport := range transports {
				t.Run(transport, func(t *testing.T) {
					kubectlExec(t, lab, k, fake, transport)
				})
			}
			t.Run("logs", func(t *testing.T) { kubectlLogs(t, lab, k) })
		})
	}
}

func kubectlExec(t *testing.T, lab *apiservertest.Lab, k apiservertest.Kubectl, fake *fakeRuntime, transport string) {
	kubectl := func(stdin string, args ...string) (string, string, error) {
		cmd := lab.Command(k, args...)
		cmd.Env = append(cmd.Env, transportEnv(k, transport)...)
		return lab.RunCommand(cmd, stdin)
	}
	mustRun := func(t *testing.T, stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := kubectl(stdin, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}

	t.Run("transport", func(t *testing.T) {
		// At -v=6 client-go logs each request with its answer, as
		// `POST https://… 101 Switching Protocols` up to 1.29 and as
		// `"Response" verb="GET" url="https://…" status="101 Switching Protocols"` later.
		_, errOut, err := kubectl("", "-v=6", "exec", "app", "--", "true")
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		exec := func(method string) *regexp.Regexp {
			return regexp.MustCompile(`(` + method + ` |verb="` + method + `" url=")https://127\.0\.0\.1:\d+/api/v1/namespaces/default/pods/app/exec\?command=true&container=app&stderr=true&stdout=true"?( | status=")(\d+)`)
		}
		method, other := "POST", "GET"
		if transport == "websocket" {
			method, other = other, method
		}
		if m := exec(method).FindStringSubmatch(errOut); m == nil || m[3] != "101" {
			t.Fatalf("no %s exec answered 101 in:\n%s", method, errOut)
		}
		if exec(other).MatchString(errOut) {
			t.Fatalf("kubectl also tried %s:\n%s", other, errOut)
		}
	})
	t.Run("stdout", func(t *testing.T) {
		if out := mustRun(t, "", "exec", "app", "--", "echo", "hi"); out != "hi\n" {
			t.Fatalf("got %q", out)
		}
	})
	t.Run("stderr", func(t *testing.T) {
		out, errOut, err := kubectl("", "exec", "app", "--", "sh", "-c", "echo out; echo err >&2")
		if err != nil || out != "out\n" || errOut != "err\n" {
			t.Fatalf("got %q %q %v", out, errOut, err)
		}
	})
	t.Run("exit code", func(t *testing.T) {
		_, errOut, err := kubectl("", "exec", "app", "--", "sh", "-c", "exit 3")
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
			t.Fatalf("want exit code 3, got %v", err)
		}
		if !strings.Contains(errOut, "command terminated with exit code 3") {
			t.Fatalf("stderr: %q", errOut)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		if out := mustRun(t, "abc\ndef\n", "exec", "-i", "app", "--", "cat"); out != "abc\ndef\n" {
			t.Fatalf("got %q", out)
		}
	})
	t.Run("large streams", func(t *testing.T) {
		// More than any buffer or flow-control window on the way, both ways
		// (kubectl cp sends whole tar files so).
		if out := mustRun(t, "", "exec", "app", "--", "sh", "-c", `head -c 3000000 /dev/zero | tr '\0' x`); len(out) != 3000000 || strings.Trim(out, "x") != "" {
			t.Fatalf("got %d bytes", len(out))
		}
		if out := mustRun(t, strings.Repeat("y", 3000000), "exec", "-i", "app", "--", "wc", "-c"); strings.TrimSpace(out) != "3000000" {
			t.Fatalf("wc -c: %q", out)
		}
	})
	t.Run("container", func(t *testing.T) {
		if out := mustRun(t, "", "exec", "two", "-c", "b", "--", "sh", "-c", "echo $CONTAINER"); out != "b\n" {
			t.Fatalf("got %q", out)
		}
	})
	t.Run("no node", func(t *testing.T) {
		_, errOut, err := kubectl("", "exec", "pending", "--", "true")
		if err == nil || !strings.Contains(errOut, "pod pending does not have a host assigned") {
			t.Fatalf("got %v %q", err, errOut)
		}
	})
	t.Run("tty", func(t *testing.T) {
		master, tty, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer master.Close()
		if err := pty.SetSize(master, 30, 90); err != nil {
			t.Fatal(err)
		}
		cmd := lab.Command(k, "exec", "-it", "app", "--", "sh", "-c", `tty; stty size; read line; stty size; echo "got:$line"`)
		cmd.Env = append(cmd.Env, transportEnv(k, transport)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr = pty.Controlling(nil)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		var waitErr error
		done := make(chan struct{})
		go func() {
			waitErr = cmd.Wait()
			close(done)
		}()
		defer func() {
			cmd.Process.Kill()
			<-done
		}()
		out := readTerminal(master)
		// The command runs on a terminal of its own, sized like kubectl's.
		for _, want := range []string{"/dev/pts/", "30 90\r\n"} {
			if err := out.waitFor(want, 20*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		// The window grows: kubectl gets SIGWINCH and sends the new size.
		if err := pty.SetSize(master, 50, 120); err != nil {
			t.Fatal(err)
		}
		if err := waitForSize(fake, apiserver.TerminalSize{Width: 120, Height: 50}); err != nil {
			t.Fatal(err)
		}
		master.WriteString("hello\r")
		for _, want := range []string{"50 120\r\n", "got:hello\r\n"} {
			if err := out.waitFor(want, 20*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-done:
			if waitErr != nil {
				t.Fatalf("kubectl exec -it: %v", waitErr)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("kubectl exec -it did not end")
		}
	})
}

// transportEnv makes kubectl use a transport: kubectl 1.29 uses WebSocket
// only when told to, 1.30 and newer unless told not to.
func transportEnv(k apiservertest.Kubectl, transport string) []string {
	switch {
	case transport == "spdy":
		return []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}
	case k.Minor < 30:
		return []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true"}
	}
	return nil
}

func waitForSize(fake *fakeRuntime, want apiserver.TerminalSize) error {
	timeout := time.After(20 * time.Second)
	var seen []apiserver.TerminalSize
	for {
		select {
		case size := <-fake.resized:
			if size == want {
				return nil
			}
			seen = append(seen, size)
		case <-timeout:
			return fmt.Errorf("the terminal size %+v did not arrive; sizes seen: %+v", want, seen)
		}
	}
}

func kubectlLogs(t *testing.T, lab *apiservertest.Lab, k apiservertest.Kubectl) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"logs", "app"}, "app line 1\napp line 2\napp line 3\napp line 4\napp line 5\n"},
		{[]string{"logs", "app", "--tail=2"}, "app line 4\napp line 5\n"},
		{[]string{"logs", "-f", "app", "--tail=1"}, "app line 5\napp line 6\napp line 7\napp line 8\n"},
		{[]string{"logs", "two", "-c", "b", "--tail=1", "--timestamps"}, "2024-05-06T07:08:14Z b line 5\n"},
	}
	for _, tt := range tests {
		if out := lab.MustRun(k, "", tt.args...); out != tt.want {
			t.Errorf("kubectl %s: got %q, want %q", strings.Join(tt.args, " "), out, tt.want)
		}
	}
	// kubectl checks a named container against the pod itself.
	if _, errOut, err := lab.Run(k, "", "logs", "two", "-c", "nope"); err == nil || !strings.Contains(errOut, "nope") {
		t.Errorf("kubectl logs -c nope: %v %q", err, errOut)
	}
	// An error from the node comes back as kube-apiserver passes it on.
	_, errOut, err := lab.Run(k, "", "logs", "waiting")
	if want := `Error from server (BadRequest): container "app" in pod "waiting" is waiting to start: ContainerCreating`; err == nil || strings.TrimSpace(errOut) != want {
		t.Errorf("kubectl logs waiting: %v %q, want %q", err, errOut, want)
	}
}
