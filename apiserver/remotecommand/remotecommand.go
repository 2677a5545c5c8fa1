// Package remotecommand serves the streaming side of `kubectl exec`: the
// upgraded connection that carries a command's stdin, stdout, stderr,
// terminal resizes and, at the end, its exit status.
//
// kubectl speaks one of two transports, both over a hijacked HTTP/1.1
// connection:
//
//   - SPDY/3.1 (spdy.go, spdyframe.go), every kubectl: one SPDY stream per
//     channel, named by its `streamType` header. The subprotocol version
//     (v1.channel.k8s.io … v5.channel.k8s.io) is agreed through the
//     X-Stream-Protocol-Version header.
//   - WebSocket (websocket.go), kubectl 1.30 and newer try it first and fall
//     back to SPDY when the upgrade is refused: each binary message starts
//     with a channel number, 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize;
//     v5.channel.k8s.io adds a message that half-closes a channel.
//
// In a real cluster the kubelet serves SPDY and kube-apiserver translates
// kubectl's WebSocket into SPDY towards it (KEP-4006); minilab's node agents
// run in the API server's process, so this package ends both transports
// itself and hands the command plain readers and writers.
package remotecommand

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/remotecommand"
)

// Options are the streams the client asked for in the request's query.
type Options struct {
	Stdin, Stdout, Stderr, TTY bool
}

// TerminalSize is a terminal's size in characters, as kubectl sends it on
// the resize stream: {"Width":80,"Height":24}.
type TerminalSize struct {
	Width, Height uint16
}

// Streams are the server's ends of a session; a field is nil when the
// client did not ask for that stream. Resize is only set with a TTY.
type Streams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Resize <-chan TerminalSize
}

// Runner runs the command with the session's streams and returns its exit
// code. An error means the command could not be run at all; an error that
// is an apierrors Status reaches the client as it is.
type Runner func(ctx context.Context, streams Streams) (exitCode int, err error)

// protocol is one version of the remote command subprotocol.
type protocol struct {
	name string
	// resize: the client opens a resize stream for a TTY (v3 and newer).
	resize bool
	// statusJSON: the error stream carries a metav1.Status, which has the
	// exit code (v4 and newer); older versions carry an error message and
	// nothing on success.
	statusJSON bool
	// streamClose: WebSocket clients may half-close a channel (v5).
	streamClose bool
}

var (
	v5 = protocol{name: remotecommand.StreamProtocolV5Name, resize: true, statusJSON: true, streamClose: true}
	v4 = protocol{name: remotecommand.StreamProtocolV4Name, resize: true, statusJSON: true}
	v3 = protocol{name: remotecommand.StreamProtocolV3Name, resize: true}
	v2 = protocol{name: remotecommand.StreamProtocolV2Name}
	v1 = protocol{name: remotecommand.StreamProtocolV1Name}
)

// finishTimeout bounds how long a finished session waits for the client to
// close the connection, which it does once it has read all the output.
var finishTimeout = time.Minute

// ErrUpgradeRequired is returned by ServeExec for a request that is not an
// upgrade to SPDY/3.1 or WebSocket; kube-apiserver answers it the same way.
var ErrUpgradeRequired = apierrors.NewBadRequest("Upgrade request required")

// ServeExec upgrades the request to WebSocket or SPDY/3.1, waits for the
// client's streams, runs run and reports its outcome on the error stream.
// It returns an apierrors error, having written nothing, when the request
// is no upgrade request or asks for no stream; from the upgrade on, the
// client learns everything through the session, and ServeExec returns nil
// once the session is over.
func ServeExec(w http.ResponseWriter, r *http.Request, opts Options, run Runner) error {
	upgrade := r.Header.Get("Upgrade")
	websocket := strings.EqualFold(upgrade, "websocket")
	if r.ProtoMajor != 1 || !httpstream.IsUpgradeRequest(r) || !websocket && !strings.EqualFold(upgrade, spdyUpgrade) {
		return ErrUpgradeRequired
	}
	if opts.TTY {
		opts.Stderr = false // a terminal merges stderr into stdout
	}
	if !opts.Stdin && !opts.Stdout && !opts.Stderr {
		return apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr") // the kubelet's words
	}
	if websocket {
		serveWebSocket(w, r, opts, run)
	} else {
		serveSPDY(w, r, opts, run)
	}
	return nil
}

// session is an upgraded connection, whatever the transport.
type session struct {
	proto  protocol
	opts   Options
	stdin  io.ReadCloser
	stdout io.WriteCloser
	stderr io.WriteCloser
	errors io.WriteCloser
	resize io.ReadCloser
	// done is closed when the client has gone (its side of the connection
	// ended); the command is then stopped.
	done <-chan struct{}
	// finish waits, after the last write, for the client to close the
	// connection, then closes it.
	finish func(ctx context.Context)
}

// run runs the command and reports its outcome, as the kubelet does.
func (s *session) run(ctx context.Context, run Runner) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	streams := Streams{}
	if s.opts.Stdin && s.stdin != nil {
		streams.Stdin = s.stdin
	}
	if s.opts.Stdout && s.stdout != nil {
		streams.Stdout = s.stdout
	}
	if s.opts.Stderr && s.stderr != nil {
		streams.Stderr = s.stderr
	}
	if s.opts.TTY && s.resize != nil {
		streams.Resize = resizeEvents(ctx, s.resize)
	}
	code, err := run(ctx, streams)
	status := exitStatus(code, err)

	for _, w := range []io.Closer{s.stdout, s.stderr} {
		if w != nil {
			w.Close()
		}
	}
	if body := s.proto.encodeStatus(status); len(body) > 0 {
		s.errors.Write(body)
	}
	s.errors.Close()
	for _, r := range []io.Closer{s.stdin, s.resize} {
		if r != nil {
			r.Close()
		}
	}
	s.finish(ctx)
}

// resizeEvents decodes the resize stream, a sequence of JSON TerminalSizes.
func resizeEvents(ctx context.Context, r io.Reader) <-chan TerminalSize {
	ch := make(chan TerminalSize)
	go func() {
		defer close(ch)
		dec := json.NewDecoder(r)
		for {
			var size TerminalSize
			if err := dec.Decode(&size); err != nil {
				return
			}
			select {
			case ch <- size:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// exitStatus is the Status the kubelet reports for a finished command:
// Success, Failure with reason NonZeroExitCode and the code as an ExitCode
// cause (kubectl prints "command terminated with exit code N" and exits
// with N), or the error that kept the command from running.
func exitStatus(code int, err error) *metav1.Status {
	var apiStatus apierrors.APIStatus
	switch {
	case err != nil && errors.As(err, &apiStatus):
		st := apiStatus.Status()
		return &st
	case err != nil:
		st := apierrors.NewInternalError(fmt.Errorf("error executing command in container: %v", err)).Status()
		return &st
	case code != 0:
		return &metav1.Status{
			Status:  metav1.StatusFailure,
			Reason:  remotecommand.NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{
				{Type: remotecommand.ExitCodeCauseType, Message: fmt.Sprint(code)},
			}},
		}
	default:
		return &metav1.Status{Status: metav1.StatusSuccess}
	}
}

// encodeStatus is what goes on the error stream: the Status as JSON from
// v4 on; before, only a failure's message.
func (p protocol) encodeStatus(st *metav1.Status) []byte {
	if p.statusJSON {
		body, _ := json.Marshal(st)
		return body
	}
	if st.Status == metav1.StatusSuccess {
		return nil
	}
	return []byte(st.Message)
}
