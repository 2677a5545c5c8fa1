package containerlogs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func init() { pollInterval = 5 * time.Millisecond }

func ptr[T any](v T) *T { return &v }

// writeInstance writes lines as one container instance, a line a second from
// t0, three records to a file.
func writeInstance(t *testing.T, dir string, n int, write func(w *Writer)) {
	t.Helper()
	w, err := NewWriter(dir, n, Options{MaxSize: 3 * 48, Now: newClock(time.Second).now})
	if err != nil {
		t.Fatal(err)
	}
	write(w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	writeInstance(t, dir, 0, func(w *Writer) {
		io.WriteString(w.Stdout(), "first 0\nfirst 1\nfirst 2\n")
	})
	writeInstance(t, dir, 1, func(w *Writer) {
		for i := 0; i < 10; i++ { // line NN at 10:00:NN, in 4 files
			fmt.Fprintf(w.Stdout(), "line %02d\n", i)
		}
	})
	if got := len(dirNames(t, dir)); got != 5 {
		t.Fatalf("setup: %d files, want 1 of instance 0 and 4 of instance 1: %v", got, dirNames(t, dir))
	}
	lines := func(from, to int) string {
		var b strings.Builder
		for i := from; i <= to; i++ {
			fmt.Fprintf(&b, "line %02d\n", i)
		}
		return b.String()
	}
	tests := []struct {
		name string
		opts ReadOptions
		want string
	}{
		{name: "everything, rotated files included", want: lines(0, 9)},
		{name: "tail", opts: ReadOptions{TailLines: ptr[int64](2)}, want: lines(8, 9)},
		{name: "tail reaching into rotated files", opts: ReadOptions{TailLines: ptr[int64](5)}, want: lines(5, 9)},
		{name: "tail 0", opts: ReadOptions{TailLines: ptr[int64](0)}, want: ""},
		{name: "tail beyond the log", opts: ReadOptions{TailLines: ptr[int64](100)}, want: lines(0, 9)},
		{name: "since a line's own time includes it", opts: ReadOptions{SinceTime: ptr(t0.Add(7 * time.Second))}, want: lines(7, 9)},
		{name: "tail then since", opts: ReadOptions{TailLines: ptr[int64](5), SinceTime: ptr(t0.Add(8 * time.Second))}, want: lines(8, 9)},
		{name: "limit cuts inside a line", opts: ReadOptions{LimitBytes: ptr[int64](12)}, want: "line 00\nline"},
		{name: "limit with tail", opts: ReadOptions{TailLines: ptr[int64](1), LimitBytes: ptr[int64](100)}, want: "line 09\n"},
		{name: "timestamps", opts: ReadOptions{Timestamps: true, TailLines: ptr[int64](2)},
			want: "2024-05-01T10:00:08.123456789Z line 08\n2024-05-01T10:00:09.123456789Z line 09\n"},
		{name: "timestamps count against the limit", opts: ReadOptions{Timestamps: true, LimitBytes: ptr[int64](20)},
			want: "2024-05-01T10:00:00."},
		{name: "previous", opts: ReadOptions{Previous: true}, want: "first 0\nfirst 1\nfirst 2\n"},
		{name: "previous tail", opts: ReadOptions{Previous: true, TailLines: ptr[int64](1)}, want: "first 2\n"},
		{name: "previous is not followed", opts: ReadOptions{Previous: true, Follow: true, TailLines: ptr[int64](1)}, want: "first 2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Read(context.Background(), dir, tt.opts, &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got %q, want %q", out.String(), tt.want)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	oneInstance := t.TempDir()
	writeInstance(t, oneInstance, 0, func(w *Writer) { io.WriteString(w.Stdout(), "hi\n") })
	tests := []struct {
		name string
		dir  string
		opts ReadOptions
		want string
	}{{
		name: "no previous instance", dir: oneInstance,
		opts: ReadOptions{Previous: true, ContainerName: "app", PodName: "web-1"},
		want: `previous terminated container "app" in pod "web-1" not found`,
	}, {
		name: "no logs at all", dir: t.TempDir() + "/missing",
		opts: ReadOptions{ContainerName: "app", PodName: "web-1"},
		want: `container "app" in pod "web-1" is not available`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Read(context.Background(), tt.dir, tt.opts, io.Discard)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestReadLongLines(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("a", 20000) + "b"
	w, err := NewWriter(dir, 0, Options{Now: newClock(time.Second).now})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w.Stdout(), "short\n")
	io.WriteString(w.Stdout(), long[:10000])
	io.WriteString(w.Stderr(), "error meanwhile\n")
	io.WriteString(w.Stdout(), long[10000:]+"\n")
	w.Close()

	tests := []struct {
		name string
		opts ReadOptions
		want string
	}{{
		name: "partial records are joined back into the line",
		want: "short\n" + "error meanwhile\n" + long + "\n",
	}, {
		name: "a long line counts as one line for tail",
		opts: ReadOptions{TailLines: ptr[int64](1)},
		want: long + "\n",
	}, {
		// The long line started (its first record) at 10:00:02.
		name: "a long line gets one timestamp, that of its start",
		opts: ReadOptions{Timestamps: true, TailLines: ptr[int64](2)},
		want: "2024-05-01T10:00:01.123456789Z error meanwhile\n2024-05-01T10:00:02.123456789Z " + long + "\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Read(context.Background(), dir, tt.opts, &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got %d bytes %.80q..., want %d bytes %.80q...", out.Len(), out.String(), len(tt.want), tt.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe to read while Read writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until the output has want, or fails.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("output %q, want %q", out.String(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestReadFollow(t *testing.T) {
	t.Run("new lines across rotations until the container stops", func(t *testing.T) {
		dir := t.TempDir()
		w, err := NewWriter(dir, 0, Options{MaxSize: 3 * 48, MaxFiles: 2, Now: newClock(time.Second).now})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w.Stdout(), "line 00\nline 01\n")

		var stopped atomic.Bool
		out := &syncBuffer{}
		errc := make(chan error, 1)
		go func() {
			errc <- Read(context.Background(), dir, ReadOptions{Follow: true, TailLines: ptr[int64](1), Done: stopped.Load}, out)
		}()
		waitFor(t, out, "line 01\n")

		// Six more lines: two rotations, and MaxFiles 2 removes files
		// the follow may still be reading.
		want := "line 01\n"
		for i := 2; i < 8; i++ {
			fmt.Fprintf(w.Stdout(), "line %02d\n", i)
			want += fmt.Sprintf("line %02d\n", i)
			if i%2 == 0 {
				waitFor(t, out, want)
			}
		}
		waitFor(t, out, want)

		io.WriteString(w.Stdout(), "last words\n")
		w.Close()
		stopped.Store(true)
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("follow did not end when the container stopped")
		}
		if got := out.String(); got != want+"last words\n" {
			t.Errorf("got %q, want %q", got, want+"last words\n")
		}
	})

	t.Run("ends when the context ends", func(t *testing.T) {
		dir := t.TempDir()
		writeInstance(t, dir, 0, func(w *Writer) { io.WriteString(w.Stdout(), "hi\n") })
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		out := &syncBuffer{}
		go func() { errc <- Read(ctx, dir, ReadOptions{Follow: true}, out) }()
		waitFor(t, out, "hi\n")
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("follow did not end with its context")
		}
	})

	t.Run("limit ends a follow", func(t *testing.T) {
		dir := t.TempDir()
		w, err := NewWriter(dir, 0, Options{Now: newClock(time.Second).now})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		errc := make(chan error, 1)
		out := &syncBuffer{}
		go func() {
			errc <- Read(context.Background(), dir, ReadOptions{Follow: true, LimitBytes: ptr[int64](10)}, out)
		}()
		io.WriteString(w.Stdout(), "12345\n67890\n")
		select {
		case err := <-errc:
			if err != nil || out.String() != "12345\n6789" {
				t.Errorf("got %q, %v", out.String(), err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("follow did not end at the limit")
		}
	})
}
