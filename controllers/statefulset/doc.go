// Package statefulset runs the pods of every StatefulSet, the job of
// kube-controller-manager's statefulset controller.
//
// Each pod has a stable identity: the name "<set>-<ordinal>" (web-0, web-1,
// ...), spec.hostname set to that name and spec.subdomain to the set's
// spec.serviceName (so that, with a headless Service of that name,
// web-0.nginx.default.svc.cluster.local resolves), and the labels
// statefulset.kubernetes.io/pod-name and apps.kubernetes.io/pod-index. A
// pod that is deleted or fails is recreated under the same name.
//
// With podManagementPolicy OrderedReady (the default) pods are created one
// at a time in ordinal order, each only once all lower ordinals are Running
// and Ready, and removed on scale-down from the highest ordinal down, one at
// a time, each only once the previous one is gone. Parallel creates and
// deletes them all at once. The RollingUpdate strategy replaces pods whose
// template revision is out of date from the highest ordinal down to
// spec.updateStrategy.rollingUpdate.partition, one at a time, waiting for
// each replacement to be Ready; OnDelete leaves them until someone deletes
// them.
//
// Revisions. Upstream records every template in a ControllerRevision named
// "<set>-<hash>" and labels each pod with the revision it was made from
// (controller-revision-hash); status.currentRevision and updateRevision name
// revisions. minilab serves no ControllerRevisions, so this controller
// computes the same names as upstream (the hash of the same template patch,
// so a pod here carries the label it would carry in a real cluster) without
// creating the objects, and keeps the templates of the revisions still in
// use in memory. Pods recreated below the partition get the current
// revision's template from there; after a controller restart the current
// revision's template is unknown, and, as upstream does when that
// ControllerRevision has been deleted, the update revision becomes current.
// status.collisionCount therefore stays 0.
//
// Storage. minilab serves no PersistentVolumeClaims, so volumeClaimTemplates
// create no claims. Each pod still gets, as upstream, a volume per template
// naming the claim "<template>-<set>-<ordinal>" (the containers' volumeMounts
// need it to pass validation); minilab's kubelet mounts no volumes.
//
// Events are upstream's: SuccessfulCreate "create Pod web-0 in StatefulSet
// web successful", SuccessfulDelete "delete Pod web-2 in StatefulSet web
// successful", and FailedCreate / FailedDelete "... failed error: <err>".
// Status (replicas, readyReplicas, currentReplicas, updatedReplicas,
// availableReplicas, currentRevision, updateRevision, observedGeneration,
// collisionCount) is written through the status subresource when it changes.
//
// Unlike upstream, which relies on the API server's AlreadyExists, the
// controller remembers the pods it has just created or deleted and does not
// act on a StatefulSet again until its informer has seen them, as the
// ReplicaSet controller does, so that a stale cache never makes it repeat a
// create or a delete.
package statefulset
