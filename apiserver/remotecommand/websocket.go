package remotecommand

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/websocket"
	"k8s.io/apimachinery/pkg/util/remotecommand"
)

// websocketProtocols are the subprotocols served over WebSocket, in the
// server's order of preference: v5 (what kubectl 1.30+ asks for, and all
// kube-apiserver itself serves) and v4, which the kubelet serves and which
// lacks the half-close, so stdin only ends with the connection.
var websocketProtocols = []protocol{v5, v4}

// websocketWriteChunk bounds one message, the size client-go reads at once.
const websocketWriteChunk = 32 * 1024

// serveWebSocket runs an exec session over the channel.k8s.io WebSocket
// protocol. Every binary message is one channel byte and data:
//
//	0 stdin (client→server)   1 stdout   2 stderr   3 status   4 resize (client→server)
//	255 (v5): [255, c] half-closes channel c, e.g. stdin at its end
//
// golang.org/x/net/websocket answers the client's pings (client-go sends
// one every 5 seconds and gives up after a minute without a pong).
func serveWebSocket(w http.ResponseWriter, r *http.Request, opts Options, run Runner) {
	var proto protocol
	server := websocket.Server{
		// A subprotocol the client did not offer, or none at all, is
		// refused with 403, upon which kubectl falls back to SPDY.
		Handshake: func(cfg *websocket.Config, _ *http.Request) error {
			for _, offered := range cfg.Protocol {
				for _, p := range websocketProtocols {
					if offered == p.name {
						proto, cfg.Protocol = p, []string{p.name}
						return nil
					}
				}
			}
			return fmt.Errorf("none of the subprotocols %v is supported", cfg.Protocol)
		},
		Handler: func(ws *websocket.Conn) {
			ws.PayloadType = websocket.BinaryFrame
			c := newChannelConn(ws, proto)
			c.start(opts)
			c.session(opts).run(r.Context(), run)
		},
	}
	server.ServeHTTP(w, r)
}

// channelConn multiplexes the exec streams over one WebSocket.
type channelConn struct {
	ws    *websocket.Conn
	proto protocol
	// inboxes are the channels the client writes to, by channel number.
	inboxes map[byte]*inbox
	// readDone is closed when the client's side of the connection ends.
	readDone chan struct{}
}

func newChannelConn(ws *websocket.Conn, proto protocol) *channelConn {
	return &channelConn{
		ws:    ws,
		proto: proto,
		inboxes: map[byte]*inbox{
			remotecommand.StreamStdIn:  newInbox(),
			remotecommand.StreamResize: newInbox(),
		},
		readDone: make(chan struct{}),
	}
}

// start tells the client that the session is set up, with an empty
// message on the first channel it reads (as kube-apiserver and the kubelet
// do), and starts reading.
func (c *channelConn) start(opts Options) {
	first := byte(remotecommand.StreamErr)
	switch {
	case opts.Stdout:
		first = remotecommand.StreamStdOut
	case opts.Stderr:
		first = remotecommand.StreamStdErr
	}
	c.send(first, nil)
	go c.readLoop()
}

func (c *channelConn) session(opts Options) *session {
	// Channels nobody will read drop what arrives on them.
	if !opts.Stdin {
		c.inboxes[remotecommand.StreamStdIn].Close()
	}
	if !opts.TTY {
		c.inboxes[remotecommand.StreamResize].Close()
	}
	s := &session{
		proto:  c.proto,
		opts:   opts,
		stdin:  c.inboxes[remotecommand.StreamStdIn],
		resize: c.inboxes[remotecommand.StreamResize],
		errors: &channelWriter{c: c, channel: remotecommand.StreamErr},
		done:   c.readDone,
		finish: c.finish,
	}
	if opts.Stdout {
		s.stdout = &channelWriter{c: c, channel: remotecommand.StreamStdOut}
	}
	if opts.Stderr {
		s.stderr = &channelWriter{c: c, channel: remotecommand.StreamStdErr}
	}
	return s
}

// readLoop delivers the client's messages to their channels until the
// connection ends: with the client's close message, or an error.
func (c *channelConn) readLoop() {
	defer close(c.readDone)
	defer func() {
		for _, in := range c.inboxes {
			in.end(fmt.Errorf("connection closed"))
		}
	}()
	for {
		var msg []byte
		if err := websocket.Message.Receive(c.ws, &msg); err != nil {
			return
		}
		if len(msg) == 0 {
			continue
		}
		if c.proto.streamClose && msg[0] == remotecommand.StreamClose {
			if len(msg) == 2 {
				if in := c.inboxes[msg[1]]; in != nil {
					in.end(io.EOF)
				}
			}
			continue
		}
		if in := c.inboxes[msg[0]]; in != nil {
			in.deliver(msg[1:])
		}
	}
}

// send writes one message on a channel; x/net/websocket serialises
// concurrent senders.
func (c *channelConn) send(channel byte, data []byte) error {
	msg := make([]byte, 1+len(data))
	msg[0] = channel
	copy(msg[1:], data)
	return websocket.Message.Send(c.ws, msg)
}

// finish ends the session the way the WebSocket closing handshake asks:
// send a close message, wait for the client's (client-go sends it once it
// has read everything), then close the TCP connection. Closing at once
// would let the kernel reset the connection when the client's close
// arrives, and the client could lose output it had not read yet.
func (c *channelConn) finish(ctx context.Context) {
	var once sync.Once
	closeConn := func() { once.Do(func() { c.ws.Close() }) }
	if err := c.ws.WriteClose(1000); err != nil { // 1000: normal closure
		closeConn()
	}
	timer := time.NewTimer(finishTimeout)
	defer timer.Stop()
	select {
	case <-c.readDone:
	case <-ctx.Done():
	case <-timer.C:
	}
	closeConn()
	<-c.readDone
}

// channelWriter writes to one channel; Close is a no-op, since the end of
// the session ends every channel.
type channelWriter struct {
	c       *channelConn
	channel byte
}

func (w *channelWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), websocketWriteChunk)
		if err := w.c.send(w.channel, p[:n]); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

func (w *channelWriter) Close() error { return nil }
