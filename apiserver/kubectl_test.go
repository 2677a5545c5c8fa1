package apiserver_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/minilab/minilab/apiserver/apiservertest"
)

// These tests drive the API server with real kubectl, the oldest and the
// newest installed, through the commands of the Service tutorials, and
// compare what kubectl prints with what a kubeadm cluster prints.

const age = `\d+[smhd]` // an AGE cell

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestKubectlTutorial(t *testing.T) {
	for _, k := range apiservertest.Kubectls(t) {
		k := k
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			lab := apiservertest.Start(t, apiservertest.Options{})
			run := func(args ...string) string { return lab.MustRun(k, "", args...) }
			expect := func(out, pattern string) {
				t.Helper()
				out = ansi.ReplaceAllString(out, "") // kubectl 1.27 colours cluster-info even into a pipe
				if !regexp.MustCompile(pattern).MatchString(out) {
					t.Fatalf("output does not match %q:\n%s", pattern, out)
				}
			}

			expect(run("version"), `(?m)^Server Version: (v1\.33\.\d+\+minilab|version.Info{Major:"1", Minor:"33", GitVersion:"v1\.33\.\d+\+minilab")`)
			expect(run("cluster-info"), `Kubernetes control plane is running at https://127\.0\.0\.1:`+strconv.Itoa(lab.Port))

			expect(run("create", "ns", "demo"), `^namespace/demo created\n$`)
			expect(run("create", "deployment", "hello", "--image=gcr.io/google-samples/hello-app:1.0"), `^deployment.apps/hello created\n$`)
			expect(run("get", "ns", "demo", "-o", "jsonpath={.status.phase}"), `^Active$`)

			manifest := filepath.Join("testdata", "tutorial.yaml")
			out := run("apply", "-f", manifest)
			for _, line := range []string{"deployment.apps/hello-world created", "service/hello-clusterip created", "service/nginx created",
				"service/my-database created", "service/external-web created", "endpoints/external-web created", "statefulset.apps/web created"} {
				expect(out, regexp.QuoteMeta(line))
			}
			out = run("apply", "-f", manifest)
			if strings.Count(out, " unchanged\n") != 7 {
				t.Fatalf("second apply should report 7 objects unchanged:\n%s", out)
			}

			expect(run("expose", "deployment", "hello-world", "--port=80", "--target-port=8080", "--type=NodePort"), `^service/hello-world exposed\n$`)

			svcs := run("get", "svc")
			lines := strings.Split(strings.TrimSpace(svcs), "\n")
			if got := strings.Join(strings.Fields(lines[0]), " "); got != "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE" {
				t.Fatalf("service columns: %q", got)
			}
			expect(svcs, `(?m)^hello-world\s+NodePort\s+10\.(9[6-9]|10\d|11[01])\.\d+\.\d+\s+<none>\s+80:3\d{4}/TCP\s+`+age+`$`)
			expect(svcs, `(?m)^hello-clusterip\s+ClusterIP\s+10\.\d+\.\d+\.\d+\s+<none>\s+80/TCP\s+`+age+`$`)
			expect(svcs, `(?m)^nginx\s+ClusterIP\s+None\s+<none>\s+80/TCP\s+`+age+`$`)
			expect(svcs, `(?m)^my-database\s+ExternalName\s+<none>\s+db\.example\.com\s+<none>\s+`+age+`$`)
			expect(svcs, `(?m)^kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443/TCP\s+`+age+`$`)
			expect(run("get", "svc", "-o", "wide"), `(?m)^hello-world\s+NodePort\s+\S+\s+<none>\s+80:3\d{4}/TCP\s+`+age+`\s+app=hello-world$`)

			var svc struct {
				Metadata struct {
					Name, Namespace, UID, ResourceVersion, CreationTimestamp string
				}
				Spec struct {
					Type, ClusterIP, SessionAffinity, ExternalTrafficPolicy, InternalTrafficPolicy string
					ClusterIPs, IPFamilies                                                         []string
					IPFamilyPolicy                                                                 string
					Ports                                                                          []struct {
						Port, NodePort int
						TargetPort     interface{}
						Protocol       string
					}
				}
			}
			if err := yaml.Unmarshal([]byte(run("get", "svc", "hello-world", "-o", "yaml")), &svc); err != nil {
				t.Fatal(err)
			}
			s := svc.Spec
			if svc.Metadata.UID == "" || svc.Metadata.ResourceVersion == "" || svc.Metadata.CreationTimestamp == "" ||
				s.Type != "NodePort" || len(s.ClusterIPs) != 1 || s.ClusterIPs[0] != s.ClusterIP || s.SessionAffinity != "None" ||
				s.ExternalTrafficPolicy != "Cluster" || s.InternalTrafficPolicy != "Cluster" || s.IPFamilyPolicy != "SingleStack" ||
				len(s.IPFamilies) != 1 || s.IPFamilies[0] != "IPv4" || len(s.Ports) != 1 || s.Ports[0].Protocol != "TCP" ||
				s.Ports[0].NodePort < 30000 || s.Ports[0].NodePort > 32767 || s.Ports[0].TargetPort != float64(8080) {
				t.Fatalf("service hello-world as YAML is not what kube-apiserver returns: %+v", svc)
			}

			all := run("get", "all")
			for _, want := range []string{"service/hello-world", "service/kubernetes", "deployment.apps/hello-world", "deployment.apps/hello", "statefulset.apps/web"} {
				expect(all, `(?m)^`+regexp.QuoteMeta(want)+`\s`)
			}
			deploys := run("get", "deployments.apps")
			if got := strings.Join(strings.Fields(strings.SplitN(deploys, "\n", 2)[0]), " "); got != "NAME READY UP-TO-DATE AVAILABLE AGE" {
				t.Fatalf("deployment columns: %q", got)
			}
			expect(deploys, `(?m)^hello-world\s+\d+/2\s+\d+\s+\d+\s+`+age+`$`)

			expect(run("scale", "deployment", "hello-world", "--replicas=3"), `^deployment.apps/hello-world scaled\n$`)
			expect(run("get", "deployment", "hello-world", "-o", "jsonpath={.spec.replicas} {.metadata.generation}"), `^3 2$`)

			expect(run("patch", "svc", "hello-world", "-p", `{"spec":{"sessionAffinity":"ClientIP"}}`), `^service/hello-world patched\n$`)
			expect(run("patch", "svc", "hello-world", "-p", `{"spec":{"sessionAffinity":"ClientIP"}}`), `^service/hello-world patched \(no change\)\n$`)
			expect(run("get", "svc", "hello-world", "-o", "jsonpath={.spec.sessionAffinity} {.spec.sessionAffinityConfig.clientIP.timeoutSeconds}"), `^ClientIP 10800$`)

			desc := run("describe", "svc", "hello-world")
			for _, want := range []string{`Name:\s+hello-world`, `Type:\s+NodePort`, `IP Family Policy:\s+SingleStack`, `IP Families:\s+IPv4`,
				`Port:\s+<unset>\s+80/TCP`, `TargetPort:\s+8080/TCP`, `NodePort:\s+<unset>\s+3\d{4}/TCP`, `Session Affinity:\s+ClientIP`,
				`External Traffic Policy:\s+Cluster`, `Selector:\s+app=hello-world`} {
				expect(desc, `(?m)^`+want)
			}

			// kubectl get svc -w prints the change made meanwhile.
			watchSees(t, lab, k, []string{"get", "svc", "-w"}, `(?m)^hello-world\s+NodePort.*\n(.*\n)*hello-world\s+NodePort`, func() {
				run("label", "svc", "hello-world", "tier=frontend")
			})
			watchSees(t, lab, k, []string{"get", "svc", "hello-world", "-w", "-o", "jsonpath={.metadata.labels.tier}{\"\\n\"}"}, `(?m)^frontend\n(.*\n)*backend\n`, func() {
				run("label", "svc", "hello-world", "tier=backend", "--overwrite")
			})

			// An edited manifest: only the edit changes.
			before := run("get", "svc", "hello-clusterip", "-o", "jsonpath={.spec.clusterIP}")
			edited := strings.Replace(mustRead(t, manifest), "replicas: 2\n  selector:\n    matchLabels:\n      app: hello-world", "replicas: 4\n  selector:\n    matchLabels:\n      app: hello-world", 1)
			editedPath := filepath.Join(lab.DataDir, "edited.yaml")
			os.WriteFile(editedPath, []byte(edited), 0o644)
			out = run("apply", "-f", editedPath)
			expect(out, `(?m)^deployment.apps/hello-world configured$`)
			if strings.Count(out, " unchanged\n") != 6 {
				t.Fatalf("applying the edited file should leave 6 objects unchanged:\n%s", out)
			}
			expect(run("get", "deployment", "hello-world", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"), `^4 gcr.io/google-samples/hello-app:1.0$`)
			if after := run("get", "svc", "hello-clusterip", "-o", "jsonpath={.spec.clusterIP}"); after != before {
				t.Fatalf("apply changed the ClusterIP of an unchanged service: %s → %s", before, after)
			}

			// Deleting each kind, then nothing is left of it.
			expect(run("delete", "svc", "hello-world", "nginx", "my-database", "external-web", "hello-clusterip"), `service "my-database" deleted`)
			expect(run("delete", "endpoints", "external-web", "--ignore-not-found"), `^(endpoints "external-web" deleted\n)?$`)
			expect(run("delete", "deployment", "hello-world", "hello"), `deployment.apps "hello" deleted`)
			expect(run("delete", "statefulset", "web"), `statefulset.apps "web" deleted`)
			expect(run("delete", "ns", "demo"), `namespace "demo" deleted`)
			_, errOut, err := lab.Run(k, "", "get", "svc", "hello-world")
			if err == nil || !strings.Contains(errOut, `Error from server (NotFound): services "hello-world" not found`) {
				t.Fatalf("deleted service still there: %v %s", err, errOut)
			}
			left := run("get", "svc,deploy,sts", "-o", "name")
			if strings.TrimSpace(left) != "service/kubernetes" {
				t.Fatalf("after deleting everything, left: %q", left)
			}
			if _, errOut, err := lab.Run(k, "", "get", "ns", "demo"); err == nil || !strings.Contains(errOut, "NotFound") {
				t.Fatalf("namespace demo still there: %s", errOut)
			}
		})
	}
}

