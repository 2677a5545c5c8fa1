package probes

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Kind is the kind of a probe, spelled as in the kubelet's events.
type Kind string

const (
	Readiness Kind = "Readiness"
	Liveness  Kind = "Liveness"
	Startup   Kind = "Startup"
)

// Result is a change of a probe's thresholded state. For a failure, Message
// is the kubelet's event text, such as "Liveness probe failed: dial tcp
// 10.244.1.5:8080: connect: connection refused".
type Result struct {
	Kind    Kind
	Success bool
	Message string
}

// maxRetries is how often the kubelet tries a probe that could not be run
// (an error, not a failure) before giving up on that period.
const maxRetries = 3

// Start runs one probe of one container until ctx ends or stop is called,
// sending each change of its state on results. The state starts as the
// kubelet's: not ready, alive, and not yet started; a startup probe reports
// its first thresholded result either way. After reporting a liveness
// failure or a startup result the worker stops, as the kubelet's holds
// until the container is restarted.
func Start(ctx context.Context, kind Kind, probe *corev1.Probe, target Target, results chan<- Result) (stop func()) {
	return start(ctx, kind, probe, target, func(ctx context.Context, r Result) {
		select {
		case results <- r:
		case <-ctx.Done():
		}
	})
}

// StartContainer runs all the probes a container declares, its startup
// probe holding the others back until it succeeds. If target.Ports is nil,
// the container's named ports are used. Without a readiness probe a
// container is ready once started; that is for the caller to apply.
func StartContainer(ctx context.Context, c *corev1.Container, target Target, results chan<- Result) (stop func()) {
	if target.Ports == nil {
		target.Ports = NamedPorts(c)
	}
	send := func(ctx context.Context, r Result) {
		select {
		case results <- r:
		case <-ctx.Done():
		}
	}
	var started atomic.Bool
	started.Store(c.StartupProbe == nil)
	var stops []func()
	if c.StartupProbe != nil {
		stops = append(stops, start(ctx, Startup, c.StartupProbe, target, func(ctx context.Context, r Result) {
			if r.Success {
				started.Store(true)
			}
			send(ctx, r)
		}))
	}
	target.Started = started.Load
	for _, p := range []struct {
		kind  Kind
		probe *corev1.Probe
	}{{Readiness, c.ReadinessProbe}, {Liveness, c.LivenessProbe}} {
		if p.probe != nil {
			stops = append(stops, start(ctx, p.kind, p.probe, target, send))
		}
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

func start(ctx context.Context, kind Kind, probe *corev1.Probe, target Target, report func(context.Context, Result)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	w := &worker{kind: kind, probe: withDefaults(probe), target: target, report: report, state: initialState[kind]}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// state is a probe's thresholded result; startup probes start unknown.
type state int8

const (
	stateUnknown state = iota
	stateFailure
	stateSuccess
)

var initialState = map[Kind]state{Readiness: stateFailure, Liveness: stateSuccess, Startup: stateUnknown}

// worker is one probe of one container, as a kubelet probe worker.
type worker struct {
	kind   Kind
	probe  corev1.Probe
	target Target
	report func(context.Context, Result)

	state     state
	lastOK    bool // the result of the last attempt
	resultRun int  // how many attempts in a row had that result
}

// run probes once at once and then every periodSeconds.
func (w *worker) run(ctx context.Context) {
	startedAt := time.Now()
	ticker := time.NewTicker(time.Duration(w.probe.PeriodSeconds) * second)
	defer ticker.Stop()
	for w.probeOnce(ctx, startedAt) {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// probeOnce is one period of the worker; it says whether to go on.
func (w *worker) probeOnce(ctx context.Context, startedAt time.Time) bool {
	if time.Since(startedAt) < time.Duration(w.probe.InitialDelaySeconds)*second {
		return true
	}
	if w.kind != Startup && w.target.Started != nil && !w.target.Started() {
		return true
	}
	a := w.attempt(ctx)
	if ctx.Err() != nil {
		return false
	}
	w.recordEvent(a)
	if a.outcome == unknown {
		return true // an error, not a result: thrown away
	}

	if w.resultRun > 0 && a.ok() == w.lastOK {
		w.resultRun++
	} else {
		w.lastOK, w.resultRun = a.ok(), 1
	}
	threshold := w.probe.FailureThreshold
	if a.ok() {
		threshold = w.probe.SuccessThreshold
	}
	if w.resultRun < int(threshold) {
		return true
	}
	w.setState(ctx, a)
	// A failed liveness probe gets the container killed, and a startup
	// probe has done its work either way: stop until the next container.
	return !(w.kind == Liveness && !a.ok()) && w.kind != Startup
}

// attempt runs the probe, retrying one that could not be run.
func (w *worker) attempt(ctx context.Context) attempt {
	var a attempt
	for i := 0; i < maxRetries; i++ {
		if a = runOnce(ctx, &w.probe, w.target); a.outcome != unknown || ctx.Err() != nil {
			break
		}
	}
	return a
}

// recordEvent records the kubelet's event for an attempt that did not
// simply succeed.
func (w *worker) recordEvent(a attempt) {
	if w.target.Event == nil {
		return
	}
	switch a.outcome {
	case failure:
		w.target.Event(corev1.EventTypeWarning, "Unhealthy", string(w.kind)+" probe failed: "+a.output)
	case unknown:
		w.target.Event(corev1.EventTypeWarning, "Unhealthy", string(w.kind)+" probe errored: "+a.err.Error())
	case warning:
		w.target.Event(corev1.EventTypeWarning, "ProbeWarning", string(w.kind)+" probe warning: "+a.output)
	}
}

// setState reports the thresholded result if it changed.
func (w *worker) setState(ctx context.Context, a attempt) {
	next := stateFailure
	if a.ok() {
		next = stateSuccess
	}
	if next == w.state {
		return
	}
	w.state = next
	r := Result{Kind: w.kind, Success: a.ok()}
	if !a.ok() {
		r.Message = string(w.kind) + " probe failed: " + a.output
	}
	w.report(ctx, r)
}
