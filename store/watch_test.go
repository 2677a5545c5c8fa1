package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

const watchTimeout = 5 * time.Second

// receive reads exactly n events, failing on timeout or an early close.
func receive(t *testing.T, w *Watcher, n int) []Event {
	t.Helper()
	var evs []Event
	timeout := time.After(watchTimeout)
	for len(evs) < n {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch closed after %d of %d events (Err %v)", len(evs), n, w.Err())
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatalf("timed out after %d of %d events", len(evs), n)
		}
	}
	return evs
}

// expectNoEvent checks nothing is waiting on the watch.
func expectNoEvent(t *testing.T, w *Watcher) {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		t.Fatalf("unexpected event %s (open %v)", eventString(ev), ok)
	default:
	}
}

// expectClosed drains the watch until it is closed and returns what it read.
func expectClosed(t *testing.T, w *Watcher) []Event {
	t.Helper()
	var evs []Event
	timeout := time.After(watchTimeout)
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatal("watch not closed")
		}
	}
}

func eventString(ev Event) string {
	prev := "<nil>"
	if ev.PrevValue != nil {
		prev = fmt.Sprintf("%q", ev.PrevValue)
	}
	return fmt.Sprintf("%s %s=%q prev=%s r%d c%d", ev.Type, ev.Key, ev.Value, prev, ev.Revision, ev.CreateRevision)
}

func eventStrings(evs []Event) []string {
	out := []string{}
	for _, ev := range evs {
		out = append(out, eventString(ev))
	}
	return out
}

// writeHistory makes the revisions 2..6 used by several watch tests.
func writeHistory(t *testing.T, s *Store) {
	mustCreate(t, s, "/r/a", "a1") // 2
	mustCreate(t, s, "/x/z", "z1") // 3
	mustPut(t, s, "/r/a", "a2")    // 4
	mustCreate(t, s, "/r/b", "b1") // 5
	mustDelete(t, s, "/r/a")       // 6
}

var historyEvents = []string{
	`PUT /r/a="a1" prev=<nil> r2 c2`,
	`PUT /r/a="a2" prev="a1" r4 c2`,
	`PUT /r/b="b1" prev=<nil> r5 c5`,
	`DELETE /r/a="a2" prev="a2" r6 c2`,
}

func TestWatchFromRevision(t *testing.T) {
	tests := []struct {
		fromRev int64
		want    []string
	}{
		{1, historyEvents},
		{2, historyEvents[1:]},
		{4, historyEvents[2:]},
		{6, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("from ", tt.fromRev), func(t *testing.T) {
			s, _ := openTestStore(t, Options{NoSync: true})
			writeHistory(t, s)
			w, err := s.Watch(t.Context(), "/r/", tt.fromRev, false)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			if w.InitialRevision() != tt.fromRev {
				t.Errorf("InitialRevision() = %d, want %d", w.InitialRevision(), tt.fromRev)
			}
			got := receive(t, w, len(tt.want))
			if len(tt.want) > 0 && !reflect.DeepEqual(eventStrings(got), tt.want) {
				t.Errorf("replay =\n  %q\nwant\n  %q", eventStrings(got), tt.want)
			}
			expectNoEvent(t, w)

			// Then live events follow, filtered by prefix.
			mustCreate(t, s, "/x/y", "outside") // 7
			mustPut(t, s, "/r/b", "b2")         // 8
			live := receive(t, w, 1)
			if want := `PUT /r/b="b2" prev="b1" r8 c5`; eventString(live[0]) != want {
				t.Errorf("live event %s, want %s", eventString(live[0]), want)
			}
		})
	}
}

func TestWatchInitialEvents(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true})
	writeHistory(t, s)
	mustCreate(t, s, "/r/a", "a3") // 7
	w, err := s.Watch(t.Context(), "/r/", 3, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if w.InitialRevision() != 7 {
		t.Errorf("InitialRevision() = %d, want 7", w.InitialRevision())
	}
	want := []string{
		`PUT /r/a="a3" prev=<nil> r7 c7`,
		`PUT /r/b="b1" prev=<nil> r5 c5`,
	}
	if got := eventStrings(receive(t, w, 2)); !reflect.DeepEqual(got, want) {
		t.Errorf("initial events =\n  %q\nwant\n  %q", got, want)
	}
	expectNoEvent(t, w)
	mustDelete(t, s, "/r/b") // 8
	if got, want := eventString(receive(t, w, 1)[0]), `DELETE /r/b="b1" prev="b1" r8 c5`; got != want {
		t.Errorf("live event %s, want %s", got, want)
	}
}

