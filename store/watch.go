package store

import (
	"context"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// EventType is the kind of change, as in etcd's watch API. The API server
// turns a PUT into ADDED (PrevValue nil) or MODIFIED, and a DELETE into DELETED.
type EventType string

const (
	EventPut    EventType = "PUT"
	EventDelete EventType = "DELETE"
)

// Event is one change to one key. Its byte slices are shared by every
// watcher that receives it and must not be modified.
type Event struct {
	Type EventType
	Key  string
	// Value is the new value of a PUT, or the deleted value of a DELETE.
	Value []byte
	// PrevValue is the value before this event; nil if the key did not
	// exist (the event created it).
	PrevValue []byte
	// Revision is the revision of this event: the object's new
	// resourceVersion, or for a DELETE the revision of the deletion.
	Revision       int64
	CreateRevision int64
}

// Watcher is one watch. Read Events until it is closed, then look at Err.
type Watcher struct {
	store           *Store
	prefix          string
	initialRevision int64
	// events is filled by the writer under Store.mu with non-blocking sends
	// and closed by the writer under Store.mu when the watch ends.
	events chan Event
	// stopContext unregisters the context.AfterFunc that stops the watch.
	stopContext func() bool

	errMu sync.Mutex
	err   error
}

// Watch streams the events of keys with the prefix.
//
// With initial false it first replays every kept event with Revision >
// fromRev in revision order, then live events: the way a client resumes a
// watch from the last resourceVersion it saw. fromRev below
// CompactedRevision() fails with ErrCompacted (the API server's 410 Gone, the
// client then lists again); fromRev above Revision() with ErrFutureRevision.
//
// With initial true fromRev is ignored: the watch first sends one synthetic
// PUT per existing key (sorted by key, Revision = its ModRevision, PrevValue
// nil) for the state at the current revision, which InitialRevision reports,
// then live events after it. This is what a watch with sendInitialEvents, or
// a legacy watch from resourceVersion "0", is built on.
//
// The replay or snapshot is read and the watcher registered under the write
// lock, so no write falls in between: no event is missed or sent twice.
// The watch ends when ctx is done, on Stop, on Close, or when more than the
// buffer size of events wait unread (ErrWatcherTooSlow).
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64, initial bool) (*Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var (
		backlog []Event
		err     error
	)
	if initial {
		fromRev = s.rev.Load()
		backlog, err = s.snapshotEvents(prefix)
	} else {
		backlog, err = s.eventsSince(prefix, fromRev)
	}
	if err != nil {
		return nil, err
	}
	w := &Watcher{
		store:           s,
		prefix:          prefix,
		initialRevision: fromRev,
		// Room for the whole backlog plus the live buffer, so the backlog
		// never counts against the reader.
		events: make(chan Event, len(backlog)+s.watchBufferSize),
	}
	for _, ev := range backlog {
		w.events <- ev
	}
	s.watchers[w] = struct{}{}
	w.stopContext = context.AfterFunc(ctx, w.Stop)
	return w, nil
}

// snapshotEvents is the state at the current revision as synthetic PUTs.
// Called under s.mu, so the read transaction sees exactly s.rev.
func (s *Store) snapshotEvents(prefix string) ([]Event, error) {
	var kvs []KeyValue
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		kvs, err = listTx(tx, prefix)
		return err
	})
	if err != nil {
		return nil, err
	}
	events := make([]Event, len(kvs))
	for i, kv := range kvs {
		events[i] = Event{
			Type:           EventPut,
			Key:            kv.Key,
			Value:          kv.Value,
			Revision:       kv.ModRevision,
			CreateRevision: kv.CreateRevision,
		}
	}
	return events, nil
}

// eventsSince reads the kept events with Revision > fromRev for the prefix.
func (s *Store) eventsSince(prefix string, fromRev int64) ([]Event, error) {
	var events []Event
	err := s.view(func(tx *bolt.Tx) error {
		m, err := readMeta(tx)
		if err != nil {
			return err
		}
		if err := checkRevision(fromRev, m); err != nil {
			return err
		}
		c := tx.Bucket(bucketHistory).Cursor()
		for k, v := c.Seek(revisionBytes(fromRev + 1)); k != nil; k, v = c.Next() {
			r, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			if strings.HasPrefix(r.key, prefix) {
				events = append(events, r.event())
			}
		}
		return nil
	})
	return events, err
}

// notifyLocked fans ev out to the matching watchers, in commit order since it
// runs under s.mu. A send never blocks the writer: a watcher whose buffer is
// full is ended instead, as kube-apiserver's cacher ends watchers that cannot
// keep up; the client re-watches from the last revision it received.
func (s *Store) notifyLocked(ev Event) {
	for w := range s.watchers {
		if !strings.HasPrefix(ev.Key, w.prefix) {
			continue
		}
		select {
		case w.events <- ev:
		default:
			s.endWatcherLocked(w, ErrWatcherTooSlow)
		}
	}
}

// endWatcherLocked unregisters w and closes its channel; events already in
// the buffer can still be read. Called under s.mu; ending twice is harmless.
func (s *Store) endWatcherLocked(w *Watcher, err error) {
	if _, ok := s.watchers[w]; !ok {
		return
	}
	delete(s.watchers, w)
	w.errMu.Lock()
	w.err = err
	w.errMu.Unlock()
	close(w.events)
	if w.stopContext != nil {
		w.stopContext()
	}
}

// Events delivers the watch's events. It is closed when the watch ends; the
// events buffered before that are still delivered first.
func (w *Watcher) Events() <-chan Event { return w.events }

// InitialRevision is the revision the watch is consistent with at its start:
// the snapshot's revision for an initial watch, else fromRev.
func (w *Watcher) InitialRevision() int64 { return w.initialRevision }

// Stop ends the watch. Safe to call more than once and after the watch ended.
func (w *Watcher) Stop() {
	w.store.mu.Lock()
	defer w.store.mu.Unlock()
	w.store.endWatcherLocked(w, nil)
}

// Err tells why the watch ended once Events is closed: nil for Stop, a done
// context or Close, ErrWatcherTooSlow if the watcher fell behind.
func (w *Watcher) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}