// watchSees starts `kubectl <args>` and waits until its output matches
// pattern after change() has run.
func watchSees(t *testing.T, lab *apiservertest.Lab, k apiservertest.Kubectl, args []string, pattern string, change func()) {
	t.Helper()
	cmd := exec.Command(k.Path, append([]string{"--kubeconfig", lab.Kubeconfig, "--cache-dir", filepath.Join(lab.DataDir, "kubectl-cache-"+strconv.Itoa(k.Minor))}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+lab.DataDir)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen strings.Builder
	re := regexp.MustCompile(pattern)
	// The first line shows the watch is established; then change things.
	select {
	case l := <-lines:
		seen.WriteString(l + "\n")
	case <-time.After(20 * time.Second):
		t.Fatalf("kubectl %v printed nothing", args)
	}
	time.Sleep(100 * time.Millisecond)
	change()
	deadline := time.After(20 * time.Second)
	for !re.MatchString(seen.String()) {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("kubectl %v ended; output:\n%s", args, seen.String())
			}
			seen.WriteString(l + "\n")
		case <-deadline:
			t.Fatalf("kubectl %v did not show the change; output:\n%s", args, seen.String())
		}
	}
}

func mustRead(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKubectlRejectsInvalidObjects checks kubectl's usual error messages
// for invalid objects and that nothing is stored.
func TestKubectlRejectsInvalidObjects(t *testing.T) {
	for _, k := range apiservertest.Kubectls(t) {
		k := k
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			lab := apiservertest.Start(t, apiservertest.Options{})
			svc := func(name, spec string) string {
				return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n" + spec
			}
			lab.MustRun(k, svc("taken", "  clusterIP: 10.96.0.10\n  ports:\n  - port: 53\n"), "apply", "-f", "-")
			for _, tc := range []struct{ name, manifest, want string }{
				{"bad name", svc("Bad_Name", "  ports:\n  - port: 80\n"),
					`The Service "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`},
				{"port 0", svc("x", "  ports:\n  - port: 0\n    targetPort: 8080\n"),
					`The Service "x" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`},
				{"port 70000", svc("x", "  ports:\n  - port: 70000\n    targetPort: 8080\n"),
					`The Service "x" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive`},
				{"duplicate port names", svc("x", "  ports:\n  - name: http\n    port: 80\n  - name: http\n    port: 81\n"),
					`The Service "x" is invalid: spec.ports[1].name: Duplicate value: "http"`},
				{"cluster IP outside the CIDR", svc("x", "  clusterIP: 10.0.0.5\n  ports:\n  - port: 80\n"),
					`The Service "x" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/12`},
				{"cluster IP taken", svc("x", "  clusterIP: 10.96.0.10\n  ports:\n  - port: 80\n"),
					`The Service "x" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate IP 10.96.0.10: provided IP is already allocated`},
				{"unknown field", svc("x", "  selektor:\n    app: x\n  ports:\n  - port: 80\n"),
					`Error from server (BadRequest): error when creating "STDIN": Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.selektor"`},
			} {
				_, errOut, err := lab.Run(k, tc.manifest, "apply", "-f", "-")
				if err == nil {
					t.Errorf("%s: kubectl apply succeeded", tc.name)
					continue
				}
				if !strings.Contains(errOut, tc.want) {
					t.Errorf("%s:\n got: %s\nwant: %s", tc.name, strings.TrimSpace(errOut), tc.want)
				}
			}
			if left := lab.MustRun(k, "", "get", "svc", "-o", "name"); strings.TrimSpace(left) != "service/kubernetes\nservice/taken" {
				t.Fatalf("invalid objects were stored: %q", left)
			}
		})
	}
}

