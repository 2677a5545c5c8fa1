package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// These tests run the minilab binary itself, as a user would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "minilab-cli-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "minilab")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building minilab: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testLab is one lab's name, data dir and the user kubeconfig it merges into.
type testLab struct {
	t          *testing.T
	tb         testing.TB // t, or a benchmark's B
	name, dir  string
	kubeconfig string
}

func newTestLab(t *testing.T, name string) *testLab {
	dir := t.TempDir()
	l := &testLab{t: t, tb: t, name: name, dir: filepath.Join(dir, "data"), kubeconfig: filepath.Join(dir, "user-kubeconfig")}
	t.Cleanup(func() {
		if info := readRunInfo(l.dir); info != nil {
			stopProcess(info.PID, 5*time.Second)
		}
	})
	return l
}

func (l *testLab) run(args ...string) (string, int) {
	l.tb.Helper()
	cmd := exec.Command(binary, append([]string{"--name", l.name, "--data-dir", l.dir}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+l.kubeconfig, "SUDO_USER=")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		l.tb.Fatal(err)
	}
	return string(out), code
}

// up starts the lab; without arguments only its API and controllers
// (--api-only: these tests are about the CLI and the API, and need no root).
func (l *testLab) up(extra ...string) string {
	l.tb.Helper()
	if len(extra) == 0 {
		extra = []string{"--api-only"}
	}
	out, code := l.run(append([]string{"up", "--api-port", "0"}, extra...)...)
	if code != 0 {
		l.tb.Fatalf("minilab up failed (%d):\n%s", code, out)
	}
	return out
}

func (l *testLab) client() kubernetes.Interface {
	l.tb.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(l.dir, "kubeconfig"))
	if err != nil {
		l.tb.Fatal(err)
	}
	cfg.QPS = -1 // no client-side rate limit: the burst below is the point
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		l.tb.Fatal(err)
	}
	return c
}

func TestUpStatusDown(t *testing.T) {
	l := newTestLab(t, "cli1")
	if out, code := l.run("status"); code != 3 || !strings.Contains(out, `minilab "cli1" is not running`) {
		t.Fatalf("status before up: %d %s", code, out)
	}
	out := l.up()
	if !strings.Contains(out, `minilab "cli1" is up in `) || !strings.Contains(out, "kubectl --context cli1") {
		t.Fatalf("up printed:\n%s", out)
	}
	info := readRunInfo(l.dir)
	if info == nil || !strings.HasPrefix(info.Server, "https://127.0.0.1:") {
		t.Fatalf("run.json: %+v", info)
	}

	// The lab's kubeconfig is private; the user's got a context named after the lab.
	st, err := os.Stat(filepath.Join(l.dir, "kubeconfig"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig mode: %v %v", st.Mode(), err)
	}
	user, err := clientcmd.LoadFromFile(l.kubeconfig)
	if err != nil || user.CurrentContext != "cli1" || user.Clusters["cli1"] == nil || user.Clusters["cli1"].Server != info.Server {
		t.Fatalf("user kubeconfig not merged: %+v %v", user, err)
	}
	if st, _ := os.Stat(l.kubeconfig); st.Mode().Perm() != 0o600 {
		t.Fatalf("user kubeconfig mode %v", st.Mode())
	}
	if _, err := l.client().CoreV1().Namespaces().Get(context.Background(), "kube-system", metav1.GetOptions{}); err != nil {
		t.Fatalf("the API does not answer through the written kubeconfig: %v", err)
	}

	if out, code := l.run("status"); code != 0 || !strings.Contains(out, "is running: pid "+strconv.Itoa(info.PID)) {
		t.Fatalf("status while up: %d %s", code, out)
	}
	if out, code := l.run("up", "--api-only"); code != 0 || !strings.Contains(out, "is already up") {
		t.Fatalf("second up: %d %s", code, out)
	}
	if out, code := l.run("down"); code != 0 || !strings.Contains(out, `minilab "cli1" stopped.`) {
		t.Fatalf("down: %d %s", code, out)
	}
	if alive(info.PID) {
		t.Fatalf("pid %d still runs after down", info.PID)
	}
	if _, err := os.Stat(runInfoPath(l.dir)); !os.IsNotExist(err) {
		t.Fatalf("run.json left behind: %v", err)
	}
	if _, code := l.run("status"); code != 3 {
		t.Fatalf("status after down: %d", code)
	}
	if _, err := os.Stat(filepath.Join(l.dir, "state.db")); err != nil {
		t.Fatalf("down without --purge must keep the state: %v", err)
	}
	if out, code := l.run("down", "--purge"); code != 0 || !strings.Contains(out, "Removed") {
		t.Fatalf("down --purge: %d %s", code, out)
	}
	if _, err := os.Stat(l.dir); !os.IsNotExist(err) {
		t.Fatalf("data dir left after --purge")
	}
	user, _ = clientcmd.LoadFromFile(l.kubeconfig)
	if user.Contexts["cli1"] != nil || user.Clusters["cli1"] != nil || user.AuthInfos["cli1"] != nil || user.CurrentContext == "cli1" {
		t.Fatalf("context left in the user kubeconfig: %+v", user)
	}
}

// Bad input gets a one-line error with the fix and changes nothing.
func TestUpRejectsBadInput(t *testing.T) {
	l := newTestLab(t, "cli2")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "Bad_Name", "up"}, `invalid --name "Bad_Name": use 1-12 lower-case letters`},
		{[]string{"up", "--workers", "99"}, `--workers 99: use 0 to 20`},
		{[]string{"up", "--pod-cidr", "10.96.0.0/16"}, `the address ranges 10.96.0.0/16 and 10.96.0.0/12 overlap`},
		{[]string{"up", "--api-address", "localhost"}, `invalid --api-address "localhost": give an IP address`},
		{[]string{"up", "--api-port", "70000"}, `invalid --api-port 70000`},
		{[]string{"up", "--node-cidr", "172.30.0.0/28"}, `invalid --node-cidr "172.30.0.0/28"`},
		{[]string{"up", "--service-cidr", "10.96.0.1/12"}, `host bits set (did you mean 10.96.0.0/12?)`},
		{[]string{"up", "--node-port-range", "30000-70000"}, `invalid port range "30000-70000"`},
	} {
		out, code := l.run(tc.args...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("minilab %v: exit %d, output %q; want an error containing %q", tc.args, code, out, tc.want)
		}
		if readRunInfo(l.dir) != nil {
			t.Fatalf("minilab %v started a lab", tc.args)
		}
	}
	if _, err := os.Stat(filepath.Join(l.dir, "state.db")); !os.IsNotExist(err) {
		t.Errorf("bad input created state: %v", err)
	}

	// A port in use: a clear message naming the fix.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	out, code := l.run("up", "--api-only", "--api-port", port)
	if code == 0 || !strings.Contains(out, "the port is in use") || !strings.Contains(out, "--api-port") {
		t.Fatalf("up on a busy port: %d %s", code, out)
	}
	if readRunInfo(l.dir) != nil {
		t.Fatal("a lab runs after the failed up")
	}
}

