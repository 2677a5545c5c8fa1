package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// DefaultHistoryLimit is how many recent events are kept when
	// Options.HistoryLimit is 0. kube-apiserver asks etcd to compact every
	// five minutes; a fixed number of events is the simpler equivalent here.
	DefaultHistoryLimit = 10000
	// DefaultWatchBufferSize is how many events may wait for a slow watcher
	// before it is ended with ErrWatcherTooSlow.
	DefaultWatchBufferSize = 1000
	// lockTimeout bounds the wait for bbolt's file lock, so a second minilab
	// process on the same database fails instead of hanging.
	lockTimeout = time.Second
)

// Options tune a Store. The zero value is the safe default.
type Options struct {
	// HistoryLimit is how many of the most recent events are kept for
	// watches that resume from a revision and for ListAt; older ones are
	// compacted away. 0 means DefaultHistoryLimit.
	HistoryLimit int
	// NoSync skips fsync on commit (benchmarks and tests only). By default
	// every acknowledged write is durable.
	NoSync bool
	// WatchBufferSize is how many live events a watcher may have waiting
	// before it is ended with ErrWatcherTooSlow. 0 means DefaultWatchBufferSize.
	WatchBufferSize int
}

// KeyValue is one key as stored, with the revisions etcd keeps for it.
// Values handed out by the store may be shared (for example with watchers)
// and must not be modified.
type KeyValue struct {
	Key   string
	Value []byte
	// CreateRevision is the revision at which the key was created.
	CreateRevision int64
	// ModRevision is the revision of the last write to the key; the API
	// server reports it as metadata.resourceVersion.
	ModRevision int64
}

var (
	// ErrNotFound: the key does not exist (the API server's 404 NotFound).
	ErrNotFound = errors.New("store: key not found")
	// ErrExists: Create of a key that exists (the API server's 409 AlreadyExists).
	ErrExists = errors.New("store: key already exists")
	// ErrCompacted: the revision is older than the kept history (the API
	// server's 410 Gone, "too old resource version"). Returned wrapped in a
	// *CompactedError that carries the numbers.
	ErrCompacted = errors.New("store: required revision has been compacted")
	// ErrFutureRevision: the revision is newer than the current one.
	// Returned wrapped in a *FutureRevisionError that carries the numbers.
	ErrFutureRevision = errors.New("store: required revision is a future revision")
	// ErrWatcherTooSlow ends a watcher whose buffer filled up.
	ErrWatcherTooSlow = errors.New("store: watcher fell behind and was ended")
	// ErrClosed is returned by every call on a closed Store.
	ErrClosed = errors.New("store: closed")

	errEmptyKey = errors.New("store: empty key")
)

// CompactedError reports a revision that is no longer in the history.
// errors.Is(err, ErrCompacted) is true for it.
type CompactedError struct {
	Requested int64
	// Oldest is the oldest revision that can still be asked for, that is
	// CompactedRevision(). kube-apiserver prints the same pair as
	// "too old resource version: <requested> (<oldest>)".
	Oldest int64
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("%v: requested revision %d, oldest kept revision is %d", ErrCompacted, e.Requested, e.Oldest)
}

// Is makes errors.Is(err, ErrCompacted) true.
func (e *CompactedError) Is(target error) bool { return target == ErrCompacted }

// FutureRevisionError reports a revision the store has not reached yet.
// errors.Is(err, ErrFutureRevision) is true for it.
type FutureRevisionError struct {
	Requested int64
	Current   int64
}

func (e *FutureRevisionError) Error() string {
	return fmt.Sprintf("%v: requested revision %d, current revision is %d", ErrFutureRevision, e.Requested, e.Current)
}

// Is makes errors.Is(err, ErrFutureRevision) true.
func (e *FutureRevisionError) Is(target error) bool { return target == ErrFutureRevision }

// Store is the key/value store. All methods are safe for concurrent use.
type Store struct {
	db              *bolt.DB
	historyLimit    int
	watchBufferSize int

	// mu is the write lock. Every write reads the current value, commits
	// and fans the event out to watchers while holding it, so writes,
	// revisions and watch events all happen in one order. Reads do not take
	// it: they use bbolt read transactions, which see a consistent snapshot.
	mu       sync.Mutex
	closed   bool
	watchers map[*Watcher]struct{}

	// rev and compacted mirror the persisted values so Revision() and
	// CompactedRevision() need no transaction. Written only under mu.
	rev       atomic.Int64
	compacted atomic.Int64
}

// Open opens (or creates) the database at path and recovers the revision,
// the compacted revision and the history from it.
func Open(path string, opts Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, NoSync: opts.NoSync})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("store: %s is in use by another process: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{
		db:              db,
		historyLimit:    opts.HistoryLimit,
		watchBufferSize: opts.WatchBufferSize,
		watchers:        map[*Watcher]struct{}{},
	}
	if s.historyLimit <= 0 {
		s.historyLimit = DefaultHistoryLimit
	}
	if s.watchBufferSize <= 0 {
		s.watchBufferSize = DefaultWatchBufferSize
	}
	var m meta
	err = db.Update(func(tx *bolt.Tx) error {
		var err error
		m, err = initBuckets(tx)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.rev.Store(m.revision)
	s.compacted.Store(m.compacted)
	return s, nil
}

// Close ends all watchers (their Err is nil) and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for w := range s.watchers {
		s.endWatcherLocked(w, nil)
	}
	s.mu.Unlock()
	return s.db.Close()
}

// Revision is the current global revision. It never decreases, survives
// restarts, and every write (deletes too) raises it by one.
func (s *Store) Revision() int64 { return s.rev.Load() }

// CompactedRevision is the revision up to which history was dropped: events
// with Revision <= CompactedRevision() are gone, and it is the oldest
// revision ListAt and Watch still accept.
func (s *Store) CompactedRevision() int64 { return s.compacted.Load() }

// view runs fn in a bbolt read transaction.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	err := s.db.View(fn)
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// checkRevision tells whether the history held in m can answer a question
// about revision rev.
func checkRevision(rev int64, m meta) error {
	if rev < m.compacted {
		return &CompactedError{Requested: rev, Oldest: m.compacted}
	}
	if rev > m.revision {
		return &FutureRevisionError{Requested: rev, Current: m.revision}
	}
	return nil
}
