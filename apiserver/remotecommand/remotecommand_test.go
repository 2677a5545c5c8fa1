package remotecommand

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// shout is the command of these tests: it upper-cases stdin to stdout,
// writes "oops" to stderr, records the terminal sizes it is given and
// exits with code.
func shout(code int, sizes chan<- TerminalSize) Runner {
	return func(ctx context.Context, s Streams) (int, error) {
		if s.Resize != nil {
			go func() {
				for size := range s.Resize {
					sizes <- size
				}
			}()
		}
		if s.Stdin != nil {
			in, _ := io.ReadAll(s.Stdin)
			io.WriteString(s.Stdout, strings.ToUpper(string(in)))
		}
		if s.Stderr != nil {
			io.WriteString(s.Stderr, "oops")
		}
		return code, nil
	}
}

// serve starts a server for one runner; served receives ServeExec's result
// once the session is over.
func serve(t *testing.T, opts Options, run Runner) (addr string, served <-chan error) {
	t.Helper()
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := ServeExec(w, r, opts, run)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
		done <- err
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), done
}

func waitServed(t *testing.T, served <-chan error) {
	t.Helper()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("ServeExec: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end")
	}
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name string
		code int
		err  error
		want metav1.Status
	}{
		{"success", 0, nil, metav1.Status{Status: metav1.StatusSuccess}},
		{"exit code", 3, nil, metav1.Status{
			Status: metav1.StatusFailure, Reason: "NonZeroExitCode",
			Message: "command terminated with non-zero exit code: exit status 3",
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: "3"}}},
		}},
		{"an apierror passes through", 0, apierrors.NewNotFound(schema.GroupResource{Resource: "containers"}, "app"),
			apierrors.NewNotFound(schema.GroupResource{Resource: "containers"}, "app").Status()},
		{"other errors", 0, errors.New("no such file"), metav1.Status{
			Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError, Code: 500,
			Message: "Internal error occurred: error executing command in container: no such file",
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Message: "error executing command in container: no such file"}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := json.Marshal(exitStatus(tt.code, tt.err))
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// ---------------------------------------------------------------- SPDY

// spdyClient is the client side of a SPDY session, as spdystream (kubectl)
// drives it.
type spdyClient struct {
	conn    net.Conn
	r       *bufio.Reader
	enc     headerEncoder
	dec     headerDecoder
	nextID  uint32
	data    map[uint32]*strings.Builder
	fin     map[uint32]bool
	goAway  bool
	version string
}

// dialSPDY sends the upgrade request; a refused upgrade returns the answer.
func dialSPDY(t *testing.T, addr, query string, versions ...string) (*spdyClient, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "POST /exec?" + query + " HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
	for _, v := range versions {
		req += "X-Stream-Protocol-Version: " + v + "\r\n"
	}
	io.WriteString(conn, req+"\r\n")
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, resp
	}
	return &spdyClient{conn: conn, r: r, nextID: 1, data: map[uint32]*strings.Builder{}, fin: map[uint32]bool{},
		version: resp.Header.Get("X-Stream-Protocol-Version")}, resp
}

// open opens a stream and waits for its SYN_REPLY, as client-go does.
func (c *spdyClient) open(t *testing.T, streamType string) uint32 {
	t.Helper()
	id := c.nextID
	c.nextID += 2
	block, err := c.enc.encode(http.Header{"streamType": {streamType}})
	if err != nil {
		t.Fatal(err)
	}
	payload := binary.BigEndian.AppendUint32(nil, id)
	payload = append(payload, 0, 0, 0, 0, 0, 0) // associated stream, priority, slot
	c.conn.Write(controlFrame(frameSynStream, 0, append(payload, block...)))
	for {
		f := c.read(t)
		if f.control && f.typ == frameSynReply {
			if got := streamIDOf(f); got != id {
				t.Fatalf("SYN_REPLY for stream %d, want %d", got, id)
			}
			if _, err := c.dec.decode(f.payload[4:]); err != nil {
				t.Fatal(err)
			}
			return id
		}
	}
}

func (c *spdyClient) read(t *testing.T) frame {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := readFrame(c.r)
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	switch {
	case !f.control:
		if c.data[f.streamID] == nil {
			c.data[f.streamID] = &strings.Builder{}
		}
		c.data[f.streamID].Write(f.payload)
		if f.flags&flagFin != 0 {
			c.fin[f.streamID] = true
		}
	case f.typ == frameGoAway:
		c.goAway = true
	}
	return f
}

