package envvars

import (
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The API server's own Service, whose variables every pod gets
// (KUBERNETES_SERVICE_HOST is how in-cluster clients find the API).
const (
	masterServiceNamespace = metav1.NamespaceDefault
	masterServiceName      = "kubernetes"
)

// ServiceEnv returns the variables the kubelet injects for services (those
// that exist when the container starts), sorted by name. Services without a
// cluster IP (headless and ExternalName ones) have none. With
// enableServiceLinks false only the `kubernetes` Service of the default
// namespace is included; a Service of that name in the pod's own namespace
// takes its place when links are enabled.
func ServiceEnv(services []*corev1.Service, enableServiceLinks bool, podNamespace string) []corev1.EnvVar {
	chosen := map[string]*corev1.Service{}
	for _, s := range services {
		if !hasClusterIP(s) {
			continue
		}
		switch {
		case s.Namespace == masterServiceNamespace && s.Name == masterServiceName:
			if _, ok := chosen[s.Name]; !ok {
				chosen[s.Name] = s
			}
		case s.Namespace == podNamespace && enableServiceLinks:
			chosen[s.Name] = s
		}
	}
	var env []corev1.EnvVar
	for _, s := range chosen {
		env = append(env, serviceVars(s)...)
	}
	sort.SliceStable(env, func(i, j int) bool { return env[i].Name < env[j].Name })
	return env
}

func hasClusterIP(s *corev1.Service) bool {
	return s.Spec.ClusterIP != "" && s.Spec.ClusterIP != corev1.ClusterIPNone && len(s.Spec.Ports) > 0
}

// serviceVars are one Service's variables: where to find it
// (<NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT for the first port,
// <NAME>_SERVICE_PORT_<PORT NAME> for each named port), and the variables
// Docker links defined (<NAME>_PORT and, per port, <NAME>_PORT_<port>_<PROTO>
// with _PROTO, _PORT and _ADDR).
func serviceVars(s *corev1.Service) []corev1.EnvVar {
	prefix := envName(s.Name)
	ip := s.Spec.ClusterIP
	env := []corev1.EnvVar{
		{Name: prefix + "_SERVICE_HOST", Value: ip},
		{Name: prefix + "_SERVICE_PORT", Value: strconv.Itoa(int(s.Spec.Ports[0].Port))},
	}
	for _, p := range s.Spec.Ports {
		if p.Name != "" {
			env = append(env, corev1.EnvVar{Name: prefix + "_SERVICE_PORT_" + envName(p.Name), Value: strconv.Itoa(int(p.Port))})
		}
	}
	for i, p := range s.Spec.Ports {
		protocol := string(p.Protocol)
		if protocol == "" {
			protocol = string(corev1.ProtocolTCP)
		}
		port := strconv.Itoa(int(p.Port))
		url := strings.ToLower(protocol) + "://" + net.JoinHostPort(ip, port)
		if i == 0 {
			env = append(env, corev1.EnvVar{Name: prefix + "_PORT", Value: url})
		}
		portPrefix := prefix + "_PORT_" + port + "_" + strings.ToUpper(protocol)
		env = append(env,
			corev1.EnvVar{Name: portPrefix, Value: url},
			corev1.EnvVar{Name: portPrefix + "_PROTO", Value: strings.ToLower(protocol)},
			corev1.EnvVar{Name: portPrefix + "_PORT", Value: port},
			corev1.EnvVar{Name: portPrefix + "_ADDR", Value: ip},
		)
	}
	return env
}

// envName turns a Service or port name into a variable name: upper case,
// '-' becoming '_'.
func envName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}
