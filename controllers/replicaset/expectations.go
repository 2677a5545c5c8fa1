package replicaset

import (
	"sync"
	"time"
)

// expectationsTimeout is how long a ReplicaSet waits for creations and
// deletions it asked for before it acts again anyway (upstream's
// ExpectationsTimeout): a watch event that never comes must not freeze it.
const expectationsTimeout = 5 * time.Minute

// expectations is upstream's UIDTrackingControllerExpectations in small:
// per ReplicaSet key, how many pod creations are still to be seen in the
// informer and which pods (namespace/name) are still to be seen deleted.
type expectations struct {
	mu    sync.Mutex
	byKey map[string]*expected
	now   func() time.Time
}

type expected struct {
	creations int
	deletions map[string]bool
	since     time.Time
}

func newExpectations() *expectations {
	return &expectations{byKey: map[string]*expected{}, now: time.Now}
}

// satisfied says whether the ReplicaSet may create or delete pods: nothing
// is outstanding, nothing was ever recorded, or the wait timed out.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.byKey[key]
	if !ok {
		return true
	}
	if x.creations <= 0 && len(x.deletions) == 0 {
		return true
	}
	return e.now().Sub(x.since) > expectationsTimeout
}

// expectCreations records that n pods are about to be created.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &expected{creations: n, since: e.now()}
}

// expectDeletions records the pods about to be deleted.
func (e *expectations) expectDeletions(key string, pods []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expected{deletions: map[string]bool{}, since: e.now()}
	for _, p := range pods {
		x.deletions[p] = true
	}
	e.byKey[key] = x
}

// creationObserved counts one created pod as seen (or as never coming).
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok && x.creations > 0 {
		x.creations--
	}
}

// deletionObserved counts the deletion of pod (namespace/name) as seen.
func (e *expectations) deletionObserved(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok {
		delete(x.deletions, pod)
	}
}

// forget drops what was recorded for a ReplicaSet that is gone.
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