// readUntilFinished reads until the server has finished every given stream
// and said GOAWAY.
func (c *spdyClient) readUntilFinished(t *testing.T, ids ...uint32) {
	t.Helper()
	for {
		done := c.goAway
		for _, id := range ids {
			done = done && c.fin[id]
		}
		if done {
			return
		}
		c.read(t)
	}
}

func (c *spdyClient) text(id uint32) string {
	if c.data[id] == nil {
		return ""
	}
	return c.data[id].String()
}

func TestSPDYSession(t *testing.T) {
	exit7 := `{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 7",` +
		`"reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}`
	tests := []struct {
		offered   []string // the client's versions, in its order
		version   string   // the one agreed
		errStream string   // what the error stream carries for exit code 7
	}{
		{[]string{"v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"}, "v5.channel.k8s.io", exit7},
		{[]string{"v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"}, "v4.channel.k8s.io", exit7},
		{[]string{"v3.channel.k8s.io"}, "v3.channel.k8s.io", "command terminated with non-zero exit code: exit status 7"},
		{[]string{"v2.channel.k8s.io"}, "v2.channel.k8s.io", "command terminated with non-zero exit code: exit status 7"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			addr, served := serve(t, Options{Stdin: true, Stdout: true, Stderr: true}, shout(7, nil))
			c, resp := dialSPDY(t, addr, "command=x", tt.offered...)
			if c == nil {
				t.Fatalf("upgrade refused: %s", resp.Status)
			}
			if c.version != tt.version {
				t.Fatalf("agreed on %q, want %q", c.version, tt.version)
			}
			errID := c.open(t, "error")
			stdin := c.open(t, "stdin")
			stdout := c.open(t, "stdout")
			stderr := c.open(t, "stderr")
			c.conn.Write(dataFrame(stdin, 0, []byte("abc")))
			c.conn.Write(dataFrame(stdin, 0, []byte("def")))
			c.conn.Write(dataFrame(stdin, flagFin, nil))
			c.readUntilFinished(t, errID, stdout, stderr, stdin)
			if got := c.text(stdout); got != "ABCDEF" {
				t.Errorf("stdout %q", got)
			}
			if got := c.text(stderr); got != "oops" {
				t.Errorf("stderr %q", got)
			}
			if got := c.text(errID); got != tt.errStream {
				t.Errorf("error stream %s, want %s", got, tt.errStream)
			}
			c.conn.Close() // the server waits for this to end the session
			waitServed(t, served)
		})
	}
}

// With a TTY there is no stderr stream, and from v3 on a resize stream
// whose JSON sizes reach the command.
func TestSPDYTerminal(t *testing.T) {
	sizes := make(chan TerminalSize, 4)
	addr, served := serve(t, Options{Stdin: true, Stdout: true, Stderr: true, TTY: true}, func(ctx context.Context, s Streams) (int, error) {
		if s.Stderr != nil || s.Resize == nil {
			return 1, errors.New("want no stderr and a resize channel with a TTY")
		}
		return shout(0, sizes)(ctx, s)
	})
	c, _ := dialSPDY(t, addr, "tty=true", "v4.channel.k8s.io")
	errID := c.open(t, "error")
	stdin := c.open(t, "stdin")
	stdout := c.open(t, "stdout")
	resize := c.open(t, "resize")
	c.conn.Write(dataFrame(resize, 0, []byte(`{"Width":80,"Height":24}`)))
	if size := <-sizes; size != (TerminalSize{Width: 80, Height: 24}) {
		t.Fatalf("size %+v", size)
	}
	c.conn.Write(dataFrame(stdin, flagFin, []byte("ls\r")))
	c.readUntilFinished(t, errID, stdout)
	if got := c.text(errID); got != `{"metadata":{},"status":"Success"}` {
		t.Fatalf("error stream %s", got)
	}
	if got := c.text(stdout); got != "LS\r" {
		t.Fatalf("stdout %q", got)
	}
	c.conn.Close()
	waitServed(t, served)
}

func TestSPDYRefused(t *testing.T) {
	tests := []struct {
		name     string
		versions []string
		code     int
	}{
		{"no common version", []string{"v9.channel.k8s.io"}, http.StatusForbidden},
		{"no version", nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, served := serve(t, Options{Stdout: true}, shout(0, nil))
			c, resp := dialSPDY(t, addr, "", tt.versions...)
			if c != nil || resp.StatusCode != tt.code {
				t.Fatalf("got %s, want %d", resp.Status, tt.code)
			}
			waitServed(t, served)
		})
	}
}

