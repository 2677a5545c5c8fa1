package probes

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// fakeContainer answers exec probes: a command succeeds while its flag is
// set, and every call is counted.
type fakeContainer struct {
	mu      sync.Mutex
	healthy map[string]bool
	calls   map[string]int
	fails   map[string]int // calls that failed
	broken  map[string]bool
	events  []string
}

func newFakeContainer() *fakeContainer {
	return &fakeContainer{healthy: map[string]bool{}, calls: map[string]int{}, fails: map[string]int{}, broken: map[string]bool{}}
}

func (f *fakeContainer) exec(ctx context.Context, command []string) (int, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := command[0]
	f.calls[c]++
	if f.broken[c] {
		return 0, "", errors.New("container is not running")
	}
	if !f.healthy[c] {
		f.fails[c]++
		return 1, c + " is unhappy", nil
	}
	return 0, "", nil
}

func (f *fakeContainer) set(command string, healthy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.healthy[command] = healthy
}

func (f *fakeContainer) count(m map[string]int, command string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return m[command]
}

func (f *fakeContainer) event(eventType, reason, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, eventType+" "+reason+" "+message)
}

func (f *fakeContainer) target() Target { return Target{Exec: f.exec, Event: f.event} }

func execProbe(command string, period, success, failure int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{command}}},
		PeriodSeconds: period, SuccessThreshold: success, FailureThreshold: failure,
	}
}

func receive(t *testing.T, results <-chan Result) Result {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no probe result")
		return Result{}
	}
}

func expectNone(t *testing.T, results <-chan Result, wait time.Duration) {
	t.Helper()
	select {
	case r := <-results:
		t.Fatalf("unexpected result %+v", r)
	case <-time.After(wait):
	}
}

func TestReadinessThresholds(t *testing.T) {
	f := newFakeContainer()
	f.set("ready", true)
	results := make(chan Result)
	stop := Start(context.Background(), Readiness, execProbe("ready", 1, 2, 3), f.target(), results)
	defer stop()

	// Not ready at first; ready after successThreshold (2) successes.
	if r := receive(t, results); r != (Result{Kind: Readiness, Success: true}) {
		t.Fatalf("got %+v", r)
	}
	if n := f.count(f.calls, "ready"); n != 2 {
		t.Errorf("ready after %d attempts, want 2", n)
	}

	// Unready after failureThreshold (3) failures in a row.
	f.set("ready", false)
	want := Result{Kind: Readiness, Success: false, Message: "Readiness probe failed: ready is unhappy"}
	if r := receive(t, results); r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	if n := f.count(f.fails, "ready"); n != 3 {
		t.Errorf("unready after %d failures, want 3", n)
	}
	// Readiness keeps probing and comes back.
	f.set("ready", true)
	if r := receive(t, results); !r.Success {
		t.Fatalf("got %+v", r)
	}
	stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) != 3 || f.events[0] != "Warning Unhealthy Readiness probe failed: ready is unhappy" {
		t.Errorf("events %q, want one Unhealthy event per failed attempt", f.events)
	}
}

func TestLiveness(t *testing.T) {
	t.Run("alive at first: successes report nothing", func(t *testing.T) {
		f := newFakeContainer()
		f.set("live", true)
		results := make(chan Result, 1)
		stop := Start(context.Background(), Liveness, execProbe("live", 1, 1, 3), f.target(), results)
		defer stop()
		expectNone(t, results, 5*second)
		if n := f.count(f.calls, "live"); n < 3 {
			t.Errorf("%d attempts in 5 periods", n)
		}
	})
	t.Run("a failure stops the worker until the container is restarted", func(t *testing.T) {
		f := newFakeContainer()
		results := make(chan Result, 1)
		stop := Start(context.Background(), Liveness, execProbe("live", 1, 1, 2), f.target(), results)
		defer stop()
		want := Result{Kind: Liveness, Message: "Liveness probe failed: live is unhappy"}
		if r := receive(t, results); r != want {
			t.Fatalf("got %+v, want %+v", r, want)
		}
		time.Sleep(4 * second)
		if n := f.count(f.calls, "live"); n != 2 {
			t.Errorf("%d attempts, want 2 and then none", n)
		}
	})
}

func TestInitialDelay(t *testing.T) {
	f := newFakeContainer()
	f.set("ready", true)
	results := make(chan Result, 1)
	p := execProbe("ready", 1, 1, 1)
	p.InitialDelaySeconds = 5
	began := time.Now()
	stop := Start(context.Background(), Readiness, p, f.target(), results)
	defer stop()
	receive(t, results)
	if waited := time.Since(began); waited < 5*second {
		t.Errorf("first result after %v, before initialDelaySeconds (%v)", waited, 5*second)
	}
}

