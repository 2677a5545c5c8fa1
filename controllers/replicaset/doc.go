// Package replicaset keeps the number of pods of every ReplicaSet at its
// spec.replicas, the job of kube-controller-manager's replicaset controller.
//
// Each sync counts the pods the ReplicaSet owns (its controller
// ownerReference) that are neither terminating nor finished, creates pods
// from spec.template (generateName "<rs>-", so the API server picks the five
// random characters) or deletes the surplus, adopts orphan pods its selector
// matches and releases owned pods whose labels no longer match. It reports
// what it counted in status (replicas, fullyLabeledReplicas, readyReplicas,
// availableReplicas, observedGeneration) and records the same events as
// upstream: SuccessfulCreate "Created pod: <name>", SuccessfulDelete
// "Deleted pod: <name>", FailedCreate / FailedDelete.
//
// Like upstream it remembers the creations and deletions it has asked for
// (its "expectations") and does not act again on a ReplicaSet until its pod
// informer has seen them, so a stale cache never makes it create twice.
package replicaset
