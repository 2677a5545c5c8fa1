package remotecommand

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/remotecommand"
)

// spdyUpgrade is the Upgrade header value of an exec over SPDY.
const spdyUpgrade = "SPDY/3.1"

// spdyProtocols are the subprotocol versions served over SPDY. The client
// lists what it speaks in X-Stream-Protocol-Version, newest first
// (kubectl 1.27: v4…v1; 1.29 and newer: v5…v1); the first the server knows
// wins. Over SPDY, v5 is v4: SPDY can half-close a stream by itself.
var spdyProtocols = []protocol{v5, v4, v3, v2, v1}

// spdyWriteChunk bounds the data of one frame.
const spdyWriteChunk = 32 * 1024

// serveSPDY runs an exec session over SPDY/3.1, as the kubelet does: agree
// on the subprotocol, answer 101 Switching Protocols, take over the
// connection and wait for the client to open its streams (error, then
// stdin, stdout, stderr as asked, and resize for a TTY).
func serveSPDY(w http.ResponseWriter, r *http.Request, opts Options, run Runner) {
	names := make([]string, len(spdyProtocols))
	for i, p := range spdyProtocols {
		names[i] = p.name
	}
	chosen, err := httpstream.Handshake(r, w, names)
	if err != nil {
		// Handshake has answered 403 Forbidden when no version matched;
		// a client that named none gets 400, as from the kubelet.
		if len(r.Header.Values(httpstream.HeaderProtocolVersion)) == 0 {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
		return
	}
	proto := v1
	for _, p := range spdyProtocols {
		if p.name == chosen {
			proto = p
		}
	}
	hijacker, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "unable to upgrade: this connection cannot be taken over", http.StatusInternalServerError)
		return
	}
	w.Header().Set(httpstream.HeaderConnection, httpstream.HeaderUpgrade)
	w.Header().Set(httpstream.HeaderUpgrade, spdyUpgrade)
	w.WriteHeader(http.StatusSwitchingProtocols)
	netConn, rw, err := hijacker.Hijack() // sends the 101 answer
	if err != nil {
		return
	}
	c := newSPDYConn(netConn, rw.Reader)
	go c.readLoop()
	s, ok := c.waitForStreams(proto, opts)
	if !ok {
		c.close()
		return
	}
	s.run(r.Context(), run)
}

// spdyConn is one SPDY session: a reader goroutine that dispatches the
// client's frames, and writers that send frames one at a time.
type spdyConn struct {
	conn net.Conn
	r    *bufio.Reader
	dec  headerDecoder // used by the reader goroutine only

	wmu sync.Mutex // one frame at a time; header blocks in wire order
	enc headerEncoder

	mu       sync.Mutex
	streams  map[uint32]*spdyStream
	lastID   uint32
	accepted chan *spdyStream
	readDone chan struct{}
}

func newSPDYConn(conn net.Conn, r *bufio.Reader) *spdyConn {
	return &spdyConn{
		conn:     conn,
		r:        r,
		streams:  map[uint32]*spdyStream{},
		accepted: make(chan *spdyStream, 8),
		readDone: make(chan struct{}),
	}
}

// waitForStreams collects the streams the options call for, by their
// streamType header. The kubelet gives the client 30 seconds.
func (c *spdyConn) waitForStreams(proto protocol, opts Options) (*session, bool) {
	s := &session{proto: proto, opts: opts, done: c.readDone, finish: c.finish}
	expected := 1 // the error stream
	for _, asked := range []bool{opts.Stdin, opts.Stdout, opts.Stderr, opts.TTY && proto.resize} {
		if asked {
			expected++
		}
	}
	timeout := time.NewTimer(remotecommand.DefaultStreamCreationTimeout)
	defer timeout.Stop()
	for received := 0; received < expected; {
		select {
		case st := <-c.accepted:
			switch st.headers.Get(corev1.StreamType) {
			case corev1.StreamTypeError:
				s.errors = st
			case corev1.StreamTypeStdin:
				s.stdin = st
			case corev1.StreamTypeStdout:
				s.stdout = st
			case corev1.StreamTypeStderr:
				s.stderr = st
			case corev1.StreamTypeResize:
				s.resize = st
			default:
				continue // not a stream of exec; not counted
			}
			received++
		case <-timeout.C:
			return nil, false
		case <-c.readDone:
			return nil, false
		}
	}
	if s.errors == nil {
		s.errors = discardCloser{}
	}
	return s, true
}