func TestErroredProbesAreRetriedAndThrownAway(t *testing.T) {
	f := newFakeContainer()
	f.broken["ready"] = true
	results := make(chan Result, 1)
	stop := Start(context.Background(), Readiness, execProbe("ready", 1, 1, 1), f.target(), results)
	expectNone(t, results, 3*second)
	stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	// Three tries and one "errored" event per period (stop may cut the
	// last period's tries short).
	n, e := f.calls["ready"], len(f.events)
	if e == 0 || n < 3*e || n > 3*e+2 {
		t.Errorf("%d calls and %d events, want 3 calls per event", n, e)
	}
	if e == 0 || f.events[0] != "Warning Unhealthy Readiness probe errored: container is not running" {
		t.Errorf("events %q", f.events)
	}
}

func TestStartupGatesTheOthers(t *testing.T) {
	container := func() *corev1.Container {
		return &corev1.Container{
			StartupProbe:   execProbe("startup", 1, 1, 30),
			ReadinessProbe: execProbe("ready", 1, 1, 3),
			LivenessProbe:  execProbe("live", 1, 1, 3),
		}
	}
	t.Run("readiness and liveness wait for startup", func(t *testing.T) {
		f := newFakeContainer()
		f.set("ready", true)
		f.set("live", true)
		results := make(chan Result, 4)
		stop := StartContainer(context.Background(), container(), f.target(), results)
		defer stop()
		time.Sleep(4 * second)
		if r, l := f.count(f.calls, "ready"), f.count(f.calls, "live"); r+l != 0 {
			t.Fatalf("readiness ran %d times and liveness %d times before startup succeeded", r, l)
		}
		f.set("startup", true)
		if r := receive(t, results); r != (Result{Kind: Startup, Success: true}) {
			t.Fatalf("got %+v", r)
		}
		if r := receive(t, results); r != (Result{Kind: Readiness, Success: true}) {
			t.Fatalf("got %+v", r)
		}
		calls := f.count(f.calls, "startup")
		time.Sleep(3 * second)
		if f.count(f.calls, "startup") != calls {
			t.Error("the startup probe kept running after it succeeded")
		}
		if f.count(f.calls, "live") == 0 {
			t.Error("liveness did not start after startup")
		}
	})
	t.Run("a startup failure is reported and nothing else runs", func(t *testing.T) {
		f := newFakeContainer()
		c := container()
		c.StartupProbe.FailureThreshold = 2
		results := make(chan Result, 4)
		stop := StartContainer(context.Background(), c, f.target(), results)
		defer stop()
		want := Result{Kind: Startup, Message: "Startup probe failed: startup is unhappy"}
		if r := receive(t, results); r != want {
			t.Fatalf("got %+v, want %+v", r, want)
		}
		expectNone(t, results, 3*second)
		if f.count(f.calls, "ready")+f.count(f.calls, "live") != 0 {
			t.Error("readiness or liveness ran without a started container")
		}
	})
}

func TestStop(t *testing.T) {
	f := newFakeContainer()
	results := make(chan Result) // nobody reads: the worker blocks on its report
	stop := Start(context.Background(), Liveness, execProbe("live", 1, 1, 1), f.target(), results)
	time.Sleep(3 * second)
	done := make(chan struct{})
	go func() {
		stop()
		stop() // twice is fine
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return")
	}
	calls := f.count(f.calls, "live")
	time.Sleep(3 * second)
	if f.count(f.calls, "live") != calls {
		t.Error("probing went on after stop")
	}
}

func TestHTTPWarningEvent(t *testing.T) {
	// A redirect to another host is a success, with a ProbeWarning event.
	var events []string
	var mu sync.Mutex
	target := Target{PodIP: "127.0.0.1", Event: func(eventType, reason, message string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, eventType+" "+reason+" "+message)
	}}
	srv := redirectingServer(t)
	p := httpProbe("/", intstrPort(srv), 10)
	p.PeriodSeconds = 1
	results := make(chan Result, 1)
	stop := Start(context.Background(), Readiness, p, target, results)
	defer stop()
	if r := receive(t, results); !r.Success {
		t.Fatalf("got %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) == 0 || !strings.HasPrefix(events[0], "Warning ProbeWarning Readiness probe warning: Probe terminated redirects, Response body: ") {
		t.Errorf("events %q", events)
	}
}

// redirectingServer redirects every request to another host.
func redirectingServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.invalid/", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func intstrPort(srv *httptest.Server) intstr.IntOrString {
	return intstr.FromInt32(int32(srv.Listener.Addr().(*net.TCPAddr).Port))
}
