// Package defaults fills in the fields kube-apiserver defaults when an object
// is created or updated (the SetDefaults_* functions and the defaulting
// admission plugins, plus the create-time touches of the REST strategies such
// as the Namespace "kubernetes" finalizer), so that objects read back look as
// they do on a real cluster.
package defaults
