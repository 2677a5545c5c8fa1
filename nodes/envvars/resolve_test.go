package envvars

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testPod(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "demo", Name: "web-7d4b9c-x2x7k", UID: "1f6c2e0a-5d0b-4b8e-9a57-3c1a2b3c4d5e",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"owner": "team-a"},
		},
		Spec: corev1.PodSpec{NodeName: "minilab-worker", ServiceAccountName: "default", Containers: containers},
	}
}

var lookups = Lookups{
	ConfigMap: func(namespace, name string) (*corev1.ConfigMap, error) {
		switch namespace + "/" + name {
		case "demo/app-config":
			return &corev1.ConfigMap{Data: map[string]string{"color": "blue", "size": "L"}}, nil
		case "demo/from-client":
			return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
		}
		return nil, nil
	},
	NodeAllocatable: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("2"),
		corev1.ResourceMemory: resource.MustParse("8Gi"),
	},
	HostIP: "172.30.0.3",
	PodIP:  "10.244.1.5",
}

func TestResolveOrderAndExpansion(t *testing.T) {
	c := corev1.Container{
		Name:    "app",
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}},
		Env: []corev1.EnvVar{
			{Name: "A", Value: "1"},
			{Name: "B", Value: "$(A)-2"},
			{Name: "URL", Value: "http://$(WHOAMI_SERVICE_HOST):$(WHOAMI_SERVICE_PORT)/"},
			{Name: "EARLY", Value: "$(LATE)"}, // not defined yet: kept as written
			{Name: "LATE", Value: "x"},
			{Name: "ESCAPED", Value: "$$(A)"},
			{Name: "COLOR", Value: "$(CFG_color)"},
			{Name: "WHOAMI_SERVICE_PORT", Value: "9999"}, // overrides the service variable
			{Name: "EMPTY"},
			{Name: "A", Value: "again"}, // defined twice: keeps its place, later value
		},
	}
	pod := testPod(c)
	service := []corev1.EnvVar{{Name: "WHOAMI_SERVICE_HOST", Value: "10.96.0.20"}, {Name: "WHOAMI_SERVICE_PORT", Value: "8080"}}
	got, err := Resolve(pod, &pod.Spec.Containers[0], service, lookups)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"WHOAMI_SERVICE_HOST=10.96.0.20",
		"WHOAMI_SERVICE_PORT=9999",
		"CFG_color=blue",
		"CFG_size=L",
		"A=again",
		"B=1-2",
		"URL=http://10.96.0.20:8080/",
		"EARLY=$(LATE)",
		"LATE=x",
		"ESCAPED=$(A)",
		"COLOR=blue",
		"EMPTY=",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestResolveFieldRef(t *testing.T) {
	tests := []struct {
		path    string
		want    string
		wantErr string
	}{
		{path: "metadata.name", want: "web-7d4b9c-x2x7k"},
		{path: "metadata.namespace", want: "demo"},
		{path: "metadata.uid", want: "1f6c2e0a-5d0b-4b8e-9a57-3c1a2b3c4d5e"},
		{path: "metadata.labels['app']", want: "web"},
		{path: "metadata.labels['missing']", want: ""},
		{path: "metadata.annotations['owner']", want: "team-a"},
		{path: "metadata.labels", want: "app=\"web\"\ntier=\"front\""},
		{path: "spec.nodeName", want: "minilab-worker"},
		{path: "spec.serviceAccountName", want: "default"},
		{path: "status.hostIP", want: "172.30.0.3"},
		{path: "status.hostIPs", want: "172.30.0.3"},
		{path: "status.podIP", want: "10.244.1.5"},
		{path: "status.podIPs", want: "10.244.1.5"},
		{path: "status.phase", wantErr: "unsupported fieldPath: status.phase"},
		{path: "spec.containers", wantErr: "field label not supported: spec.containers"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c := corev1.Container{Name: "app", Env: []corev1.EnvVar{{Name: "V", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: tt.path}}}}}
			pod := testPod(c)
			got, err := Resolve(pod, &pod.Spec.Containers[0], nil, lookups)
			checkOne(t, got, err, tt.want, tt.wantErr)
		})
	}
	t.Run("addresses from the pod's status when not given", func(t *testing.T) {
		c := corev1.Container{Name: "app", Env: []corev1.EnvVar{
			{Name: "IPS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIPs"}}}}}
		pod := testPod(c)
		pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.5"}, {IP: "fd00:10:244:1::5"}}
		got, err := Resolve(pod, &pod.Spec.Containers[0], nil, Lookups{})
		checkOne(t, got, err, "10.244.1.5,fd00:10:244:1::5", "")
	})
}

