package statefulset

import (
	"sync"
	"time"
)

// expectationsTimeout is how long a StatefulSet waits for the creations and
// deletions it asked for to show up in its informer before it acts again
// anyway: a watch event that never comes must not freeze it.
const expectationsTimeout = 5 * time.Minute

// expectations records, per StatefulSet key, the pods (by name) just created
// or deleted whose watch events have not arrived yet. Pod names are fixed,
// so unlike the ReplicaSet controller's counts these are names.
type expectations struct {
	mu    sync.Mutex
	byKey map[string]*pending
	now   func() time.Time
}

type pending struct {
	creations map[string]bool
	deletions map[string]bool
	since     time.Time
}

func newExpectations() *expectations {
	return &expectations{byKey: map[string]*pending{}, now: time.Now}
}

// satisfied says whether the informer has caught up with everything the
// controller did to the set (or the wait timed out).
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.byKey[key]
	if !ok || len(p.creations)+len(p.deletions) == 0 {
		return true
	}
	return e.now().Sub(p.since) > expectationsTimeout
}

func (e *expectations) entry(key string) *pending {
	p, ok := e.byKey[key]
	if !ok || len(p.creations)+len(p.deletions) == 0 {
		p = &pending{creations: map[string]bool{}, deletions: map[string]bool{}, since: e.now()}
		e.byKey[key] = p
	}
	return p
}

// expectCreation records a pod about to be created; call it before the
// request, since the watch event may come before the response.
func (e *expectations) expectCreation(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.entry(key).creations[pod] = true
}

// expectDeletion records a pod about to be deleted.
func (e *expectations) expectDeletion(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.entry(key).deletions[pod] = true
}

// creationObserved marks a creation as seen (or as never coming, when the
// request failed).
func (e *expectations) creationObserved(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.byKey[key]; ok {
		delete(p.creations, pod)
	}
}

// deletionObserved marks a deletion as seen (or as never coming).
func (e *expectations) deletionObserved(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.byKey[key]; ok {
		delete(p.deletions, pod)
	}
}

// forget drops what was recorded for a StatefulSet that is gone.
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
