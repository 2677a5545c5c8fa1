package daemonset

import (
	"sync"
	"time"
)

// expectationsTimeout is how long a DaemonSet waits for the creations and
// deletions it asked for before it acts again anyway (upstream's
// ExpectationsTimeout): a watch event that never comes must not freeze it.
const expectationsTimeout = 5 * time.Minute

// expectations is upstream's ControllerExpectations in small: per DaemonSet
// key, how many pod creations and deletions the informer has still to
// show.
type expectations struct {
	mu    sync.Mutex
	byKey map[string]*expected
	now   func() time.Time
}

type expected struct {
	creations, deletions int
	since                time.Time
}

func newExpectations() *expectations {
	return &expectations{byKey: map[string]*expected{}, now: time.Now}
}

// satisfied says whether the DaemonSet may create or delete pods: nothing
// is outstanding, nothing was recorded, or the wait timed out.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.byKey[key]
	if !ok || (x.creations <= 0 && x.deletions <= 0) {
		return true
	}
	return e.now().Sub(x.since) > expectationsTimeout
}

// expect records the creations and deletions about to be made; call it
// before the requests, since watch events may beat the responses.
func (e *expectations) expect(key string, creations, deletions int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &expected{creations: creations, deletions: deletions, since: e.now()}
}

// creationObserved counts one creation as seen (or as never coming).
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok {
		x.creations--
	}
}

// deletionObserved counts one deletion as seen (or as never coming).
func (e *expectations) deletionObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok {
		x.deletions--
	}
}

// forget drops what was recorded for a DaemonSet that is gone.
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
