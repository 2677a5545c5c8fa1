package containerlogs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// ReadOptions are the PodLogOptions of a `kubectl logs` request, as the
// kubelet applies them.
type ReadOptions struct {
	// Previous reads the instance before the current one (--previous).
	Previous bool
	// Follow keeps reading new lines (-f) until the context ends or Done
	// reports that the container stopped.
	Follow bool
	// Timestamps prefixes each line with its time (--timestamps).
	Timestamps bool
	// TailLines shows only the last lines (--tail); nil shows all.
	TailLines *int64
	// SinceTime leaves out lines older than it (--since-time, and --since
	// turned into a time by the caller).
	SinceTime *time.Time
	// LimitBytes stops after that many bytes (--limit-bytes).
	LimitBytes *int64
	// Done reports whether the container has stopped; a follow that reaches
	// the end of the log of a stopped container ends. Nil: follow until ctx
	// ends.
	Done func() bool
	// ContainerName and PodName appear in error messages.
	ContainerName, PodName string
}

// pollInterval is how often a follow looks for new lines. (The kubelet
// watches the file with inotify and checks at least every second.)
var pollInterval = 200 * time.Millisecond

// Read writes to out what `kubectl logs` shows for the container whose log
// directory is dir. Stdout and stderr lines are interleaved in the order
// they were written, as in the kubelet's answer. A follow ends with nil when
// the container stopped and with ctx.Err() when ctx ended.
func Read(ctx context.Context, dir string, opts ReadOptions, out io.Writer) error {
	instance, files, err := openInstance(dir, opts)
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()

	r := &logReader{opts: opts, out: out, remaining: -1}
	if opts.LimitBytes != nil {
		r.remaining = max(*opts.LimitBytes, 0)
	}
	if opts.TailLines != nil && *opts.TailLines >= 0 {
		total, err := countLines(files)
		if err != nil {
			return err
		}
		r.skipLines = max(total-*opts.TailLines, 0)
	}
	if r.remaining == 0 {
		return nil
	}

	following := opts.Follow && !opts.Previous // a previous instance does not grow
	var last *fileReader
	for i, f := range files {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		last = newFileReader(f)
		if stop, err := r.drain(last); stop || err != nil {
			return err
		}
		if i < len(files)-1 || !following {
			// A line the writer had not finished when we read: show it,
			// as the kubelet does at the end of a file.
			if stop, err := r.emitLine(last.takePartial()); stop || err != nil {
				return err
			}
		}
	}
	if !following {
		return nil
	}
	if last != nil {
		files = files[:len(files)-1] // follow owns and closes it
	}
	return r.follow(ctx, filepath.Join(dir, currentName(instance)), last)
}

