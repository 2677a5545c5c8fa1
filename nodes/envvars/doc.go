// Package envvars computes the environment the kubelet gives a container.
//
// ServiceEnv makes the Docker-links style variables of Services
// (WHOAMI_SERVICE_HOST=10.96.0.20, WHOAMI_PORT_8080_TCP_ADDR=..., ...): for
// the Services of the pod's namespace when the pod's enableServiceLinks is
// true (the default), and always for the `kubernetes` Service of the default
// namespace, the API server. Only Services that exist when the container
// starts are seen: variables are never updated, which is why Kubernetes
// recommends DNS instead.
//
// Resolve puts a container's environment together as the kubelet's
// makeEnvironmentVariables does: envFrom sources, then env entries in order,
// whose values may refer to earlier variables and to the service variables
// as $(NAME), or come from the pod (fieldRef: the downward API), from the
// container's resources (resourceFieldRef), from a ConfigMap or a Secret.
// Variables declared by the container win over service variables of the
// same name.
package envvars
