// Package store is minilab's etcd: a bbolt-backed key/value store with one
// global revision, optimistic concurrency, a history of recent changes and
// watches that resume from a revision.
//
// The API server keeps every Kubernetes object here as JSON under
// "/registry/<group>/<resource>/<namespace>/<name>", just as kube-apiserver
// keeps them in etcd, and uses the revision of an object's last write as its
// metadata.resourceVersion.
package store