// TestWatchInitialIsAtomic starts initial watches while a writer creates
// keys: every key must arrive exactly once, either in the snapshot or live.
func TestWatchInitialIsAtomic(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true})
	const n = 300
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if _, err := s.Create(fmt.Sprintf("/k/%03d", i), []byte("v")); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var watchers []*Watcher
	for i := 0; i < 5; i++ {
		w, err := s.Watch(ctx, "/k/", 0, true)
		if err != nil {
			t.Fatal(err)
		}
		watchers = append(watchers, w)
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	for i, w := range watchers {
		seen := map[string]int{}
		lastLive := w.InitialRevision()
		for _, ev := range receive(t, w, n) {
			seen[ev.Key]++
			if ev.Revision > w.InitialRevision() {
				if ev.Revision <= lastLive {
					t.Errorf("watcher %d: live revision %d after %d", i, ev.Revision, lastLive)
				}
				lastLive = ev.Revision
			}
		}
		if len(seen) != n {
			t.Errorf("watcher %d saw %d distinct keys, want %d", i, len(seen), n)
		}
		for k, c := range seen {
			if c != 1 {
				t.Errorf("watcher %d saw %s %d times", i, k, c)
			}
		}
		expectNoEvent(t, w)
	}
}

func TestWatchEnds(t *testing.T) {
	tests := []struct {
		name    string
		end     func(s *Store, w *Watcher, cancel context.CancelFunc)
		wantErr error
	}{
		{"Stop", func(_ *Store, w *Watcher, _ context.CancelFunc) { w.Stop() }, nil},
		{"Stop twice", func(_ *Store, w *Watcher, _ context.CancelFunc) { w.Stop(); w.Stop() }, nil},
		{"context cancelled", func(_ *Store, _ *Watcher, cancel context.CancelFunc) { cancel() }, nil},
		{"store closed", func(s *Store, _ *Watcher, _ context.CancelFunc) { s.Close() }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTestStore(t, Options{NoSync: true})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			w, err := s.Watch(ctx, "", s.Revision(), false)
			if err != nil {
				t.Fatal(err)
			}
			tt.end(s, w, cancel)
			expectClosed(t, w)
			if err := w.Err(); err != tt.wantErr {
				t.Errorf("Err() = %v, want %v", err, tt.wantErr)
			}
			// Later writes neither block nor panic on the ended watch.
			if _, err := s.Create("after", nil); err != nil && !errors.Is(err, ErrClosed) {
				t.Error(err)
			}
		})
	}
}

func TestWatchCancelledContext(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Watch(ctx, "", 1, false); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch with a cancelled context: err = %v, want context.Canceled", err)
	}
}

func TestWatcherTooSlow(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true, WatchBufferSize: 5})
	mustCreate(t, s, "/r/old", "x") // 2, replayed below: not counted against the buffer
	slow, err := s.Watch(t.Context(), "/r/", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := s.Watch(t.Context(), "/r/", 2, false)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()
	other, err := s.Watch(t.Context(), "/other/", 2, false)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Stop()

	for i := 0; i < 7; i++ { // revisions 3..9; the writer never blocks
		mustCreate(t, s, fmt.Sprint("/r/", i), "v")
		receive(t, fast, 1)
	}
	got := expectClosed(t, slow)
	if !errors.Is(slow.Err(), ErrWatcherTooSlow) {
		t.Errorf("slow Err() = %v, want ErrWatcherTooSlow", slow.Err())
	}
	// The buffered events are still delivered, so the client can resume
	// from the last revision it got: the replayed one plus 5 live ones.
	if len(got) != 6 || got[0].Revision != 2 || got[5].Revision != 7 {
		t.Errorf("slow watcher got %q, want revisions 2..7", eventStrings(got))
	}
	// A watcher of another prefix never filled up and is still alive.
	mustCreate(t, s, "/other/x", "v")
	receive(t, other, 1)
	if other.Err() != nil {
		t.Errorf("other watcher Err() = %v", other.Err())
	}
	// Resuming from the last revision received gets the rest.
	resumed, err := s.Watch(t.Context(), "/r/", got[5].Revision, false)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Stop()
	if rest := receive(t, resumed, 2); rest[0].Revision != 8 || rest[1].Revision != 9 {
		t.Errorf("resumed watch got %q, want revisions 8, 9", eventStrings(rest))
	}
}

func TestWatchManyConcurrentWriters(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true})
	w, err := s.Watch(t.Context(), "", s.Revision(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	const writers, perWriter = 4, 50
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				key := fmt.Sprintf("/k/%d", i%5)
				_, err := s.Update(key, true, func(cur *KeyValue) ([]byte, error) {
					if cur == nil {
						return []byte("1"), nil
					}
					return append(cur.Value, '1'), nil
				})
				if err != nil {
					t.Error(err)
				}
				if _, _, err := s.List("/k/"); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	evs := receive(t, w, writers*perWriter)
	for i, ev := range evs {
		if want := int64(i + 2); ev.Revision != want {
			t.Fatalf("event %d has revision %d, want %d (commit order)", i, ev.Revision, want)
		}
	}
	// Each update appended one byte under the write lock: none was lost.
	kvs, _, _ := s.List("/k/")
	total := 0
	for _, kv := range kvs {
		total += len(kv.Value)
	}
	if total != writers*perWriter {
		t.Errorf("sum of value lengths = %d, want %d", total, writers*perWriter)
	}
}
