// Package endpointutil holds the rules that the Endpoints and EndpointSlice
// controllers share, as upstream keeps them in k8s.io/endpointslice/util:
// which pods become endpoints, how a Service's targetPort resolves on a pod,
// which Services select a pod, and the last-change-trigger-time annotation.
package endpointutil