// TestAuthentication checks 401 without the token and that the API listens
// only where it was told to.
func TestAuthentication(t *testing.T) {
	lab := apiservertest.Start(t, apiservertest.Options{})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, path := range []string{"/api/v1/namespaces", "/apis", "/api/v1/namespaces/default/services/kubernetes"} {
		resp, err := client.Get(lab.Server.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var st struct{ Kind, Status, Reason string }
		json.Unmarshal(body, &st)
		if resp.StatusCode != http.StatusUnauthorized || st.Kind != "Status" || st.Reason != "Unauthorized" {
			t.Errorf("GET %s without a token: %d %s", path, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest("GET", lab.Server.URL()+"/api/v1/namespaces", nil)
	req.Header.Set("Authorization", "Bearer wrong")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong token was accepted: %v %v", resp, err)
	}
	req.Header.Set("Authorization", "Bearer "+lab.Server.Token())
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the right token was refused: %v %v", resp, err)
	}
	// /version and the health checks are public, as on kubeadm clusters.
	for _, path := range []string{"/version", "/healthz", "/readyz", "/livez"} {
		if resp, err := client.Get(lab.Server.URL() + path); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v", path, resp, err)
		}
	}
	// Not reachable on the machine's other addresses.
	addrs, _ := net.InterfaceAddrs()
	tried := 0
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok || ipnet.IP.IsLoopback() || ipnet.IP.To4() == nil {
			continue
		}
		tried++
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ipnet.IP.String(), strconv.Itoa(lab.Port)), time.Second)
		if err == nil {
			conn.Close()
			t.Errorf("the API answers on %s, but was told to listen on 127.0.0.1 only", ipnet.IP)
		}
	}
	t.Logf("checked %d non-loopback addresses", tried)
}
