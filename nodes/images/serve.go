package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// clock is the time the images see; tests replace it.
var clock = time.Now

// logger writes a container's output to Pod.Log, one Write per line so that
// lines from concurrent requests never interleave.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func newLogger(w io.Writer) *logger {
	if w == nil {
		w = io.Discard
	}
	return &logger{w: w}
}

// line writes s as one line.
func (l *logger) line(s string) {
	if len(s) == 0 || s[len(s)-1] != '\n' {
		s += "\n"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, s)
}

// printf writes one formatted line, as fmt.Printf in the image would.
func (l *logger) printf(format string, args ...any) { l.line(fmt.Sprintf(format, args...)) }

// logf writes one line the way Go's log.Printf does (the images written in
// Go log like that): "2006/01/02 15:04:05 message". Containers run in UTC.
func (l *logger) logf(format string, args ...any) {
	l.line(clock().UTC().Format("2006/01/02 15:04:05 ") + fmt.Sprintf(format, args...))
}

// run is one container's serving: its HTTP, raw TCP and UDP servers on the
// sockets the node agent opened, until the pod's context ends or the
// container exits.
type run struct {
	ctx       context.Context
	pod       Pod
	log       *logger
	listeners map[int32]net.Listener

	http map[int32]*http.Server
	tcp  map[int32]func(net.Conn)
	udp  map[int32]func(conn net.PacketConn, msg []byte, from net.Addr)

	exitc chan exitRequest
	conns atomic.Uint64 // connections accepted so far, nginx's "*N"
}

// exitRequest asks the container to exit with code, letting HTTP requests
// in flight finish for up to grace.
type exitRequest struct {
	code  int
	grace time.Duration
}

func newRun(ctx context.Context, pod Pod, listeners map[int32]net.Listener) *run {
	return &run{
		ctx:       ctx,
		pod:       pod,
		log:       newLogger(pod.Log),
		listeners: listeners,
		http:      map[int32]*http.Server{},
		tcp:       map[int32]func(net.Conn){},
		udp:       map[int32]func(net.PacketConn, []byte, net.Addr){},
		exitc:     make(chan exitRequest, 1),
	}
}

// connKey is the context key of a connection's number.
type connKey struct{}

// connNumber is the number of the connection a request came on, counted from
// 1 per container (nginx prints it in its error log as "*N").
func connNumber(ctx context.Context) uint64 {
	n, _ := ctx.Value(connKey{}).(uint64)
	return n
}

// serveHTTP serves h on the TCP port.
func (r *run) serveHTTP(port int32, h http.Handler) {
	r.http[port] = &http.Server{
		Handler:     h,
		ErrorLog:    log.New(io.Discard, "", 0),
		BaseContext: func(net.Listener) context.Context { return r.ctx },
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, r.conns.Add(1))
		},
		ReadHeaderTimeout: time.Minute,
	}
}

// serveTCP calls handle for every connection to the TCP port.
func (r *run) serveTCP(port int32, handle func(net.Conn)) { r.tcp[port] = handle }

// serveUDP calls handle for every datagram to the UDP port.
func (r *run) serveUDP(port int32, handle func(net.PacketConn, []byte, net.Addr)) {
	r.udp[port] = handle
}

// exit makes the container exit with code (see exitRequest).
func (r *run) exit(code int, grace time.Duration) {
	select {
	case r.exitc <- exitRequest{code: code, grace: grace}:
	default: // already exiting
	}
}

// wait serves until the context ends (nil), the container exits
// (*ExitError) or a socket fails, and closes every socket before returning.
// Sockets for ports nothing serves are closed first: the port is not
// listened on in the container, so connections to it are refused.
func (r *run) wait() error {
	for port, l := range r.listeners {
		if r.http[port] == nil && r.tcp[port] == nil {
			l.Close()
		}
	}
	for port, c := range r.pod.PacketConns {
		if r.udp[port] == nil {
			c.Close()
		}
	}
	defer r.closeAll()
	for _, port := range r.tcpPorts() {
		if r.listeners[port] == nil {
			return fmt.Errorf("no listener for port %d/TCP", port)
		}
	}

	errc := make(chan error, len(r.http)+len(r.tcp)+len(r.udp))
	var wg sync.WaitGroup
	for port, srv := range r.http {
		l := r.listeners[port]
		wg.Go(func() {
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		})
	}
	for port, handle := range r.tcp {
		l := r.listeners[port]
		wg.Go(func() { errc <- acceptLoop(l, handle, &wg) })
	}
	for port, handle := range r.udp {
		if c := r.pod.PacketConns[port]; c != nil {
			wg.Go(func() { errc <- readLoop(c, handle) })
		}
	}

	var result error
	select {
	case <-r.ctx.Done():
	case err := <-errc:
		result = err
	case req := <-r.exitc:
		result = &ExitError{Code: req.code}
		r.shutdown(req.grace)
	}
	r.closeAll()
	wg.Wait()
	if r.ctx.Err() != nil && result != nil && !isExit(result) {
		result = nil // sockets fail because the pod is going away
	}
	return result
}

// shutdown lets HTTP requests in flight finish, for up to grace.
func (r *run) shutdown(grace time.Duration) {
	if grace <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range r.http {
		wg.Go(func() { _ = srv.Shutdown(ctx) })
	}
	wg.Wait()
}

func (r *run) closeAll() {
	for _, srv := range r.http {
		srv.Close()
	}
	closeSockets(r.listeners, r.pod.PacketConns)
}

func closeSockets(listeners map[int32]net.Listener, conns map[int32]net.PacketConn) {
	for _, l := range listeners {
		l.Close()
	}
	for _, c := range conns {
		c.Close()
	}
}

// tcpPorts are the TCP ports served, sorted for stable error messages.
func (r *run) tcpPorts() []int32 {
	var ports []int32
	for p := range r.http {
		ports = append(ports, p)
	}
	for p := range r.tcp {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	return ports
}

func isExit(err error) bool {
	var e *ExitError
	return errors.As(err, &e)
}

// acceptLoop hands every accepted connection to handle until l is closed.
func acceptLoop(l net.Listener, handle func(net.Conn), wg *sync.WaitGroup) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		wg.Go(func() { handle(c) })
	}
}

// readLoop hands every datagram to handle until c is closed.
func readLoop(c net.PacketConn, handle func(net.PacketConn, []byte, net.Addr)) error {
	buf := make([]byte, 65535)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		handle(c, buf[:n], from)
	}
}

// exitWith is the end of a container whose process exits before serving
// anything (a bad flag, a port it cannot listen on): its sockets are closed
// and the exit code reported.
func exitWith(pod Pod, listeners map[int32]net.Listener, code int) error {
	closeSockets(listeners, pod.PacketConns)
	return &ExitError{Code: code}
}

// recorder remembers the status and body size of a response, for access logs.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	head   bool // HEAD responses send no body, whatever the handler writes
}

func newRecorder(w http.ResponseWriter, req *http.Request) *recorder {
	return &recorder{ResponseWriter: w, head: req.Method == http.MethodHead}
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	if !w.head {
		w.bytes += int64(n)
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (Hijack, Flush).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// remoteIP is the client's address without its port.
func remoteIP(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	return host
}

// dropConnection closes the request's connection without answering, as a
// process that exits mid-request does.
func dropConnection(w http.ResponseWriter) {
	if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
		c.Close()
	}
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
