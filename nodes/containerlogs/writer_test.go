package containerlogs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC)

// clock returns t0, then later times by step.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func newClock(step time.Duration) *clock { return &clock{t: t0, step: step} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriterFormat(t *testing.T) {
	tests := []struct {
		name   string
		writes func(w *Writer)
		want   string
	}{{
		name: "lines are written when complete, each with its stream",
		writes: func(w *Writer) {
			io.WriteString(w.Stdout(), "hello\nwor")
			io.WriteString(w.Stderr(), "oops\n")
			io.WriteString(w.Stdout(), "ld\n")
		},
		want: "2024-05-01T10:00:00.123456789Z stdout F hello\n" +
			"2024-05-01T10:00:01.123456789Z stderr F oops\n" +
			"2024-05-01T10:00:02.123456789Z stdout F world\n",
	}, {
		name:   "CRLF line endings lose their CR; empty lines stay",
		writes: func(w *Writer) { io.WriteString(w.Stdout(), "dos\r\n\nend\n") },
		want: "2024-05-01T10:00:00.123456789Z stdout F dos\n" +
			"2024-05-01T10:00:01.123456789Z stdout F \n" +
			"2024-05-01T10:00:02.123456789Z stdout F end\n",
	}, {
		name:   "an unfinished line is written at Close as a partial record",
		writes: func(w *Writer) { io.WriteString(w.Stdout(), "done\nno newline") },
		want: "2024-05-01T10:00:00.123456789Z stdout F done\n" +
			"2024-05-01T10:00:01.123456789Z stdout P no newline\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := NewWriter(dir, 0, Options{Now: newClock(time.Second).now})
			if err != nil {
				t.Fatal(err)
			}
			tt.writes(w)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(dir, "0.log")); got != tt.want {
				t.Errorf("0.log:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestWriterSplitsLongLines(t *testing.T) {
	tests := []struct {
		length   int
		wantTags []string
		wantLens []int
	}{
		{length: 16384, wantTags: []string{"F"}, wantLens: []int{16384}},
		{length: 16385, wantTags: []string{"P", "F"}, wantLens: []int{16384, 1}},
		{length: 2*16384 + 5, wantTags: []string{"P", "P", "F"}, wantLens: []int{16384, 16384, 5}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.length), func(t *testing.T) {
			dir := t.TempDir()
			w, err := NewWriter(dir, 0, Options{Now: newClock(time.Millisecond).now})
			if err != nil {
				t.Fatal(err)
			}
			line := strings.Repeat("x", tt.length)
			// Written in small pieces, as a program's output arrives.
			for i := 0; i < len(line); i += 1000 {
				io.WriteString(w.Stdout(), line[i:min(i+1000, len(line))])
			}
			io.WriteString(w.Stdout(), "\n")
			w.Close()
			var tags []string
			var lens []int
			for _, l := range strings.Split(strings.TrimSuffix(readFile(t, filepath.Join(dir, "0.log")), "\n"), "\n") {
				rec, err := parseRecord([]byte(l))
				if err != nil {
					t.Fatal(err)
				}
				tag := "F"
				if rec.partial {
					tag = "P"
				}
				tags, lens = append(tags, tag), append(lens, len(rec.content))
			}
			if !slices.Equal(tags, tt.wantTags) || !slices.Equal(lens, tt.wantLens) {
				t.Errorf("records %v of sizes %v, want %v of sizes %v", tags, lens, tt.wantTags, tt.wantLens)
			}
		})
	}
}

func TestWriterRotation(t *testing.T) {
	// Each record is 48 bytes: 30 of timestamp, " stdout F " and "line NN\n".
	const recordSize = 48
	tests := []struct {
		name      string
		maxSize   int64
		maxFiles  int
		step      time.Duration
		lines     int
		wantFiles []string
		wantLast  []string // the lines of 0.log
	}{{
		name: "rotates into timestamped files and keeps MaxFiles", maxSize: 3 * recordSize, maxFiles: 3,
		step: time.Second, lines: 10,
		// 3 lines per file: rotations at lines 3, 6 and 9 (written at 10:00:03,
		// :06, :09); the oldest rotated file (lines 0-2) is removed.
		wantFiles: []string{"0.log", "0.log.20240501-100006", "0.log.20240501-100009"},
		wantLast:  []string{"line 09"},
	}, {
		name: "rotations within one second get distinct names", maxSize: 2 * recordSize, maxFiles: 5,
		step: time.Millisecond, lines: 7,
		wantFiles: []string{"0.log", "0.log.20240501-100000", "0.log.20240501-100000-1", "0.log.20240501-100000-2"},
		wantLast:  []string{"line 06"},
	}, {
		name: "a negative MaxSize turns rotation off", maxSize: -1, maxFiles: 2,
		step: time.Second, lines: 3,
		wantFiles: []string{"0.log"},
		wantLast:  []string{"line 00", "line 01", "line 02"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := NewWriter(dir, 0, Options{MaxSize: tt.maxSize, MaxFiles: tt.maxFiles, Now: newClock(tt.step).now})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tt.lines; i++ {
				fmt.Fprintf(w.Stdout(), "line %02d\n", i)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := dirNames(t, dir); !slices.Equal(got, tt.wantFiles) {
				t.Errorf("files %v, want %v", got, tt.wantFiles)
			}
			var last []string
			for _, l := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(dir, "0.log"))), "\n") {
				last = append(last, l[len(l)-7:])
			}
			if !slices.Equal(last, tt.wantLast) {
				t.Errorf("0.log has %v, want %v", last, tt.wantLast)
			}
			for _, name := range dirNames(t, dir) {
				if st, _ := os.Stat(filepath.Join(dir, name)); tt.maxSize > 0 && st.Size() > tt.maxSize {
					t.Errorf("%s has %d bytes, more than MaxSize %d", name, st.Size(), tt.maxSize)
				}
			}
		})
	}
}

func TestNewWriter(t *testing.T) {
	t.Run("MaxFiles below 2 is refused as by the kubelet", func(t *testing.T) {
		_, err := NewWriter(t.TempDir(), 0, Options{MaxFiles: 1})
		if err == nil || err.Error() != "invalid MaxFiles 1, must be > 1" {
			t.Errorf("error %v", err)
		}
	})
	t.Run("keeps the previous instance's logs and removes older ones", func(t *testing.T) {
		dir := t.TempDir()
		for n := 0; n < 3; n++ {
			w, err := NewWriter(dir, n, Options{MaxSize: 60, Now: newClock(time.Second).now})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(w.Stdout(), "instance %d\ninstance %d again\n", n, n)
			w.Close()
		}
		want := []string{"1.log", "1.log.20240501-100001", "2.log", "2.log.20240501-100001"}
		if got := dirNames(t, dir); !slices.Equal(got, want) {
			t.Errorf("files %v, want %v", got, want)
		}
	})
	t.Run("the same instance opened again appends", func(t *testing.T) {
		dir := t.TempDir()
		for i := 0; i < 2; i++ {
			w, err := NewWriter(dir, 0, Options{Now: newClock(time.Second).now})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(w.Stdout(), "run %d\n", i)
			w.Close()
		}
		if got := strings.Count(readFile(t, filepath.Join(dir, "0.log")), "\n"); got != 2 {
			t.Errorf("0.log has %d lines, want 2", got)
		}
	})
}
