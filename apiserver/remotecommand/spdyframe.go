package remotecommand

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The SPDY/3.1 framing layer, as far as a server of kubectl exec needs it
// (the SPDY draft 3.1 specification, section 2). Every frame starts with
// eight bytes:
//
//	control frame: |1| version (15 bits) | type (16) | flags (8) | length (24) |
//	data frame:    |0| stream ID (31 bits)           | flags (8) | length (24) |
//
// Header blocks (in SYN_STREAM, SYN_REPLY and HEADERS) are name/value pairs
// compressed with zlib. Each direction of a connection is ONE zlib stream,
// started with a fixed dictionary and flushed (not ended) after each block,
// so blocks must be decoded in the order they arrive, and every block the
// client sends has to go through the decompressor even when its headers do
// not matter.

const spdyVersion = 3

// Control frame types.
const (
	frameSynStream    = 1
	frameSynReply     = 2
	frameRstStream    = 3
	frameSettings     = 4
	framePing         = 6
	frameGoAway       = 7
	frameHeaders      = 8
	frameWindowUpdate = 9
)

// flagFin ends the sender's side of a stream (on data, SYN_STREAM, SYN_REPLY
// and HEADERS frames).
const flagFin = 0x01

// maxFrameLength is the largest length the 24-bit field can hold.
const maxFrameLength = 1<<24 - 1

// frame is one frame as read from the wire.
type frame struct {
	control  bool
	typ      uint16 // control frames
	streamID uint32 // data frames
	flags    byte
	payload  []byte
}

// readFrame reads the next frame.
func readFrame(r io.Reader) (frame, error) {
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return frame{}, err
	}
	f := frame{flags: head[4]}
	length := uint32(head[5])<<16 | uint32(head[6])<<8 | uint32(head[7])
	if head[0]&0x80 != 0 {
		f.control = true
		if v := binary.BigEndian.Uint16(head[0:2]) & 0x7fff; v != spdyVersion {
			return frame{}, fmt.Errorf("SPDY version %d, want %d", v, spdyVersion)
		}
		f.typ = binary.BigEndian.Uint16(head[2:4])
	} else {
		f.streamID = binary.BigEndian.Uint32(head[0:4]) & 0x7fffffff
	}
	f.payload = make([]byte, length)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return frame{}, err
	}
	return f, nil
}

// controlFrame encodes a control frame.
func controlFrame(typ uint16, flags byte, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:2], 0x8000|spdyVersion)
	binary.BigEndian.PutUint16(b[2:4], typ)
	putFlagsLength(b[4:8], flags, len(payload))
	return append(b, payload...)
}

// dataFrame encodes a data frame.
func dataFrame(streamID uint32, flags byte, data []byte) []byte {
	b := make([]byte, 8, 8+len(data))
	binary.BigEndian.PutUint32(b[0:4], streamID&0x7fffffff)
	putFlagsLength(b[4:8], flags, len(data))
	return append(b, data...)
}

func putFlagsLength(b []byte, flags byte, length int) {
	b[0] = flags
	b[1], b[2], b[3] = byte(length>>16), byte(length>>8), byte(length)
}

// synStream is what a SYN_STREAM frame says: the client opens a stream.
type synStream struct {
	streamID uint32
	fin      bool
	headers  []byte // the compressed header block
}

func parseSynStream(f frame) (synStream, error) {
	// stream ID (4), associated-to stream ID (4), priority and slot (2)
	if len(f.payload) < 10 {
		return synStream{}, errors.New("SYN_STREAM frame too short")
	}
	return synStream{
		streamID: binary.BigEndian.Uint32(f.payload[0:4]) & 0x7fffffff,
		fin:      f.flags&flagFin != 0,
		headers:  f.payload[10:],
	}, nil
}

// streamIDOf reads the stream ID that starts RST_STREAM, HEADERS,
// SYN_REPLY and WINDOW_UPDATE payloads.
func streamIDOf(f frame) uint32 {
	if len(f.payload) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(f.payload[0:4]) & 0x7fffffff
}

