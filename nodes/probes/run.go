package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// userAgent is what the kubelet's probes send: kube-probe/<major>.<minor>.
const userAgent = "kube-probe/1.33"

// maxOutput is how much of a response body or command output the kubelet
// keeps (10 KiB).
const maxOutput = 10 << 10

// second is the unit of the probe's *Seconds fields; tests shorten it.
var second = time.Second

// Target is what a container's probes are run against.
type Target struct {
	// PodIP is where httpGet (without host), tcpSocket (without host) and
	// grpc probes connect.
	PodIP string
	// Dial connects from the node, as the kubelet's probes do; nil uses a
	// plain net.Dialer in the caller's network namespace.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Exec runs a command inside the container for exec probes and returns
	// its exit code and combined stdout and stderr. An error means the
	// command could not be run at all.
	Exec func(ctx context.Context, command []string) (exitCode int, output string, err error)
	// Ports are the container's named ports, for probes that name a port.
	Ports map[string]int32
	// Started reports whether the container's startup probe has succeeded;
	// readiness and liveness probes wait for it. Nil: no startup probe.
	Started func() bool
	// Event, if set, receives the events the kubelet records about probes:
	// Warning "Unhealthy" for each failed attempt and Warning "ProbeWarning"
	// for a redirect that was not followed.
	Event func(eventType, reason, message string)
}

func (t Target) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if t.Dial != nil {
		return t.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// NamedPorts returns a container's named ports, for Target.Ports.
func NamedPorts(c *corev1.Container) map[string]int32 {
	ports := map[string]int32{}
	for _, p := range c.Ports {
		if p.Name != "" {
			ports[p.Name] = p.ContainerPort
		}
	}
	return ports
}

// outcome is how one attempt ended, as the kubelet's probe.Result.
type outcome int

const (
	success outcome = iota
	warning         // a success with a warning event: a redirect was not followed
	failure
	unknown // the probe could not be run; the attempt is thrown away
)

type attempt struct {
	outcome outcome
	output  string // the handler's message: the event text after "<Kind> probe failed: "
	err     error  // for unknown
}

func succeeded(output string) attempt { return attempt{outcome: success, output: output} }
func warned(output string) attempt    { return attempt{outcome: warning, output: output} }
func failed(output string) attempt    { return attempt{outcome: failure, output: output} }
func errored(err error) attempt       { return attempt{outcome: unknown, err: err} }

func (a attempt) ok() bool { return a.outcome == success || a.outcome == warning }

func (a attempt) message() string {
	if a.err != nil {
		return a.err.Error()
	}
	return a.output
}

// Run performs a single probe attempt and says whether it succeeded, with
// the handler's message: for a failure, what follows "Readiness probe
// failed: " in the kubelet's event; for a probe that could not be run (a
// port name the container does not have, say), the error.
func Run(ctx context.Context, probe *corev1.Probe, target Target) (bool, string) {
	a := runOnce(ctx, probe, target)
	return a.ok(), a.message()
}

// runOnce runs the probe's handler with the probe's timeout.
func runOnce(ctx context.Context, probe *corev1.Probe, t Target) attempt {
	timeout := time.Duration(withDefaults(probe).TimeoutSeconds) * second
	h := probe.ProbeHandler
	switch {
	case h.HTTPGet != nil:
		return probeHTTP(ctx, h.HTTPGet, t, timeout)
	case h.TCPSocket != nil:
		return probeTCP(ctx, h.TCPSocket, t, timeout)
	case h.Exec != nil:
		return probeExec(ctx, h.Exec, t, timeout)
	case h.GRPC != nil:
		return probeGRPC(ctx, h.GRPC, t, timeout)
	}
	return errored(errors.New("missing probe handler"))
}

// resolvePort turns a probe's port (a number, or the name of one of the
// container's ports, or a number written as a string) into a number, as
// the kubelet does; its errors are the kubelet's.
func resolvePort(p intstr.IntOrString, named map[string]int32) (int, error) {
	port := -1
	switch p.Type {
	case intstr.Int:
		port = p.IntValue()
	case intstr.String:
		if n, ok := named[p.StrVal]; ok {
			port = int(n)
		} else {
			// Last resort, as upstream: a number stored as a string.
			n, err := strconv.Atoi(p.StrVal)
			if err != nil {
				return n, err
			}
			port = n
		}
	}
	if port > 0 && port < 65536 {
		return port, nil
	}
	return port, fmt.Errorf("invalid port number: %v", port)
}

// withDefaults fills in what the API server defaults: timeoutSeconds 1,
// periodSeconds 10, successThreshold 1, failureThreshold 3.
func withDefaults(p *corev1.Probe) corev1.Probe {
	out := *p
	defaults := []struct {
		field *int32
		value int32
	}{
		{&out.TimeoutSeconds, 1},
		{&out.PeriodSeconds, 10},
		{&out.SuccessThreshold, 1},
		{&out.FailureThreshold, 3},
	}
	for _, d := range defaults {
		if *d.field <= 0 {
			*d.field = d.value
		}
	}
	return out
}
