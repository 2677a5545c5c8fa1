// Package endpoint is kube-controller-manager's Endpoints controller: for
// every Service with a selector it keeps a core/v1 Endpoints object of the
// same name listing the selected pods, ready ones under `addresses` and the
// others under `notReadyAddresses`, with the Service's ports resolved on
// each pod. That object is what `kubectl get endpoints` (and `kubectl
// describe service` up to kubectl 1.30) shows.
//
// Services without a selector are left alone: their Endpoints are written
// by users (or, for `kubernetes`, by the API server). The EndpointSlice
// controller (package endpointslice) writes the newer discovery.k8s.io
// objects that kube-proxy and DNS read.
package endpoint
