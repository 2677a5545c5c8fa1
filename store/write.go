package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Create stores a new key. It fails with an error wrapping ErrExists if the
// key exists, like etcd's "create only if ModRevision == 0" transaction that
// kube-apiserver uses for POST.
func (s *Store) Create(key string, value []byte) (KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritableLocked(key); err != nil {
		return KeyValue{}, err
	}
	_, err := s.Get(key)
	switch {
	case err == nil:
		return KeyValue{}, fmt.Errorf("%w: %q", ErrExists, key)
	case !errors.Is(err, ErrNotFound):
		return KeyValue{}, err
	}
	r := putRecord(key, value, nil)
	if err := s.commitLocked(r); err != nil {
		return KeyValue{}, err
	}
	return r.keyValue(), nil
}

// Update is kube-apiserver's GuaranteedUpdate: tryUpdate gets the current
// value (nil if the key is missing) and returns the new one. It runs under
// the write lock, so nothing can change in between and there is no conflict
// to retry; callers compare resourceVersions inside tryUpdate and return an
// error (returned unchanged) to refuse the write.
//
// If the key is missing and !createIfMissing, Update returns an error
// wrapping ErrNotFound without calling tryUpdate. If the new value is
// byte-identical to the current one nothing is written and no revision is
// used: kube-apiserver likewise skips no-op writes, which is why an unchanged
// PUT keeps its resourceVersion.
func (s *Store) Update(key string, createIfMissing bool, tryUpdate func(cur *KeyValue) ([]byte, error)) (KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritableLocked(key); err != nil {
		return KeyValue{}, err
	}
	cur, err := s.Get(key)
	var curp *KeyValue
	switch {
	case err == nil:
		curp = &cur
	case errors.Is(err, ErrNotFound) && createIfMissing:
	default:
		return KeyValue{}, err
	}
	value, err := tryUpdate(clonePtr(curp))
	if err != nil {
		return KeyValue{}, err
	}
	if curp != nil && bytes.Equal(value, cur.Value) {
		return cur, nil
	}
	r := putRecord(key, value, curp)
	if err := s.commitLocked(r); err != nil {
		return KeyValue{}, err
	}
	return r.keyValue(), nil
}

// Delete removes key and returns what it held and the revision of the
// deletion. check (may be nil) sees the current value under the write lock
// and can refuse with an error, returned unchanged; kube-apiserver uses this
// for preconditions (uid, resourceVersion) on DELETE.
func (s *Store) Delete(key string, check func(cur KeyValue) error) (KeyValue, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritableLocked(key); err != nil {
		return KeyValue{}, 0, err
	}
	cur, err := s.Get(key)
	if err != nil {
		return KeyValue{}, 0, err
	}
	if check != nil {
		if err := check(*clonePtr(&cur)); err != nil {
			return KeyValue{}, 0, err
		}
	}
	r := &record{
		typ:             EventDelete,
		key:             key,
		value:           cur.Value,
		prev:            cur.Value,
		createRevision:  cur.CreateRevision,
		prevModRevision: cur.ModRevision,
	}
	if err := s.commitLocked(r); err != nil {
		return KeyValue{}, 0, err
	}
	return cur, r.revision, nil
}

// Compact drops the history with Revision <= rev, as kube-apiserver's
// periodic etcd compaction does. Watches and ListAt from before rev then fail
// with ErrCompacted. Compacting to a revision at or below CompactedRevision()
// does nothing; rev > Revision() fails with ErrFutureRevision.
func (s *Store) Compact(rev int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if cur := s.rev.Load(); rev > cur {
		return &FutureRevisionError{Requested: rev, Current: cur}
	}
	if rev <= s.compacted.Load() {
		return nil
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return compactTx(tx, rev) }); err != nil {
		return fmt.Errorf("store: compact to revision %d: %w", rev, err)
	}
	s.compacted.Store(rev)
	return nil
}

func (s *Store) checkWritableLocked(key string) error {
	if s.closed {
		return ErrClosed
	}
	if key == "" {
		return errEmptyKey
	}
	return nil
}

// putRecord describes writing value to key over cur (nil for a create).
func putRecord(key string, value []byte, cur *KeyValue) *record {
	r := &record{typ: EventPut, key: key, value: bytes.Clone(value)}
	if r.value == nil {
		r.value = []byte{}
	}
	if cur != nil {
		r.prev = cur.Value
		r.createRevision = cur.CreateRevision
		r.prevModRevision = cur.ModRevision
	}
	return r
}

// keyValue is the key as r leaves it. The value is copied so a caller that
// modifies it cannot change what watchers receive.
func (r *record) keyValue() KeyValue {
	return KeyValue{
		Key:            r.key,
		Value:          bytes.Clone(r.value),
		CreateRevision: r.createRevision,
		ModRevision:    r.revision,
	}
}

func clonePtr(kv *KeyValue) *KeyValue {
	if kv == nil {
		return nil
	}
	c := *kv
	c.Value = bytes.Clone(kv.Value)
	return &c
}

// commitLocked gives r the next revision and writes, in one bbolt
// transaction, the key, the history record and the new revision (and, every
// so often, a compaction). Only after the commit succeeded does the revision
// become visible and the event reach the watchers, so nothing a watcher or
// caller saw can be lost in a crash.
func (s *Store) commitLocked(r *record) error {
	r.revision = s.rev.Load() + 1
	if r.prev == nil {
		r.createRevision = r.revision
	}
	compactTo := s.autoCompactTarget(r.revision)
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := writeKey(tx, r); err != nil {
			return err
		}
		if err := tx.Bucket(bucketHistory).Put(revisionBytes(r.revision), encodeRecord(r)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Put(metaRevision, revisionBytes(r.revision)); err != nil {
			return err
		}
		if compactTo > 0 {
			return compactTx(tx, compactTo)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: commit revision %d (key %q): %w", r.revision, r.key, err)
	}
	s.rev.Store(r.revision)
	if compactTo > 0 {
		s.compacted.Store(compactTo)
	}
	s.notifyLocked(r.event())
	return nil
}

func writeKey(tx *bolt.Tx, r *record) error {
	b := tx.Bucket(bucketKeys)
	if r.typ == EventDelete {
		return b.Delete([]byte(r.key))
	}
	return b.Put([]byte(r.key), encodeKeyValue(KeyValue{
		Value:          r.value,
		CreateRevision: r.createRevision,
		ModRevision:    r.revision,
	}))
}

// autoCompactTarget says whether the write at rev should also compact, and
// to which revision. Every write has exactly one history record, so the
// history holds (at most) rev-compacted records. Compaction runs once that exceeds the
// limit by a tenth and trims back to the limit, so it happens in batches
// rather than on every write.
func (s *Store) autoCompactTarget(rev int64) int64 {
	limit := int64(s.historyLimit)
	if rev-s.compacted.Load() <= limit+limit/10 {
		return 0
	}
	return rev - limit
}

// compactTx deletes the history records with revision <= rev.
func compactTx(tx *bolt.Tx, rev int64) error {
	c := tx.Bucket(bucketHistory).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.First() {
		r, err := decodeRevision(k)
		if err != nil {
			return err
		}
		if r > rev {
			break
		}
		// Re-seek after each delete: a bbolt cursor may skip an item when
		// Next follows Delete.
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(metaCompacted, revisionBytes(rev))
}
