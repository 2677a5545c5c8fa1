package store

import (
	"errors"
	"reflect"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []*record{
		{typ: EventPut, key: "/registry/pods/default/p", value: []byte(`{"kind":"Pod"}`), revision: 7, createRevision: 7},
		{typ: EventPut, key: "k", value: []byte("new"), prev: []byte{}, revision: 9, createRevision: 3, prevModRevision: 8},
		{typ: EventPut, key: "k", value: []byte{}, prev: []byte("old"), revision: 10, createRevision: 3, prevModRevision: 9},
		{typ: EventDelete, key: "k", value: []byte("old"), prev: []byte("old"), revision: 11, createRevision: 3, prevModRevision: 10},
	}
	for _, want := range tests {
		got, err := decodeRecord(revisionBytes(want.revision), encodeRecord(want))
		if err != nil {
			t.Fatalf("decode %+v: %v", want, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip = %+v, want %+v", got, want)
		}
		// An empty previous value is still a previous value: the key existed.
		if (got.prev == nil) != (want.prev == nil) {
			t.Errorf("prev nil-ness lost: got %#v, want %#v", got.prev, want.prev)
		}
	}
}

func TestDecodeCorruptRecord(t *testing.T) {
	good := encodeRecord(&record{typ: EventPut, key: "some/key", value: []byte("v"), prev: []byte("p")})
	tests := map[string][]byte{
		"empty":          {},
		"unknown type":   append([]byte{'X'}, good[1:]...),
		"truncated head": good[:10],
		"truncated key":  good[:19],
	}
	for name, b := range tests {
		if _, err := decodeRecord(revisionBytes(5), b); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: err = %v, want errCorrupt", name, err)
		}
	}
	if _, err := decodeRecord([]byte{1, 2}, good); !errors.Is(err, errCorrupt) {
		t.Errorf("short revision key: err = %v, want errCorrupt", err)
	}
}
