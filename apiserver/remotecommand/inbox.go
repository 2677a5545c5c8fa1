package remotecommand

import (
	"io"
	"sync"
)

// inboxLimit is how much unread data a stream holds before the connection's
// reader waits for the command to catch up. Neither kubectl transport has
// working flow control (spdystream ignores SPDY's windows), so this bound,
// and TCP behind it, is what keeps a fast client from filling memory.
const inboxLimit = 1 << 20

// inbox holds the data the client sent on one stream until the command
// reads it. The connection's single reader goroutine delivers into every
// stream's inbox, so delivery must not block on a stream nobody reads (a
// resize stream, stdin of a command that ignores it) except past the limit.
type inbox struct {
	mu   sync.Mutex
	cond *sync.Cond
	buf  []byte
	err  error // io.EOF once the client half-closed the stream
	// discard: the server stopped reading; further data is dropped.
	discard bool
}

func newInbox() *inbox {
	b := &inbox{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// deliver appends data from the client.
func (b *inbox) deliver(p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) >= inboxLimit && !b.discard && b.err == nil {
		b.cond.Wait()
	}
	if b.discard || b.err != nil {
		return
	}
	b.buf = append(b.buf, p...)
	b.cond.Broadcast()
}

// end marks the end of the client's data: io.EOF for a half-close, another
// error for a reset or a lost connection. Data already delivered is still
// read first.
func (b *inbox) end(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
	b.cond.Broadcast()
}

func (b *inbox) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) == 0 && b.err == nil && !b.discard {
		b.cond.Wait()
	}
	if len(b.buf) == 0 {
		if b.discard {
			return 0, io.EOF
		}
		return 0, b.err
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	b.cond.Broadcast()
	return n, nil
}

// Close is the server's side: it will read no more, so anything the client
// still sends is dropped rather than held.
func (b *inbox) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.discard = true
	b.buf = nil
	b.cond.Broadcast()
	return nil
}
