// Package apiservertest starts a real minilab API server, with its
// controllers, for tests: on a free port of 127.0.0.1, in a temporary data
// dir, with a kubeconfig that real kubectl can use. It also finds the kubectl
// binaries installed on the machine.
package apiservertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/minilab/minilab/apiserver"
	"github.com/minilab/minilab/controllers"
	"github.com/minilab/minilab/store"
)

// Lab is a running API server with its controllers.
type Lab struct {
	Server     *apiserver.Server
	DataDir    string
	Kubeconfig string // path of a kubeconfig for the lab (context "minilab")
	Port       int

	t      testing.TB
	cancel context.CancelFunc
	done   chan struct{}
	mgr    *controllers.Manager
}

// Options tune Start.
type Options struct {
	DataDir string // reuse a data dir (restart); default a fresh temp dir
	Port    int    // 0: a free port
	NoSync  bool   // store without fsync (faster, for benchmarks)
	// HistoryLimit is how many events the store keeps for watches (0: its default).
	HistoryLimit int
	// PodRuntime serves pods/log and pods/exec (nil: they answer 503).
	PodRuntime apiserver.PodRuntime
}

// Start starts a lab and stops it when the test ends.
func Start(t testing.TB, opts Options) *Lab {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	l := &Lab{t: t, DataDir: opts.DataDir, done: make(chan struct{})}
	srv, err := apiserver.New(apiserver.Config{
		DataDir:          opts.DataDir,
		Port:             opts.Port,
		AdvertiseAddress: net.ParseIP("172.30.0.2"),
		Logf:             t.Logf,
		StoreOptions:     store.Options{NoSync: opts.NoSync, HistoryLimit: opts.HistoryLimit},
		PodRuntime:       opts.PodRuntime,
	})
	if err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	if err := srv.Listen(); err != nil {
		srv.Shutdown()
		t.Fatalf("listening: %v", err)
	}
	l.Server = srv
	_, portStr, _ := net.SplitHostPort(srv.Addr())
	l.Port, _ = strconv.Atoi(portStr)
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() {
		defer close(l.done)
		srv.Serve(ctx)
	}()
	l.mgr, err = controllers.Start(ctx, srv.LoopbackConfig(), srv.CAPEM(), controllers.Options{})
	if err != nil {
		l.Stop()
		t.Fatalf("starting controllers: %v", err)
	}
	if err := l.mgr.WaitForSync(ctx); err != nil {
		l.Stop()
		t.Fatal(err)
	}
	if err := l.mgr.WaitForNamespaceDefaults(ctx); err != nil {
		l.Stop()
		t.Fatal(err)
	}
	l.Kubeconfig = filepath.Join(opts.DataDir, "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["minilab"] = &clientcmdapi.Cluster{Server: srv.URL(), CertificateAuthorityData: srv.CAPEM()}
	cfg.AuthInfos["minilab"] = &clientcmdapi.AuthInfo{Token: srv.Token()}
	cfg.Contexts["minilab"] = &clientcmdapi.Context{Cluster: "minilab", AuthInfo: "minilab", Namespace: "default"}
	cfg.CurrentContext = "minilab"
	if err := clientcmd.WriteToFile(*cfg, l.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	return l
}

// Stop stops the lab (idempotent).
func (l *Lab) Stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	if l.mgr != nil {
		l.mgr.Stop()
	}
	l.Server.Shutdown()
	<-l.done
	l.cancel = nil
}

// RESTConfig returns a client configuration that goes through HTTPS with the
// token, as an outside client would.
func (l *Lab) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            l.Server.URL(),
		BearerToken:     l.Server.Token(),
		TLSClientConfig: rest.TLSClientConfig{CAData: l.Server.CAPEM()},
		QPS:             -1, // tests make bursts; no client-side rate limit
	}
}