// openInstance opens the files of the instance the request is about, oldest
// first. It lists the directory again after opening, so that a rotation in
// between does not make it miss a file.
func openInstance(dir string, opts ReadOptions) (int, []*os.File, error) {
	for attempt := 0; ; attempt++ {
		instance, names, err := instanceFiles(dir, opts)
		if err != nil {
			return 0, nil, err
		}
		var files []*os.File
		for _, n := range names {
			f, err := os.Open(filepath.Join(dir, n))
			if os.IsNotExist(err) {
				continue // removed as excess since we listed
			}
			if err != nil {
				closeAll(files)
				return 0, nil, err
			}
			files = append(files, f)
		}
		_, again, err := instanceFiles(dir, opts)
		if (err == nil && slices.Equal(names, again)) || attempt == 2 {
			return instance, files, nil
		}
		closeAll(files)
	}
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// instanceFiles names the files of the current or the previous instance,
// oldest first.
func instanceFiles(dir string, opts ReadOptions) (int, []string, error) {
	byInstance, err := listLogs(dir)
	if err != nil && !os.IsNotExist(err) {
		return 0, nil, err
	}
	ns := instances(byInstance)
	want := 0
	if opts.Previous {
		want = 1
	}
	if len(ns) <= want {
		if opts.Previous {
			return 0, nil, fmt.Errorf("previous terminated container %q in pod %q not found", opts.ContainerName, opts.PodName)
		}
		return 0, nil, fmt.Errorf("container %q in pod %q is not available", opts.ContainerName, opts.PodName)
	}
	var names []string
	for _, f := range byInstance[ns[want]] {
		names = append(names, f.name)
	}
	return ns[want], names, nil
}

// lineTracker follows where logical lines start: a record starts one
// unless the previous record of its stream was partial.
type lineTracker map[string]bool // stream -> in the middle of a line

func (t lineTracker) starts(rec record) bool {
	start := !t[rec.stream]
	t[rec.stream] = rec.partial
	return start
}

// countLines counts the logical lines in files, for tailLines.
func countLines(files []*os.File) (int64, error) {
	lines, tracker := int64(0), lineTracker{}
	count := func(line []byte) {
		if rec, err := parseRecord(line); err == nil && tracker.starts(rec) {
			lines++
		}
	}
	for _, f := range files {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		fr := newFileReader(f)
		for {
			line, ok, err := fr.next()
			if err != nil {
				return 0, err
			}
			if !ok {
				break
			}
			count(line)
		}
		if p := fr.takePartial(); len(p) > 0 {
			count(p)
		}
	}
	return lines, nil
}

// fileReader reads whole lines of a file that may still be growing.
type fileReader struct {
	f       *os.File
	br      *bufio.Reader
	partial []byte // the start of a line whose end is not written yet
}

func newFileReader(f *os.File) *fileReader { return &fileReader{f: f, br: bufio.NewReader(f)} }

// next returns the next complete line without its newline; ok is false at
// the end of what has been written so far.
func (fr *fileReader) next() (line []byte, ok bool, err error) {
	b, err := fr.br.ReadBytes('\n')
	if err == nil && len(fr.partial) == 0 {
		return b[:len(b)-1], true, nil
	}
	fr.partial = append(fr.partial, b...)
	if errors.Is(err, io.EOF) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	line = fr.takePartial()
	return line[:len(line)-1], true, nil
}

// takePartial returns and forgets the unfinished line read so far.
func (fr *fileReader) takePartial() []byte {
	p := fr.partial
	fr.partial = nil
	return p
}

// logReader turns records into the output of `kubectl logs`.
type logReader struct {
	opts      ReadOptions
	out       io.Writer
	lines     lineTracker
	lineNo    int64           // logical lines seen
	skipLines int64           // the first lines, left out for tailLines
	skipping  map[string]bool // whether the line in progress on a stream is left out
	remaining int64           // bytes left under limitBytes; -1: no limit
}

// drain emits every complete line up to the end of the file; stop reports
// that limitBytes was reached.
func (r *logReader) drain(fr *fileReader) (stop bool, err error) {
	for {
		line, ok, err := fr.next()
		if err != nil || !ok {
			return false, err
		}
		if stop, err := r.emitLine(line); stop || err != nil {
			return stop, err
		}
	}
}

// emitLine parses a file line and writes its content. Lines that do not
// parse are skipped, as the kubelet skips them.
func (r *logReader) emitLine(line []byte) (stop bool, err error) {
	if len(line) == 0 {
		return false, nil
	}
	rec, err := parseRecord(line)
	if err != nil {
		return false, nil
	}
	return r.emit(rec)
}

// emit writes one record: a whole line, or a piece of a long one.
func (r *logReader) emit(rec record) (stop bool, err error) {
	if r.lines == nil {
		r.lines, r.skipping = lineTracker{}, map[string]bool{}
	}
	start := r.lines.starts(rec)
	if start {
		// Whether a line is shown is decided once, at its first record,
		// so that a long line is shown whole or not at all.
		r.lineNo++
		tooOld := r.opts.SinceTime != nil && rec.time.Before(*r.opts.SinceTime)
		r.skipping[rec.stream] = r.lineNo <= r.skipLines || tooOld
	}
	if r.skipping[rec.stream] {
		return false, nil
	}
	var b []byte
	if r.opts.Timestamps && start {
		b = append(rec.time.AppendFormat(b, outputTimeFormat), ' ')
	}
	b = append(b, rec.content...)
	if !rec.partial {
		b = append(b, '\n')
	}
	if r.remaining >= 0 && int64(len(b)) > r.remaining {
		b = b[:r.remaining]
	}
	n, err := r.out.Write(b)
	if r.remaining >= 0 {
		r.remaining -= int64(n)
	}
	if err != nil {
		return true, err
	}
	return r.remaining == 0, nil
}

// follow keeps reading the current file as it grows. When the writer
// rotates it, the rest of the old file is read and then the new one.
func (r *logReader) follow(ctx context.Context, path string, fr *fileReader) error {
	defer func() {
		if fr != nil {
			fr.f.Close()
		}
	}()
	final := false
	for {
		if fr == nil || rotatedAway(path, fr.f) {
			// The writer wrote its last lines to the old file before
			// renaming it; read those, then go on with the new file.
			if fr != nil {
				if stop, err := r.drain(fr); stop || err != nil {
					return err
				}
			}
			if nf, err := os.Open(path); err == nil {
				if fr != nil {
					fr.f.Close()
				}
				fr = newFileReader(nf)
			}
		}
		if fr != nil {
			if stop, err := r.drain(fr); stop || err != nil {
				return err
			}
		}
		r.flush()
		if final {
			return nil
		}
		if r.opts.Done != nil && r.opts.Done() {
			final = true // one more read for lines written before it stopped
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// flush pushes followed lines to an HTTP client at once.
func (r *logReader) flush() {
	if f, ok := r.out.(interface{ Flush() }); ok {
		f.Flush()
	}
}

// rotatedAway reports whether path now names another file than f.
func rotatedAway(path string, f *os.File) bool {
	cur, err := f.Stat()
	if err != nil {
		return false
	}
	now, err := os.Stat(path)
	return err == nil && !os.SameFile(cur, now)
}