func checkOne(t *testing.T, got []string, err error, want, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || err.Error() != wantErr {
			t.Errorf("error %v, want %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "V="+want && got[0] != "IPS="+want {
		t.Errorf("got %q, want the value %q", got, want)
	}
}

func TestResolveResourceFieldRef(t *testing.T) {
	app := corev1.Container{Name: "app", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}}
	sidecar := corev1.Container{Name: "sidecar", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")},
	}}
	tests := []struct {
		resource  string
		divisor   string
		container string
		want      string
		wantErr   string
	}{
		{resource: "requests.cpu", want: "1"}, // 250m rounded up to whole CPUs
		{resource: "requests.cpu", divisor: "1m", want: "250"},
		{resource: "requests.memory", divisor: "1Mi", want: "64"},
		{resource: "requests.memory", want: "67108864"},
		{resource: "limits.memory", divisor: "1Mi", want: "128"},
		{resource: "limits.memory", divisor: "1G", want: "1"}, // 134217728 / 10^9, rounded up
		{resource: "limits.cpu", want: "2"},                   // unset: the node's allocatable
		{resource: "limits.cpu", divisor: "1m", want: "2000"},
		{resource: "requests.ephemeral-storage", want: "0"},
		{resource: "limits.cpu", container: "sidecar", want: "2"}, // 1.5 rounded up
		{resource: "limits.cpu", container: "sidecar", divisor: "1m", want: "1500"},
		{resource: "limits.memory", container: "sidecar", divisor: "1Gi", want: "8"},
		{resource: "limits.cpu", container: "nope", wantErr: "container nope not found"},
		{resource: "limits.gpu", wantErr: "unsupported container resource : limits.gpu"},
	}
	for _, tt := range tests {
		t.Run(tt.resource+"/"+tt.divisor+"/"+tt.container, func(t *testing.T) {
			ref := &corev1.ResourceFieldSelector{ContainerName: tt.container, Resource: tt.resource}
			if tt.divisor != "" {
				ref.Divisor = resource.MustParse(tt.divisor)
			}
			c := app.DeepCopy()
			c.Env = []corev1.EnvVar{{Name: "V", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: ref}}}
			pod := testPod(*c, sidecar)
			got, err := Resolve(pod, &pod.Spec.Containers[0], nil, lookups)
			checkOne(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestResolveConfigMapsAndSecrets(t *testing.T) {
	yes := true
	cmKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		ref := &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
		if optional {
			ref.Optional = &yes
		}
		return &corev1.EnvVarSource{ConfigMapKeyRef: ref}
	}
	secretKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		ref := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
		if optional {
			ref.Optional = &yes
		}
		return &corev1.EnvVarSource{SecretKeyRef: ref}
	}
	cmFrom := func(name string, optional bool) corev1.EnvFromSource {
		ref := &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}
		if optional {
			ref.Optional = &yes
		}
		return corev1.EnvFromSource{ConfigMapRef: ref}
	}
	secretFrom := func(name string, optional bool) corev1.EnvFromSource {
		ref := &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}
		if optional {
			ref.Optional = &yes
		}
		return corev1.EnvFromSource{SecretRef: ref}
	}
	tests := []struct {
		name    string
		env     []corev1.EnvVar
		envFrom []corev1.EnvFromSource
		want    []string
		wantErr string
	}{
		{name: "key of a ConfigMap", env: []corev1.EnvVar{{Name: "V", ValueFrom: cmKey("app-config", "color", false)}}, want: []string{"V=blue"}},
		{name: "missing ConfigMap", env: []corev1.EnvVar{{Name: "V", ValueFrom: cmKey("nope", "color", false)}},
			wantErr: `configmap "nope" not found`},
		{name: "missing ConfigMap, as a client reports it", env: []corev1.EnvVar{{Name: "V", ValueFrom: cmKey("from-client", "color", false)}},
			wantErr: `configmap "from-client" not found`},
		{name: "missing optional ConfigMap: no variable", env: []corev1.EnvVar{{Name: "V", ValueFrom: cmKey("nope", "color", true)}, {Name: "W", Value: "$(V)"}},
			want: []string{"W=$(V)"}},
		{name: "missing key", env: []corev1.EnvVar{{Name: "V", ValueFrom: cmKey("app-config", "shape", false)}},
			wantErr: "couldn't find key shape in ConfigMap demo/app-config"},
		{name: "missing optional key", env: []corev1.EnvVar{{Name: "V", ValueFrom: cmKey("app-config", "shape", true)}}, want: []string{}},
		{name: "secret", env: []corev1.EnvVar{{Name: "PASSWORD", ValueFrom: secretKey("db", "password", false)}},
			wantErr: `secret "db" not found`},
		{name: "optional secret", env: []corev1.EnvVar{{Name: "PASSWORD", ValueFrom: secretKey("db", "password", true)}}, want: []string{}},
		{name: "envFrom ConfigMap, no prefix", envFrom: []corev1.EnvFromSource{cmFrom("app-config", false)}, want: []string{"color=blue", "size=L"}},
		{name: "envFrom missing ConfigMap", envFrom: []corev1.EnvFromSource{cmFrom("nope", false)}, wantErr: `configmap "nope" not found`},
		{name: "envFrom missing optional ConfigMap", envFrom: []corev1.EnvFromSource{cmFrom("nope", true)}, want: []string{}},
		{name: "envFrom secret", envFrom: []corev1.EnvFromSource{secretFrom("db", false)}, wantErr: `secret "db" not found`},
		{name: "envFrom optional secret", envFrom: []corev1.EnvFromSource{secretFrom("db", true)}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod(corev1.Container{Name: "app", Env: tt.env, EnvFrom: tt.envFrom})
			got, err := Resolve(pod, &pod.Spec.Containers[0], nil, lookups)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("secrets when a lookup serves them", func(t *testing.T) {
		l := lookups
		l.Secret = func(namespace, name string) (*corev1.Secret, error) {
			return &corev1.Secret{Data: map[string][]byte{"password": []byte("s3cret")}}, nil
		}
		pod := testPod(corev1.Container{Name: "app", Env: []corev1.EnvVar{{Name: "PASSWORD", ValueFrom: secretKey("db", "password", false)}}})
		got, err := Resolve(pod, &pod.Spec.Containers[0], nil, l)
		if err != nil || !slices.Equal(got, []string{"PASSWORD=s3cret"}) {
			t.Errorf("got %q, %v", got, err)
		}
	})
}