// Do sends a raw request with the lab's token and returns the response.
func (l *Lab) Do(method, path string, header map[string]string, body string) (*http.Response, []byte) {
	l.t.Helper()
	req, err := http.NewRequest(method, l.Server.URL()+path, strings.NewReader(body))
	if err != nil {
		l.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+l.Server.Token())
	for k, v := range header {
		req.Header.Set(k, v)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(l.Server.CAPEM())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

// Client returns a clientset over HTTPS.
func (l *Lab) Client() kubernetes.Interface {
	c, err := kubernetes.NewForConfig(l.RESTConfig())
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

// Kubectl is one kubectl binary.
type Kubectl struct {
	Path  string
	Minor int // 27 for v1.27.x
}

func (k Kubectl) String() string { return fmt.Sprintf("kubectl-1.%d", k.Minor) }

var versionedName = regexp.MustCompile(`^kubectl\.1\.(\d+)$`)

// Kubectls returns the oldest and the newest kubectl installed: `kubectl`
// on PATH and every kubectl.1.NN next to it or on PATH (Google Cloud SDK
// installs them so). The test is skipped only when there is none.
func Kubectls(t testing.TB) []Kubectl {
	t.Helper()
	found := map[int]Kubectl{}
	dirs := filepath.SplitList(os.Getenv("PATH"))
	dirs = append(dirs, "/usr/lib/google-cloud-sdk/bin")
	if p, err := exec.LookPath("kubectl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	for _, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if m := versionedName.FindStringSubmatch(e.Name()); m != nil {
				minor, _ := strconv.Atoi(m[1])
				if _, ok := found[minor]; !ok {
					found[minor] = Kubectl{Path: filepath.Join(dir, e.Name()), Minor: minor}
				}
			}
		}
	}
	if len(found) == 0 {
		if p, err := exec.LookPath("kubectl"); err == nil {
			if minor := clientMinor(p); minor > 0 {
				found[minor] = Kubectl{Path: p, Minor: minor}
			}
		}
	}
	if len(found) == 0 {
		t.Skip("no kubectl installed (looked for kubectl and kubectl.1.NN on PATH and in /usr/lib/google-cloud-sdk/bin)")
	}
	var minors []int
	for m := range found {
		minors = append(minors, m)
	}
	sort.Ints(minors)
	out := []Kubectl{found[minors[0]]}
	if len(minors) > 1 {
		out = append(out, found[minors[len(minors)-1]])
	}
	return out
}

func clientMinor(path string) int {
	out, err := exec.Command(path, "version", "--client").Output()
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`v1\.(\d+)\.`).FindStringSubmatch(string(out))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// Run runs kubectl against the lab and returns stdout, stderr and the error.
// Each kubectl gets its own discovery cache dir, so versions do not share
// cached discovery.
func (l *Lab) Run(k Kubectl, stdin string, args ...string) (string, string, error) {
	l.t.Helper()
	return l.RunCommand(l.Command(k, args...), stdin)
}

// Command prepares a kubectl command against the lab (its own discovery
// cache dir per kubectl version), for callers that need to adjust it, e.g.
// its environment or a terminal.
func (l *Lab) Command(k Kubectl, args ...string) *exec.Cmd {
	cacheDir := filepath.Join(l.DataDir, "kubectl-cache-"+strconv.Itoa(k.Minor))
	cmd := exec.Command(k.Path, append([]string{"--kubeconfig", l.Kubeconfig, "--cache-dir", cacheDir}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+l.DataDir, "KUBECONFIG="+l.Kubeconfig)
	return cmd
}

// RunCommand runs a command from Command with stdin and returns stdout,
// stderr and the error; it gives up after a minute.
func (l *Lab) RunCommand(cmd *exec.Cmd, stdin string) (string, string, error) {
	args := cmd.Args[1:]
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return stdout.String(), stderr.String(), err
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		return stdout.String(), stderr.String(), fmt.Errorf("kubectl %v timed out", args)
	}
}

// MustRun runs kubectl and fails the test if it does not succeed.
func (l *Lab) MustRun(k Kubectl, stdin string, args ...string) string {
	l.t.Helper()
	out, errOut, err := l.Run(k, stdin, args...)
	if err != nil {
		l.t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", k, strings.Join(args, " "), err, out, errOut)
	}
	return out
}
