package containerlogs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The kubelet's defaults for containerLogMaxSize and containerLogMaxFiles.
const (
	DefaultMaxSize  = 10 << 20
	DefaultMaxFiles = 5
)

// Options configure a Writer.
type Options struct {
	// MaxSize is the size at which the current file is rotated; 0 means
	// DefaultMaxSize, a negative size turns rotation off (as a negative
	// containerLogMaxSize does).
	MaxSize int64
	// MaxFiles is how many files (the current one included) an instance
	// keeps; 0 means DefaultMaxFiles. Like the kubelet, at least 2.
	MaxFiles int
	// Now stamps records and names rotated files; nil means time.Now.
	Now func() time.Time
}

// Writer is one container instance's log: what the container prints on
// stdout and stderr, recorded line by line in the CRI log format.
type Writer struct {
	dir      string
	instance int
	opts     Options

	mu      sync.Mutex
	f       *os.File
	size    int64
	pending [2][]byte // the unfinished line of stdout and of stderr
	err     error     // the first write error, reported by Close
	closed  bool
}

var streamNames = [2]string{Stdout, Stderr}

// NewWriter opens the log of the container instance with the given restart
// count in dir (the container's log directory, created if needed), appending
// if the file exists. Logs of instances older than the previous one are
// removed, as the kubelet's container garbage collector removes all but the
// last dead container with its logs.
func NewWriter(dir string, restartCount int, opts Options) (*Writer, error) {
	if opts.MaxSize == 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.MaxFiles == 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.MaxFiles < 2 {
		return nil, fmt.Errorf("invalid MaxFiles %d, must be > 1", opts.MaxFiles)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, instance: restartCount, opts: opts}
	if err := w.removeOldInstances(); err != nil {
		return nil, err
	}
	if err := w.open(os.O_APPEND); err != nil {
		return nil, err
	}
	return w, nil
}

// Stdout is where the container's standard output goes.
func (w *Writer) Stdout() io.Writer { return streamWriter{w, 0} }

// Stderr is where the container's standard error goes.
func (w *Writer) Stderr() io.Writer { return streamWriter{w, 1} }

type streamWriter struct {
	w      *Writer
	stream int
}

// Write never fails: like containerd, which keeps draining a container's
// output when the log file cannot be written, it drops what it cannot
// write and remembers the error for Close.
func (s streamWriter) Write(p []byte) (int, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	if !s.w.closed {
		s.w.writeLines(s.stream, p)
	}
	return len(p), nil
}

// writeLines adds p to the stream's unfinished line and writes out every
// record that is complete: each line, and 16 KiB pieces of overlong lines.
func (w *Writer) writeLines(stream int, p []byte) {
	buf := append(w.pending[stream], p...)
	for {
		nl := bytes.IndexByte(buf, '\n')
		if nl >= 0 && nl <= maxLineSize {
			w.writeRecord(stream, tagFull, bytes.TrimSuffix(buf[:nl], []byte{'\r'}))
			buf = buf[nl+1:]
			continue
		}
		if len(buf) > maxLineSize {
			w.writeRecord(stream, tagPartial, buf[:maxLineSize])
			buf = buf[maxLineSize:]
			continue
		}
		break
	}
	w.pending[stream] = append([]byte(nil), buf...)
}

// writeRecord appends one record, rotating first when it would take the
// file past MaxSize.
func (w *Writer) writeRecord(stream int, tag string, content []byte) {
	at := w.opts.Now()
	line := appendRecord(nil, at, streamNames[stream], tag, content)
	if w.f != nil && w.opts.MaxSize > 0 && w.size > 0 && w.size+int64(len(line)) > w.opts.MaxSize {
		if err := w.rotate(at); err != nil {
			w.fail(err)
		}
	}
	if w.f == nil { // a failed rotation: keep writing where we can
		if err := w.open(os.O_APPEND); err != nil {
			w.fail(err)
			return
		}
	}
	n, err := w.f.Write(line)
	w.size += int64(n)
	if err != nil {
		w.fail(err)
	}
}

func (w *Writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// rotate renames the current file to <n>.log.<time>, removes the oldest
// rotated files beyond MaxFiles, and starts a new current file, as the
// kubelet's container log manager does (and then asks the runtime to reopen
// the log, which here is the same step).
func (w *Writer) rotate(at time.Time) error {
	if err := w.f.Close(); err != nil {
		w.fail(err)
	}
	w.f = nil
	cur := filepath.Join(w.dir, currentName(w.instance))
	if err := os.Rename(cur, filepath.Join(w.dir, rotatedName(w.dir, w.instance, at))); err != nil {
		return err
	}
	if err := w.removeExcessFiles(); err != nil {
		w.fail(err)
	}
	return w.open(os.O_TRUNC)
}

func (w *Writer) open(mode int) error {
	f, err := os.OpenFile(filepath.Join(w.dir, currentName(w.instance)), os.O_CREATE|os.O_WRONLY|mode, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, st.Size()
	return nil
}

// removeExcessFiles keeps the newest MaxFiles-1 rotated files, so that with
// the current file the instance has at most MaxFiles.
func (w *Writer) removeExcessFiles() error {
	byInstance, err := listLogs(w.dir)
	if err != nil {
		return err
	}
	var rotated []logFile
	for _, f := range byInstance[w.instance] {
		if f.rotated != "" {
			rotated = append(rotated, f)
		}
	}
	for len(rotated) > w.opts.MaxFiles-1 {
		if err := os.Remove(filepath.Join(w.dir, rotated[0].name)); err != nil && !os.IsNotExist(err) {
			return err
		}
		rotated = rotated[1:]
	}
	return nil
}

// removeOldInstances removes the files of instances before the previous one.
func (w *Writer) removeOldInstances() error {
	byInstance, err := listLogs(w.dir)
	if err != nil {
		return err
	}
	for n, files := range byInstance {
		if n >= w.instance-1 {
			continue
		}
		for _, f := range files {
			if err := os.Remove(filepath.Join(w.dir, f.name)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return nil
}

// Close writes what is left of unfinished lines, as containerd does when a
// container's output ends without a newline (a P record: the line was not
// finished), and closes the file. It returns the first write error, if any.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	for stream := range w.pending {
		if len(w.pending[stream]) > 0 {
			w.writeRecord(stream, tagPartial, w.pending[stream])
			w.pending[stream] = nil
		}
	}
	w.closed = true
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			w.fail(err)
		}
		w.f = nil
	}
	return w.err
}
