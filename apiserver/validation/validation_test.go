package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestValidObjectsPass(t *testing.T) {
	objects := map[string]func() runtime.Object{
		"Namespace":           func() runtime.Object { return namespace() },
		"Node":                func() runtime.Object { return node() },
		"Pod":                 func() runtime.Object { return pod() },
		"Service ClusterIP":   func() runtime.Object { return service() },
		"Service NodePort":    func() runtime.Object { return nodePortService() },
		"Service LB":          func() runtime.Object { return loadBalancerService() },
		"Service External":    func() runtime.Object { return externalNameService() },
		"Service headless":    func() runtime.Object { return headlessService() },
		"Endpoints":           func() runtime.Object { return endpoints() },
		"EndpointSlice":       func() runtime.Object { return endpointSlice() },
		"Event":               func() runtime.Object { return event() },
		"ConfigMap":           func() runtime.Object { return configMap() },
		"ServiceAccount":      func() runtime.Object { return serviceAccount() },
		"Deployment":          func() runtime.Object { return deployment() },
		"ReplicaSet":          func() runtime.Object { return replicaSet() },
		"StatefulSet":         func() runtime.Object { return statefulSet() },
		"DaemonSet":           func() runtime.Object { return daemonSet() },
		"unknown type (Role)": func() runtime.Object { return &rbacv1.Role{ObjectMeta: objMeta("reader")} },
	}
	for name, mk := range objects {
		t.Run(name, func(t *testing.T) {
			expectErrors(t, ValidateCreate(mk()))
			expectErrors(t, ValidateUpdate(mk(), mk()))
			expectErrors(t, ValidateStatusUpdate(mk(), mk()))
		})
	}
}

func TestObjectMetaNames(t *testing.T) {
	withName := func(obj runtime.Object, name string) runtime.Object {
		obj.(metav1.Object).SetName(name)
		return obj
	}
	cases := []struct {
		name string
		obj  runtime.Object
		want []string
	}{
		{"Service names are DNS-1035 labels", withName(service(), "Bad_Name"),
			[]string{`metadata.name: Invalid value: "Bad_Name": ` + dns1035Msg}},
		{"Service names must start with a letter", withName(service(), "1web"),
			[]string{`metadata.name: Invalid value: "1web": ` + dns1035Msg}},
		{"Namespace names are DNS labels", withName(namespace(), "my.lab"),
			[]string{`metadata.name: Invalid value: "my.lab": must not contain dots`}},
		{"Pod names are DNS subdomains", withName(pod(), "Web-0"),
			[]string{`metadata.name: Invalid value: "Web-0": ` + dns1123SubdomainMsg}},
		{"Pod names may contain dots", withName(pod(), "web.0"), nil},
		{"StatefulSet names are DNS labels", withName(statefulSet(), "web.v2"),
			[]string{`metadata.name: Invalid value: "web.v2": must not contain dots`}},
		{"Deployment names are DNS subdomains", withName(deployment(), "web.v2"), nil},
		{"ConfigMap names are DNS subdomains", withName(configMap(), "web_config"),
			[]string{`metadata.name: Invalid value: "web_config": ` + dns1123SubdomainMsg}},
		{"a name is required", withName(configMap(), ""),
			[]string{`metadata.name: Required value: name or generateName is required`}},
		{"Event names only need to be path segments", withName(event(), "a/b"),
			[]string{`metadata.name: Invalid value: "a/b": may not contain '/'`}},
		{"unknown types only need path-segment names", withName(&rbacv1.Role{ObjectMeta: objMeta("x")}, ".."),
			[]string{`metadata.name: Invalid value: "..": may not be '..'`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectErrors(t, ValidateCreate(tc.obj), tc.want...)
		})
	}
}

func TestObjectMetaFields(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.ConfigMap)
		want   []string
	}{
		{"namespace required", func(c *corev1.ConfigMap) { c.Namespace = "" },
			[]string{`metadata.namespace: Required value`}},
		{"bad label key", func(c *corev1.ConfigMap) { c.Labels = map[string]string{"bad key": "x"} },
			[]string{`metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},
		{"bad label value", func(c *corev1.ConfigMap) { c.Labels = map[string]string{"app": "-web"} },
			[]string{`metadata.labels: Invalid value: "-web": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`}},
		{"annotations too large", func(c *corev1.ConfigMap) { c.Annotations = map[string]string{"big": string(make([]byte, 256*1024))} },
			[]string{`metadata.annotations: Too long: may not be more than 262144 bytes`}},
		{"unqualified finalizer", func(c *corev1.ConfigMap) { c.Finalizers = []string{"cleanup"} },
			[]string{`metadata.finalizers[0]: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified`}},
		{"domain finalizer", func(c *corev1.ConfigMap) { c.Finalizers = []string{"example.com/cleanup"} }, nil},
		{"generateName is checked as a prefix", func(c *corev1.ConfigMap) { c.GenerateName = "web-" }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cm := configMap()
			tc.mutate(cm)
			expectErrors(t, ValidateCreate(cm), tc.want...)
		})
	}
}

func TestObjectMetaUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.ConfigMap)
		want   []string
	}{
		{"name is immutable", func(c *corev1.ConfigMap) { c.Name = "other" },
			[]string{`metadata.name: Invalid value: "other": field is immutable`}},
		{"uid is immutable", func(c *corev1.ConfigMap) { c.UID = "x" },
			[]string{`metadata.uid: Invalid value: "x": field is immutable`}},
		{"resourceVersion is required", func(c *corev1.ConfigMap) { c.ResourceVersion = "" },
			[]string{`metadata.resourceVersion: Invalid value: "": must be specified for an update`}},
		{"labels may change", func(c *corev1.ConfigMap) { c.Labels["tier"] = "frontend" }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cm := configMap()
			tc.mutate(cm)
			expectErrors(t, ValidateUpdate(cm, configMap()), tc.want...)
		})
	}
}

func TestMismatchedUpdateTypes(t *testing.T) {
	errs := ValidateUpdate(pod(), service())
	if len(errs) != 1 || errs[0].Type != "InternalError" {
		t.Fatalf("got %v, want one internal error", errs)
	}
	if errs := ValidateCreate(nil); len(errs) != 1 {
		t.Fatalf("nil object: got %v", errs)
	}
}
