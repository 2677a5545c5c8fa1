package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The database has three buckets:
//
//	keys     key -> createRevision(8) modRevision(8) value
//	history  revision(8, big-endian, so the cursor walks in revision order) -> record
//	meta     "revision" -> current revision, "compacted" -> compacted revision
//
// A write touches all three in one bbolt transaction, so the object, the
// revision and the history can never disagree after a crash.
var (
	bucketKeys    = []byte("keys")
	bucketHistory = []byte("history")
	bucketMeta    = []byte("meta")

	metaRevision  = []byte("revision")
	metaCompacted = []byte("compacted")
)

// initialRevision is the revision of an empty store. A new etcd cluster
// starts at revision 1 too, so the first write gets revision 2; this keeps
// resourceVersion "0", which Kubernetes reserves for "any version", from ever
// naming real state.
const initialRevision = 1

// meta is the persisted bookkeeping.
type meta struct {
	revision  int64
	compacted int64
}

// initBuckets creates the buckets of a new database and reads the meta.
func initBuckets(tx *bolt.Tx) (meta, error) {
	for _, name := range [][]byte{bucketKeys, bucketHistory, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return meta{}, err
		}
	}
	if tx.Bucket(bucketMeta).Get(metaRevision) == nil {
		if err := tx.Bucket(bucketMeta).Put(metaRevision, revisionBytes(initialRevision)); err != nil {
			return meta{}, err
		}
	}
	return readMeta(tx)
}

func readMeta(tx *bolt.Tx) (meta, error) {
	b := tx.Bucket(bucketMeta)
	var m meta
	var err error
	if m.revision, err = decodeRevision(b.Get(metaRevision)); err != nil {
		return meta{}, fmt.Errorf("meta revision: %w", err)
	}
	if v := b.Get(metaCompacted); v != nil {
		if m.compacted, err = decodeRevision(v); err != nil {
			return meta{}, fmt.Errorf("meta compacted: %w", err)
		}
	}
	return m, nil
}

var errCorrupt = errors.New("corrupt record")

func revisionBytes(rev int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(rev))
}

func decodeRevision(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, errCorrupt
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// encodeKeyValue is the value stored under a key in the keys bucket.
func encodeKeyValue(kv KeyValue) []byte {
	b := make([]byte, 0, 16+len(kv.Value))
	b = binary.BigEndian.AppendUint64(b, uint64(kv.CreateRevision))
	b = binary.BigEndian.AppendUint64(b, uint64(kv.ModRevision))
	return append(b, kv.Value...)
}

// decodeKeyValue copies what bbolt returned: bbolt's slices are only valid
// inside the transaction.
func decodeKeyValue(key string, b []byte) (KeyValue, error) {
	if len(b) < 16 {
		return KeyValue{}, fmt.Errorf("key %q: %w", key, errCorrupt)
	}
	return KeyValue{
		Key:            key,
		CreateRevision: int64(binary.BigEndian.Uint64(b[0:8])),
		ModRevision:    int64(binary.BigEndian.Uint64(b[8:16])),
		Value:          bytes.Clone(b[16:]),
	}, nil
}

// record is one entry of the history: an Event plus the key's ModRevision
// before it, which ListAt needs to roll the state back.
type record struct {
	typ             EventType
	key             string
	value           []byte // new value; for a delete, the deleted value
	prev            []byte // nil if the key did not exist before
	revision        int64
	createRevision  int64
	prevModRevision int64 // 0 if the key did not exist before
}

func (r *record) event() Event {
	return Event{
		Type:           r.typ,
		Key:            r.key,
		Value:          r.value,
		PrevValue:      r.prev,
		Revision:       r.revision,
		CreateRevision: r.createRevision,
	}
}

// Record encoding: type(1) createRevision(8) prevModRevision(8)
// len(key) key, hasPrev(1) [len(prev) prev], value (the rest).
// The revision is the bucket key, not part of the value.
var typeCodes = map[EventType]byte{EventPut: 'P', EventDelete: 'D'}

func encodeRecord(r *record) []byte {
	b := make([]byte, 0, 32+len(r.key)+len(r.prev)+len(r.value))
	b = append(b, typeCodes[r.typ])
	b = binary.BigEndian.AppendUint64(b, uint64(r.createRevision))
	b = binary.BigEndian.AppendUint64(b, uint64(r.prevModRevision))
	b = binary.AppendUvarint(b, uint64(len(r.key)))
	b = append(b, r.key...)
	if r.prev == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(r.prev)))
		b = append(b, r.prev...)
	}
	return append(b, r.value...)
}

// recordDecoder walks an encoded record; the first failure sticks.
type recordDecoder struct {
	b   []byte
	err error
}

func (d *recordDecoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.err = errCorrupt
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *recordDecoder) uint64() uint64 {
	b := d.take(8)
	if d.err != nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (d *recordDecoder) bytes() []byte {
	n, size := binary.Uvarint(d.b)
	if size <= 0 {
		d.err = errCorrupt
		return nil
	}
	d.b = d.b[size:]
	return d.take(int(n))
}

func decodeRecord(rev []byte, b []byte) (*record, error) {
	revision, err := decodeRevision(rev)
	if err != nil {
		return nil, err
	}
	d := &recordDecoder{b: b}
	r := &record{revision: revision}
	switch code := d.take(1); {
	case d.err != nil:
	case code[0] == typeCodes[EventPut]:
		r.typ = EventPut
	case code[0] == typeCodes[EventDelete]:
		r.typ = EventDelete
	default:
		d.err = errCorrupt
	}
	r.createRevision = int64(d.uint64())
	r.prevModRevision = int64(d.uint64())
	r.key = string(d.bytes())
	if hasPrev := d.take(1); d.err == nil && hasPrev[0] == 1 {
		r.prev = append([]byte{}, d.bytes()...) // non-nil even when empty
	}
	if d.err != nil {
		return nil, fmt.Errorf("history revision %d: %w", revision, d.err)
	}
	r.value = append([]byte{}, d.b...)
	return r, nil
}
