// Package daemonset runs one pod of every DaemonSet on each node that
// should run it, the job of kube-controller-manager's daemonset controller.
//
// A node should run a DaemonSet's pod when the pod, with the tolerations
// every DaemonSet pod gets (node.kubernetes.io/not-ready and unreachable
// NoExecute; disk-pressure, memory-pressure, pid-pressure and unschedulable
// NoSchedule; network-unavailable NoSchedule for hostNetwork pods), matches
// the node's name (spec.nodeName), its nodeSelector and required node
// affinity, and tolerates the node's NoSchedule and NoExecute taints. So the
// control-plane node, tainted node-role.kubernetes.io/control-plane:
// NoSchedule, gets a pod only if the template tolerates that taint. Node
// conditions do not matter: a NotReady node keeps its daemon pod. A pod
// stays on a node that stopped qualifying only through a NoSchedule taint
// it does not tolerate; otherwise it is deleted.
//
// Pods are named with generateName "<ds>-" and, as upstream does since
// v1.12, pinned to their node by a required node affinity term, matchFields
// metadata.name In [<node>], replacing the template's required terms
// (which the controller has already checked); the scheduler then binds
// them. They carry the label controller-revision-hash, the hash of the
// template computed as upstream's (the value, not prefixed by the
// DaemonSet's name, that upstream's ControllerRevision carries; minilab
// serves no ControllerRevisions, so none is created), and
// pod-template-generation when the DaemonSet has the
// deprecated.daemonset.template.generation annotation.
//
// Failed and succeeded pods are deleted (with the FailedDaemonPod or
// SucceededDaemonPod event, failed ones with a per-node back-off) and
// recreated; extra pods on one node are deleted, the oldest kept. Pods
// whose node no longer exists are deleted too: upstream deletes only the
// unscheduled ones here and leaves the bound ones to the pod garbage
// collector, which minilab does not run.
//
// The RollingUpdate strategy deletes pods of an old template so that at
// most maxUnavailable of the nodes that should run the DaemonSet are
// without an available pod, and lets the next sync create the new ones;
// old pods that are not available anyway go first. maxSurge is not
// implemented: a DaemonSet asking for surge updates as with maxUnavailable
// 1. OnDelete leaves old pods until someone deletes them.
//
// Status (desiredNumberScheduled, currentNumberScheduled, numberReady,
// numberAvailable, numberUnavailable, updatedNumberScheduled,
// numberMisscheduled, observedGeneration) is written through the status
// subresource when it changes. Events are upstream's: SuccessfulCreate
// "Created pod: <name>", SuccessfulDelete "Deleted pod: <name>",
// FailedCreate "Error creating: ..." and FailedDelete "Error deleting: ...".
// Like upstream it counts the creations and deletions it has asked for and
// does not act on a DaemonSet again until its pod informer has seen them.
package daemonset