// readLoop dispatches the client's frames until the connection ends.
func (c *spdyConn) readLoop() {
	defer close(c.readDone)
	defer c.endAll(errors.New("connection closed"))
	for {
		f, err := readFrame(c.r)
		if err != nil {
			return
		}
		if !f.control {
			c.deliver(f)
			continue
		}
		switch f.typ {
		case frameSynStream:
			if err := c.openStream(f); err != nil {
				return // a broken header block leaves the zlib stream unusable
			}
		case frameHeaders:
			if len(f.payload) < 4 {
				return
			}
			if _, err := c.dec.decode(f.payload[4:]); err != nil {
				return
			}
			if st := c.stream(streamIDOf(f)); st != nil && f.flags&flagFin != 0 {
				st.in.end(io.EOF)
			}
		case frameRstStream:
			if st := c.stream(streamIDOf(f)); st != nil {
				st.resetByClient()
			}
		case framePing:
			// Clients ping with odd IDs; the answer is the same frame.
			// This server sends no pings of its own to be answered.
			if len(f.payload) == 4 && binary.BigEndian.Uint32(f.payload)%2 == 1 {
				c.write(controlFrame(framePing, 0, f.payload))
			}
		case frameGoAway:
			// The client opens no more streams and closes the connection
			// once its streams are done; keep reading until then.
		case frameSettings, frameWindowUpdate, frameSynReply:
			// Nothing to do: spdystream, the client, uses no flow control
			// windows and this server opens no streams to be answered.
		}
	}
}

// openStream accepts a stream the client opened: it is answered with an
// (empty) SYN_REPLY, which the client waits for before opening the next.
func (c *spdyConn) openStream(f frame) error {
	syn, err := parseSynStream(f)
	if err != nil {
		return err
	}
	headers, err := c.dec.decode(syn.headers)
	if err != nil {
		return err
	}
	st := &spdyStream{c: c, id: syn.streamID, headers: headers, in: newInbox()}
	c.mu.Lock()
	_, dup := c.streams[st.id]
	if !dup {
		c.streams[st.id] = st
		c.lastID = max(c.lastID, st.id)
	}
	c.mu.Unlock()
	if dup {
		return c.reset(st.id, rstProtocolError)
	}
	if syn.fin {
		st.in.end(io.EOF)
	}
	if err := c.reply(st.id); err != nil {
		return err
	}
	select {
	case c.accepted <- st:
	default:
		return c.reset(st.id, rstRefusedStream) // more streams than any exec opens
	}
	return nil
}

// RST_STREAM status codes.
const (
	rstProtocolError = 1
	rstRefusedStream = 3
)

func (c *spdyConn) reply(id uint32) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	block, err := c.enc.encode(http.Header{})
	if err != nil {
		return err
	}
	payload := binary.BigEndian.AppendUint32(nil, id)
	_, err = c.conn.Write(controlFrame(frameSynReply, 0, append(payload, block...)))
	return err
}

func (c *spdyConn) reset(id uint32, status uint32) error {
	payload := binary.BigEndian.AppendUint32(nil, id)
	return c.write(controlFrame(frameRstStream, 0, binary.BigEndian.AppendUint32(payload, status)))
}

func (c *spdyConn) write(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.conn.Write(frame)
	return err
}

func (c *spdyConn) stream(id uint32) *spdyStream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[id]
}

func (c *spdyConn) deliver(f frame) {
	st := c.stream(f.streamID)
	if st == nil {
		return
	}
	if len(f.payload) > 0 {
		st.in.deliver(f.payload)
	}
	if f.flags&flagFin != 0 {
		st.in.end(io.EOF)
	}
}

func (c *spdyConn) endAll(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.streams {
		st.in.end(err)
	}
}

// finish says the session is over (GOAWAY) and waits for the client to
// close the connection, which client-go does once it has read everything:
// closing first could reset the connection under output still unread.
func (c *spdyConn) finish(ctx context.Context) {
	c.mu.Lock()
	payload := binary.BigEndian.AppendUint32(nil, c.lastID)
	c.mu.Unlock()
	c.write(controlFrame(frameGoAway, 0, binary.BigEndian.AppendUint32(payload, 0))) // status 0: OK
	timer := time.NewTimer(finishTimeout)
	defer timer.Stop()
	select {
	case <-c.readDone:
	case <-ctx.Done():
	case <-timer.C:
	}
	c.close()
}

// close closes the connection and waits for the reader goroutine, which
// may be waiting to deliver into a stream nobody reads any more.
func (c *spdyConn) close() {
	c.conn.Close()
	c.mu.Lock()
	for _, st := range c.streams {
		st.in.Close()
	}
	c.mu.Unlock()
	<-c.readDone
}

// spdyStream is the server's end of one stream.
type spdyStream struct {
	c       *spdyConn
	id      uint32
	headers http.Header
	in      *inbox

	mu     sync.Mutex
	closed bool // our side is finished (FIN sent) or the client reset it
}

func (s *spdyStream) Read(p []byte) (int, error) { return s.in.Read(p) }

// Write sends p in data frames.
func (s *spdyStream) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), spdyWriteChunk)
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return written, fmt.Errorf("stream %d is closed", s.id)
		}
		if err := s.c.write(dataFrame(s.id, 0, p[:n])); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// Close finishes the server's side of the stream with an empty FIN frame
// and drops whatever the client still sends on it.
func (s *spdyStream) Close() error {
	s.in.Close()
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return nil
	}
	return s.c.write(dataFrame(s.id, flagFin, nil))
}

// resetByClient ends the stream both ways after the client's RST_STREAM.
func (s *spdyStream) resetByClient() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.in.end(errors.New("stream reset by the client"))
}

type discardCloser struct{}

func (discardCloser) Write(p []byte) (int, error) { return len(p), nil }
func (discardCloser) Close() error                { return nil }