// headerDictionary primes the zlib streams of header blocks (SPDY/3
// section 2.6.10.1): length-prefixed words, then a run of raw text.
var headerDictionary = buildHeaderDictionary()

func buildHeaderDictionary() []byte {
	words := []string{
		"options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
		"accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
		"cache-control", "connection", "content-base", "content-encoding", "content-language",
		"content-length", "content-location", "content-md5", "content-range", "content-type",
		"date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
		"if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
		"max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
		"retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
		"vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
		"version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
	}
	raw := "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505" +
		"203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request" +
		"401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented" +
		"503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 " +
		"Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif," +
		"application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=" +
		"gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
	var b []byte
	for _, w := range words {
		b = binary.BigEndian.AppendUint32(b, uint32(len(w)))
		b = append(b, w...)
	}
	return append(b, raw...)
}

// headerDecoder decompresses the header blocks one side sends.
type headerDecoder struct {
	src chunks
	z   io.ReadCloser
}

// decode decodes the next header block: a 32-bit count of pairs, then per
// pair a 32-bit length and a lowercase name, a 32-bit length and the value
// (several values are separated by NUL bytes).
func (d *headerDecoder) decode(block []byte) (http.Header, error) {
	d.src.add(block)
	if d.z == nil {
		z, err := zlib.NewReaderDict(&d.src, headerDictionary)
		if err != nil {
			return nil, fmt.Errorf("header block: %w", err)
		}
		d.z = z
	}
	count, err := d.uint32()
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for i := uint32(0); i < count; i++ {
		name, err := d.string()
		if err != nil {
			return nil, err
		}
		value, err := d.string()
		if err != nil {
			return nil, err
		}
		for _, v := range strings.Split(value, "\x00") {
			h.Add(name, v)
		}
	}
	return h, nil
}

func (d *headerDecoder) uint32() (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(d.z, b[:]); err != nil {
		return 0, fmt.Errorf("header block: %w", err)
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

func (d *headerDecoder) string() (string, error) {
	n, err := d.uint32()
	if err != nil {
		return "", err
	}
	if n > maxFrameLength {
		return "", errors.New("header block: name or value too long")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.z, b); err != nil {
		return "", fmt.Errorf("header block: %w", err)
	}
	return string(b), nil
}

// chunks feeds the header blocks of successive frames to the one zlib
// stream. Since the sender flushes after each block, the decompressor never
// needs bytes of a block that has not arrived yet.
type chunks struct{ buf []byte }

func (c *chunks) add(b []byte) { c.buf = append(c.buf, b...) }

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (c *chunks) ReadByte() (byte, error) {
	if len(c.buf) == 0 {
		return 0, io.EOF
	}
	b := c.buf[0]
	c.buf = c.buf[1:]
	return b, nil
}

// headerEncoder compresses the header blocks this side sends.
type headerEncoder struct {
	out bytes.Buffer
	z   *zlib.Writer
}

// encode returns the next compressed header block, names in lowercase.
func (e *headerEncoder) encode(h http.Header) ([]byte, error) {
	if e.z == nil {
		z, err := zlib.NewWriterLevelDict(&e.out, zlib.BestCompression, headerDictionary)
		if err != nil {
			return nil, err
		}
		e.z = z
	}
	var block []byte
	block = binary.BigEndian.AppendUint32(block, uint32(len(h)))
	for name, values := range h {
		block = appendString(block, strings.ToLower(name))
		block = appendString(block, strings.Join(values, "\x00"))
	}
	if _, err := e.z.Write(block); err != nil {
		return nil, err
	}
	if err := e.z.Flush(); err != nil { // a sync flush: the block decodes on its own
		return nil, err
	}
	out := bytes.Clone(e.out.Bytes())
	e.out.Reset()
	return out, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
