// Package scheduler is minilab's kube-scheduler: it places every pod that
// has no node yet (and asks for the default scheduler) on a node, through
// the pods/binding subresource, as the real one does.
//
// For each pod it filters the nodes (cordoned, untolerated NoSchedule and
// NoExecute taints, nodeSelector and required node affinity, hostPorts in
// use), then picks among those left the node with the fewest pods of the
// same owner (so replicas spread across workers), then the fewest pods,
// then the first by name. Success is the event `Scheduled`, "Successfully
// assigned <ns>/<pod> to <node>"; failure is `FailedScheduling` with
// kube-scheduler's message ("0/3 nodes are available: ...") and the pod's
// PodScheduled condition set to False. A pod that did not fit is tried
// again when nodes change or a pod goes away.
package scheduler