// A client that goes away ends the command.
func TestSPDYClientGone(t *testing.T) {
	stopped := make(chan struct{})
	addr, served := serve(t, Options{Stdout: true}, func(ctx context.Context, s Streams) (int, error) {
		<-ctx.Done()
		close(stopped)
		return 0, ctx.Err()
	})
	c, _ := dialSPDY(t, addr, "", "v4.channel.k8s.io")
	c.open(t, "error")
	c.open(t, "stdout")
	c.conn.Close()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the command was not stopped")
	}
	waitServed(t, served)
}

func TestNotAnUpgrade(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		opts   Options
		want   string
	}{
		{"plain POST", nil, Options{Stdout: true}, "Upgrade request required"},
		{"other upgrade", map[string]string{"Connection": "Upgrade", "Upgrade": "h2c"}, Options{Stdout: true}, "Upgrade request required"},
		{"no stream", map[string]string{"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}, Options{}, "you must specify at least 1 of stdin, stdout, stderr"},
		{"stderr with a TTY", map[string]string{"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}, Options{Stderr: true, TTY: true}, "you must specify at least 1 of stdin, stdout, stderr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/exec", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			err := ServeExec(httptest.NewRecorder(), r, tt.opts, shout(0, nil))
			if !apierrors.IsBadRequest(err) || err.Error() != tt.want {
				t.Fatalf("got %v, want BadRequest %q", err, tt.want)
			}
		})
	}
}

// ---------------------------------------------------------------- WebSocket

func dialWebSocket(t *testing.T, addr, protocol string) (*websocket.Conn, error) {
	t.Helper()
	cfg, err := websocket.NewConfig("ws://"+addr+"/exec", "http://test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Protocol = []string{protocol}
	return websocket.DialConfig(cfg)
}

// receiveAll reads messages until the server closes the session, and
// returns what came on each channel.
func receiveAll(t *testing.T, ws *websocket.Conn) map[byte]string {
	t.Helper()
	got := map[byte]string{}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var msg []byte
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			if err != io.EOF {
				t.Fatalf("receive: %v", err)
			}
			return got
		}
		got[msg[0]] += string(msg[1:])
	}
}

func TestWebSocketSession(t *testing.T) {
	addr, served := serve(t, Options{Stdin: true, Stdout: true, Stderr: true}, shout(3, nil))
	ws, err := dialWebSocket(t, addr, "v5.channel.k8s.io")
	if err != nil {
		t.Fatal(err)
	}
	// The empty message on stdout says the session is ready.
	var first []byte
	if err := websocket.Message.Receive(ws, &first); err != nil || string(first) != "\x01" {
		t.Fatalf("first message %q, %v", first, err)
	}
	websocket.Message.Send(ws, []byte("\x00abc"))
	websocket.Message.Send(ws, []byte{255, 0}) // v5: stdin is done
	got := receiveAll(t, ws)
	want := map[byte]string{
		1: "ABC", 2: "oops",
		3: `{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 3",` +
			`"reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	ws.Close() // answers the server's close, ending the session
	waitServed(t, served)
}

// v4 has no half-close: the command sees stdin end only with the session.
func TestWebSocketV4(t *testing.T) {
	addr, served := serve(t, Options{Stdout: true, TTY: true}, func(ctx context.Context, s Streams) (int, error) {
		io.WriteString(s.Stdout, "hi")
		return 0, nil
	})
	ws, err := dialWebSocket(t, addr, "v4.channel.k8s.io")
	if err != nil {
		t.Fatal(err)
	}
	if got := receiveAll(t, ws); got[1] != "hi" || got[3] != `{"metadata":{},"status":"Success"}` {
		t.Fatalf("got %q", got)
	}
	ws.Close()
	waitServed(t, served)
}

// A subprotocol the server does not speak is refused (kubectl then falls
// back to SPDY).
func TestWebSocketRefused(t *testing.T) {
	addr, served := serve(t, Options{Stdout: true}, shout(0, nil))
	if _, err := dialWebSocket(t, addr, "base64.channel.k8s.io"); err == nil || !strings.Contains(err.Error(), "bad status") {
		t.Fatalf("dial: %v", err)
	}
	waitServed(t, served)
}