// Objects whose creation was acknowledged survive a SIGKILL of the lab,
// with their resourceVersions, and a watch from an old revision replays
// what happened since (or answers 410 Gone, never silently skips).
func TestCreatesSurviveSIGKILL(t *testing.T) {
	l := newTestLab(t, "cli3")
	l.up()
	ctx := context.Background()
	client := l.client()
	start, err := client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := start.ResourceVersion
	versions := map[string]string{}
	for i := 0; i < 200; i++ {
		cm, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("burst-%03d", i)},
			Data:       map[string]string{"i": strconv.Itoa(i)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		versions[cm.Name] = cm.ResourceVersion
	}
	info := readRunInfo(l.dir)
	if err := syscall.Kill(info.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for alive(info.PID) {
		time.Sleep(5 * time.Millisecond)
	}

	l.up()
	client = l.client()
	list, err := client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{LabelSelector: ""})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, cm := range list.Items {
		if strings.HasPrefix(cm.Name, "burst-") {
			got[cm.Name] = cm.ResourceVersion
		}
	}
	if len(got) != 200 {
		t.Fatalf("%d of 200 acknowledged creates survived", len(got))
	}
	for name, rv := range versions {
		if got[name] != rv {
			t.Fatalf("%s: resourceVersion %s before the kill, %s after", name, rv, got[name])
		}
	}

	w, err := client.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: before})
	if apierrors.IsGone(err) || apierrors.IsResourceExpired(err) {
		t.Logf("watch from %s after the restart: 410 Gone", before)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	seen := 0
	timeout := time.After(10 * time.Second)
	for seen < 200 {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Error {
				if st, ok := ev.Object.(*metav1.Status); ok && st.Code == 410 {
					t.Logf("watch from %s: 410 in the stream", before)
					return
				}
				t.Fatalf("watch error: %+v", ev.Object)
			}
			cm := ev.Object.(*corev1.ConfigMap)
			if !strings.HasPrefix(cm.Name, "burst-") {
				continue
			}
			if ev.Type != watch.Added || cm.ResourceVersion != versions[cm.Name] {
				t.Fatalf("replayed event %s %s@%s, want ADDED @%s", ev.Type, cm.Name, cm.ResourceVersion, versions[cm.Name])
			}
			seen++
		case <-timeout:
			t.Fatalf("the watch from %s replayed %d of 200 creates", before, seen)
		}
	}
	t.Logf("watch from %s after the restart replayed all 200 creates", before)
}

func (r runInfo) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}
