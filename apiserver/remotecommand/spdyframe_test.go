package remotecommand

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"reflect"
	"testing"
)

// The dictionary must be byte for byte the one of the SPDY/3 draft (and of
// moby/spdystream, kubectl's side): 1423 bytes.
func TestHeaderDictionary(t *testing.T) {
	sum := sha256.Sum256(headerDictionary)
	if len(headerDictionary) != 1423 || hex.EncodeToString(sum[:]) != "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02" {
		t.Fatalf("dictionary: %d bytes, sha256 %x", len(headerDictionary), sum)
	}
}

// Header blocks share one zlib stream per direction: each must decode in
// turn, with the state the blocks before it left.
func TestHeaderBlocks(t *testing.T) {
	blocks := []http.Header{
		{"Streamtype": {"error"}},
		{"Streamtype": {"stdin"}},
		{},
		{"Streamtype": {"stdout"}, "Port": {"80", "8080"}},
	}
	var enc headerEncoder
	var dec headerDecoder
	for i, h := range blocks {
		block, err := enc.encode(h)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dec.decode(block)
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, h) {
			t.Fatalf("block %d: got %v, want %v", i, got, h)
		}
	}
}

func TestFrames(t *testing.T) {
	tests := []struct {
		name  string
		wire  []byte
		check frame
	}{
		{"data", dataFrame(5, flagFin, []byte("hi")), frame{streamID: 5, flags: flagFin, payload: []byte("hi")}},
		{"empty FIN", dataFrame(3, flagFin, nil), frame{streamID: 3, flags: flagFin, payload: []byte{}}},
		{"ping", controlFrame(framePing, 0, []byte{0, 0, 0, 1}), frame{control: true, typ: framePing, payload: []byte{0, 0, 0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readFrame(bytes.NewReader(tt.wire))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.check) {
				t.Fatalf("got %+v, want %+v", got, tt.check)
			}
		})
	}
	// The control bit, version 3 and the 24-bit length, as on the wire.
	if got := controlFrame(frameSynReply, 0, []byte{0, 0, 0, 1}); !bytes.Equal(got[:8], []byte{0x80, 3, 0, 2, 0, 0, 0, 4}) {
		t.Fatalf("SYN_REPLY header % x", got[:8])
	}
	if _, err := readFrame(bytes.NewReader([]byte{0x80, 2, 0, 1, 0, 0, 0, 0})); err == nil {
		t.Fatal("a SPDY/2 frame was accepted")
	}
}
