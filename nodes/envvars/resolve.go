package envvars

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Lookups give Resolve what lies outside the pod.
type Lookups struct {
	// ConfigMap gets a ConfigMap of the pod's namespace; a missing one is
	// (nil, nil) or a NotFound error.
	ConfigMap func(namespace, name string) (*corev1.ConfigMap, error)
	// Secret gets a Secret likewise; nil means no Secret is ever found
	// (minilab does not serve Secrets to containers).
	Secret func(namespace, name string) (*corev1.Secret, error)
	// NodeAllocatable stands in for limits a container does not set, for
	// resourceFieldRef, as the kubelet uses the node's allocatable.
	NodeAllocatable corev1.ResourceList
	// HostIP and PodIP are the node's and the pod's addresses (status.hostIP
	// and status.podIP may not be written in the pod yet when its containers
	// start). Empty: taken from the pod's status.
	HostIP, PodIP string
}

// Resolve computes a container's environment, as KEY=VALUE entries: the
// service variables first, then envFrom sources (each ConfigMap's keys in
// order, with the source's prefix), then env in the order declared. A
// variable defined again keeps its place and takes the later value, so env
// overrides envFrom, which overrides service variables. An error is what the
// kubelet reports as CreateContainerConfigError, such as `configmap "app"
// not found`.
func Resolve(pod *corev1.Pod, c *corev1.Container, serviceEnv []corev1.EnvVar, lookups Lookups) ([]string, error) {
	r := &resolver{pod: pod, container: c, lookups: lookups, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	var env environment
	services := map[string]string{}
	for _, e := range serviceEnv {
		env.set(e.Name, e.Value)
		services[e.Name] = e.Value
	}
	// What $(NAME) may refer to: the container's own variables defined so
	// far, then the service variables.
	declared := map[string]string{}
	lookup := func(name string) (string, bool) {
		if v, ok := declared[name]; ok {
			return v, true
		}
		v, ok := services[name]
		return v, ok
	}
	for _, from := range c.EnvFrom {
		vars, err := r.envFrom(from)
		if err != nil {
			return nil, err
		}
		for _, kv := range vars {
			declared[kv[0]] = kv[1]
			env.set(kv[0], kv[1])
		}
	}
	for _, e := range c.Env {
		value, ok, err := r.value(e, lookup)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // an optional source that is missing: no variable
		}
		declared[e.Name] = value
		env.set(e.Name, value)
	}
	return env.list(), nil
}

// environment is an ordered set of variables.
type environment struct {
	names  []string
	values map[string]string
}

func (e *environment) set(name, value string) {
	if e.values == nil {
		e.values = map[string]string{}
	}
	if _, ok := e.values[name]; !ok {
		e.names = append(e.names, name)
	}
	e.values[name] = value
}

func (e *environment) list() []string {
	out := make([]string, 0, len(e.names))
	for _, n := range e.names {
		out = append(out, n+"="+e.values[n])
	}
	return out
}

// resolver resolves one container's variables, fetching each ConfigMap and
// Secret once.
type resolver struct {
	pod        *corev1.Pod
	container  *corev1.Container
	lookups    Lookups
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

// envFrom returns the variables of one envFrom source, keys sorted. A
// missing optional source gives none.
func (r *resolver) envFrom(from corev1.EnvFromSource) ([][2]string, error) {
	data := map[string]string{}
	switch {
	case from.ConfigMapRef != nil:
		cm, err := r.configMap(from.ConfigMapRef.Name)
		if apierrors.IsNotFound(err) && isTrue(from.ConfigMapRef.Optional) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		data = cm.Data
	case from.SecretRef != nil:
		s, err := r.secret(from.SecretRef.Name)
		if apierrors.IsNotFound(err) && isTrue(from.SecretRef.Optional) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for k, v := range s.Data {
			data[k] = string(v)
		}
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vars := make([][2]string, 0, len(keys))
	for _, k := range keys {
		vars = append(vars, [2]string{from.Prefix + k, data[k]})
	}
	return vars, nil
}

// value computes one env entry: its value with references expanded, or the
// value of its source. ok is false when an optional source is missing.
func (r *resolver) value(e corev1.EnvVar, lookup func(string) (string, bool)) (value string, ok bool, err error) {
	src := e.ValueFrom
	switch {
	case e.Value != "" || src == nil:
		return Expand(e.Value, lookup), true, nil
	case src.FieldRef != nil:
		v, err := podField(src.FieldRef, r.pod, r.lookups)
		return v, err == nil, err
	case src.ResourceFieldRef != nil:
		v, err := resourceField(src.ResourceFieldRef, r.pod, r.container, r.lookups.NodeAllocatable)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		return r.configMapKey(src.ConfigMapKeyRef)
	case src.SecretKeyRef != nil:
		return r.secretKey(src.SecretKeyRef)
	}
	return "", true, nil
}

func (r *resolver) configMapKey(ref *corev1.ConfigMapKeySelector) (string, bool, error) {
	optional := isTrue(ref.Optional)
	cm, err := r.configMap(ref.Name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return "", false, nil
		}
		return "", false, err
	}
	v, ok := cm.Data[ref.Key]
	if !ok && !optional {
		return "", false, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, r.pod.Namespace, ref.Name)
	}
	return v, ok, nil
}

func (r *resolver) secretKey(ref *corev1.SecretKeySelector) (string, bool, error) {
	optional := isTrue(ref.Optional)
	s, err := r.secret(ref.Name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return "", false, nil
		}
		return "", false, err
	}
	v, ok := s.Data[ref.Key]
	if !ok && !optional {
		return "", false, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, r.pod.Namespace, ref.Name)
	}
	return string(v), ok, nil
}

// configMap fetches a ConfigMap once. A missing one is the kubelet's
// NotFound error, whose message names the resource in the singular:
// `configmap "app-config" not found`.
func (r *resolver) configMap(name string) (*corev1.ConfigMap, error) {
	if cm, ok := r.configMaps[name]; ok {
		return cm, nil
	}
	if r.lookups.ConfigMap == nil {
		return nil, fmt.Errorf("couldn't get configMap %v/%v, no kubeClient defined", r.pod.Namespace, name)
	}
	cm, err := r.lookups.ConfigMap(r.pod.Namespace, name)
	if cm == nil && (err == nil || apierrors.IsNotFound(err)) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmap"}, name)
	}
	if err != nil {
		return nil, err
	}
	r.configMaps[name] = cm
	return cm, nil
}

// secret fetches a Secret once; see configMap.
func (r *resolver) secret(name string) (*corev1.Secret, error) {
	if s, ok := r.secrets[name]; ok {
		return s, nil
	}
	var s *corev1.Secret
	var err error
	if r.lookups.Secret != nil {
		s, err = r.lookups.Secret(r.pod.Namespace, name)
	}
	if s == nil && (err == nil || apierrors.IsNotFound(err)) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secret"}, name)
	}
	if err != nil {
		return nil, err
	}
	r.secrets[name] = s
	return s, nil
}

func isTrue(b *bool) bool { return b != nil && *b }
