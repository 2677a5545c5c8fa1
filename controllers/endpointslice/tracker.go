package endpointslice

import (
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	listersdiscoveryv1 "k8s.io/client-go/listers/discovery/v1"
)

// expectationTimeout bounds how long a sync waits for the informer to show
// one of the controller's own writes (it normally takes milliseconds).
const expectationTimeout = 10 * time.Second

// sliceTracker remembers the controller's own EndpointSlice writes until
// the informer cache shows them. Syncing a Service from a cache that does
// not yet hold a slice created a moment ago would create it a second time
// (generateName gives every create a new name), so a sync waits while any
// write of its Service is not visible yet. Upstream's EndpointSliceTracker
// does the same with the slices' generation.
type sliceTracker struct {
	lister listersdiscoveryv1.EndpointSliceLister
	mu     sync.Mutex
	// pending maps an owner key (namespace/name) to its unseen writes.
	pending map[string][]expectation
}

// expectation is one write the cache must reflect.
type expectation struct {
	namespace, name string
	uid             types.UID
	deleted         bool   // a delete: the slice must be gone
	oldVersion      string // an update: the cache must no longer show this resourceVersion
	at              time.Time
}

func newSliceTracker(lister listersdiscoveryv1.EndpointSliceLister) *sliceTracker {
	return &sliceTracker{lister: lister, pending: map[string][]expectation{}}
}

// written records a create (oldVersion "") or an update of slice.
func (t *sliceTracker) written(key string, slice *discoveryv1.EndpointSlice, oldVersion string) {
	t.add(key, expectation{namespace: slice.Namespace, name: slice.Name, uid: slice.UID, oldVersion: oldVersion})
}

// deleted records the deletion of slice.
func (t *sliceTracker) deleted(key string, slice *discoveryv1.EndpointSlice) {
	t.add(key, expectation{namespace: slice.Namespace, name: slice.Name, uid: slice.UID, deleted: true})
}

func (t *sliceTracker) add(key string, e expectation) {
	e.at = time.Now()
	t.mu.Lock()
	t.pending[key] = append(t.pending[key], e)
	t.mu.Unlock()
}

// stale says whether the cache still misses some write for key; writes it
// has caught up with are dropped.
func (t *sliceTracker) stale(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	var left []expectation
	for _, e := range t.pending[key] {
		if !t.seen(e) && time.Since(e.at) < expectationTimeout {
			left = append(left, e)
		}
	}
	if len(left) == 0 {
		delete(t.pending, key)
		return false
	}
	t.pending[key] = left
	return true
}

func (t *sliceTracker) seen(e expectation) bool {
	cur, err := t.lister.EndpointSlices(e.namespace).Get(e.name)
	present := err == nil && cur.UID == e.uid
	switch {
	case e.deleted:
		return !present
	case e.oldVersion == "":
		return present
	default:
		// Gone (someone deleted it) or changed since: either way the cache
		// is past our write.
		return !present || cur.ResourceVersion != e.oldVersion
	}
}

// forget drops the expectations of an owner that is gone.
func (t *sliceTracker) forget(key string) {
	t.mu.Lock()
	delete(t.pending, key)
	t.mu.Unlock()
}
