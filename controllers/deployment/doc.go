// Package deployment rolls Deployments out through ReplicaSets, the job of
// kube-controller-manager's deployment controller.
//
// For each pod template a Deployment has had there is one ReplicaSet,
// named "<deployment>-<pod-template-hash>": the hash of the template
// (computed as upstream's controller.ComputeHash) is added to the
// ReplicaSet's labels, selector and pod template, so that ReplicaSets of
// different templates never select each other's pods. The ReplicaSet
// whose template equals the Deployment's is the "new" one, the others are
// "old". A rollout moves replicas from the old ReplicaSets to the new one:
//
//   - RollingUpdate scales the new ReplicaSet up while the total stays within
//     replicas+maxSurge, and the old ones down while at least
//     replicas-maxUnavailable pods are available; each step waits for the
//     ReplicaSet controller to report pods available.
//   - Recreate scales every old ReplicaSet to 0, waits until their pods are
//     gone, then scales the new one up.
//
// Scaling a Deployment (a change of replicas only) resizes its ReplicaSets
// in proportion instead of starting a rollout. Revisions are numbered in the
// deployment.kubernetes.io/revision annotation of each ReplicaSet (and the
// Deployment), old ReplicaSets beyond revisionHistoryLimit are deleted, and
// status (replicas, updatedReplicas, readyReplicas, availableReplicas,
// unavailableReplicas, the Available and Progressing conditions) carries the
// same values and messages as upstream, so that `kubectl get deploy` and
// `kubectl rollout status` read it as from a real cluster.
package deployment
