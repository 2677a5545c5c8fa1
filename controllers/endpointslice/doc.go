// Package endpointslice is kube-controller-manager's EndpointSlice
// controller, with its EndpointSlice mirroring controller alongside.
//
// For every Service with a selector it keeps discovery.k8s.io/v1
// EndpointSlices (named <service>-<random>, labelled
// kubernetes.io/service-name and owned by the Service) listing the selected
// pods: one endpoint per pod IP with the conditions ready, serving and
// terminating, its node, zone and a reference to the pod. kube-proxy and
// the cluster DNS read these, not the older Endpoints. A terminating pod
// stays listed with terminating=true until it is gone, which is how the
// proxies stop sending it new connections. A slice holds at most 100
// endpoints, and pods whose named targetPort resolves to different numbers
// land in different slices, because a slice has one list of ports.
//
// For a Service without a selector, whose Endpoints a user writes by hand,
// the mirroring loop copies those Endpoints into slices managed by
// endpointslicemirroring-controller.k8s.io, so that kube-proxy sees them.
package endpointslice
