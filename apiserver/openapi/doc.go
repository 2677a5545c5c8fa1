// Package openapi holds the OpenAPI definitions of the Kubernetes types that
// minilab serves. They are generated from the k8s.io/api Go types by
// kube-openapi's openapi-gen (see generate.go), exactly as kube-apiserver
// generates its own, so schemas, field descriptions and the patch-merge
// extensions stay in step with the types in go.mod.
package openapi
