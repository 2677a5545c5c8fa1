package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// A Service of ~1 KiB, about what kube-apiserver stores for a small object.
var benchValue = make([]byte, 1024)

func openBenchStore(b *testing.B, opts Options) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "state.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkCreate(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"fsync", Options{}},
		{"NoSync", Options{NoSync: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := openBenchStore(b, bc.opts)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Create(fmt.Sprintf("/registry/services/specs/default/svc-%08d", i), benchValue); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fillBench creates n keys under prefix plus n keys under another prefix,
// so List has to skip data it must not return.
func fillBench(b *testing.B, s *Store, prefix string, n int) {
	b.Helper()
	for i := 0; i < n; i++ {
		for _, p := range []string{prefix, "/registry/pods/default/"} {
			if _, err := s.Create(fmt.Sprintf("%sobj-%06d", p, i), benchValue); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkGet(b *testing.B) {
	s := openBenchStore(b, Options{NoSync: true})
	fillBench(b, s, "/registry/services/specs/default/", 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Get(fmt.Sprintf("/registry/services/specs/default/obj-%06d", i%1000)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkList1000(b *testing.B) {
	s := openBenchStore(b, Options{NoSync: true})
	fillBench(b, s, "/registry/services/specs/", 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		kvs, _, err := s.List("/registry/services/specs/")
		if err != nil || len(kvs) != 1000 {
			b.Fatalf("List: %d keys, %v", len(kvs), err)
		}
	}
}

// BenchmarkWatchLatency measures from the start of a write to its event
// arriving at a watcher (fsync included, as in production), and reports the
// part after Create returned separately as fanout-ns/op.
func BenchmarkWatchLatency(b *testing.B) {
	s := openBenchStore(b, Options{})
	w, err := s.Watch(b.Context(), "/registry/services/", s.Revision(), false)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var afterReturn time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Create(fmt.Sprintf("/registry/services/specs/default/svc-%08d", i), benchValue); err != nil {
			b.Fatal(err)
		}
		returned := time.Now()
		<-w.Events()
		afterReturn += time.Since(returned)
	}
	b.ReportMetric(float64(afterReturn.Nanoseconds())/float64(b.N), "after-return-ns/op")
}
