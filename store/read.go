package store

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Get returns the current value of key, or an error wrapping ErrNotFound.
func (s *Store) Get(key string) (KeyValue, error) {
	var kv KeyValue
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		kv, err = getTx(tx, key)
		return err
	})
	return kv, err
}

func getTx(tx *bolt.Tx, key string) (KeyValue, error) {
	v := tx.Bucket(bucketKeys).Get([]byte(key))
	if v == nil {
		return KeyValue{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return decodeKeyValue(key, v)
}

// List returns every key with the prefix, sorted by key, and the revision at
// which the list was read: the value the API server puts in a list's
// metadata.resourceVersion, from which a client starts its watch.
func (s *Store) List(prefix string) ([]KeyValue, int64, error) {
	var (
		kvs []KeyValue
		rev int64
	)
	err := s.view(func(tx *bolt.Tx) error {
		m, err := readMeta(tx)
		if err != nil {
			return err
		}
		rev = m.revision
		kvs, err = listTx(tx, prefix)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return kvs, rev, nil
}

// listTx scans only the keys with the prefix: bbolt keeps keys sorted, so
// they are one contiguous run starting where Seek lands.
func listTx(tx *bolt.Tx, prefix string) ([]KeyValue, error) {
	var kvs []KeyValue
	p := []byte(prefix)
	c := tx.Bucket(bucketKeys).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		kv, err := decodeKeyValue(string(k), v)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, kv)
	}
	return kvs, nil
}

// ListAt returns the keys with the prefix as they were at revision rev,
// sorted by key. It starts from the current state and undoes the kept events
// newer than rev, newest first, the way a list at an old resourceVersion is
// answered from etcd's MVCC history. It fails with ErrCompacted if rev is
// older than CompactedRevision() and ErrFutureRevision if rev > Revision().
func (s *Store) ListAt(prefix string, rev int64) ([]KeyValue, error) {
	var kvs []KeyValue
	err := s.view(func(tx *bolt.Tx) error {
		m, err := readMeta(tx)
		if err != nil {
			return err
		}
		if err := checkRevision(rev, m); err != nil {
			return err
		}
		current, err := listTx(tx, prefix)
		if err != nil {
			return err
		}
		state := make(map[string]KeyValue, len(current))
		for _, kv := range current {
			state[kv.Key] = kv
		}
		c := tx.Bucket(bucketHistory).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			r, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			if r.revision <= rev {
				break
			}
			if strings.HasPrefix(r.key, prefix) {
				undo(state, r)
			}
		}
		kvs = sortedKeyValues(state)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return kvs, nil
}

// undo puts the key back the way it was before r.
func undo(state map[string]KeyValue, r *record) {
	if r.prev == nil { // r created the key
		delete(state, r.key)
		return
	}
	state[r.key] = KeyValue{
		Key:            r.key,
		Value:          r.prev,
		CreateRevision: r.createRevision,
		ModRevision:    r.prevModRevision,
	}
}

func sortedKeyValues(state map[string]KeyValue) []KeyValue {
	kvs := make([]KeyValue, 0, len(state))
	for _, kv := range state {
		kvs = append(kvs, kv)
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	return kvs
}
