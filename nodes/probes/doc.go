// Package probes runs containers' readiness, liveness and startup probes the
// way the kubelet's prober does.
//
// Run performs one probe attempt with the kubelet's handlers: httpGet (GET
// from the node to the pod IP, User-Agent kube-probe/<version>, success for
// 200-399, redirects followed only to the same host), tcpSocket (a connect),
// exec (exit code 0) and grpc (grpc.health.v1.Health/Check over HTTP/2,
// spoken with the standard library). Its messages are the kubelet's, which
// end up in events such as
//
//	Readiness probe failed: HTTP probe failed with statuscode: 503
//
// Start runs one probe of one container as a kubelet probe worker does:
// nothing before initialDelaySeconds, one attempt every periodSeconds with
// timeoutSeconds, and a result that changes only after successThreshold
// successes or failureThreshold failures in a row. Readiness starts as
// not ready, liveness as alive; a startup probe holds the other two back
// until it succeeds (StartContainer wires that up). After a liveness or
// startup probe has failed, the worker stops: the kubelet kills the
// container, and the restarted container gets new workers.
//
// Probes run from the node, not from inside the pod: the caller gives the
// node's dial function and a way to exec inside the container.
package probes
