package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// openTestStore opens a store in a fresh directory that does not exist yet,
// so every test also exercises the parent directory creation.
func openTestStore(t *testing.T, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "state.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func mustCreate(t *testing.T, s *Store, key, value string) KeyValue {
	t.Helper()
	kv, err := s.Create(key, []byte(value))
	if err != nil {
		t.Fatalf("Create(%q): %v", key, err)
	}
	return kv
}

func mustPut(t *testing.T, s *Store, key, value string) KeyValue {
	t.Helper()
	kv, err := s.Update(key, true, func(*KeyValue) ([]byte, error) { return []byte(value), nil })
	if err != nil {
		t.Fatalf("Update(%q): %v", key, err)
	}
	return kv
}

func mustDelete(t *testing.T, s *Store, key string) int64 {
	t.Helper()
	_, rev, err := s.Delete(key, nil)
	if err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	return rev
}

// kvString makes KeyValues comparable in failure messages.
func kvString(kv KeyValue) string {
	return fmt.Sprintf("%s=%q c%d m%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision)
}

func kvStrings(kvs []KeyValue) []string {
	out := []string{}
	for _, kv := range kvs {
		out = append(out, kvString(kv))
	}
	return out
}

func TestOpenCreatesFileAndParentDir(t *testing.T) {
	_, path := openTestStore(t, Options{NoSync: true})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode = %v, want 0600", got)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("dir mode = %v, want 0700", got)
	}
}

func TestOpenWhileInUse(t *testing.T) {
	_, path := openTestStore(t, Options{NoSync: true})
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "is in use by another process") {
		t.Fatalf("second Open: err = %v, want 'in use by another process'", err)
	}
}

func TestRevisions(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true})
	if got := s.Revision(); got != 1 {
		t.Fatalf("empty store Revision() = %d, want 1 (like a new etcd)", got)
	}
	steps := []struct {
		name    string
		do      func() KeyValue
		want    string // the KeyValue returned
		wantRev int64  // Revision() afterwards
	}{
		{"create a", func() KeyValue { return mustCreate(t, s, "a", "1") }, `a="1" c2 m2`, 2},
		{"create b", func() KeyValue { return mustCreate(t, s, "b", "1") }, `b="1" c3 m3`, 3},
		{"update a", func() KeyValue { return mustPut(t, s, "a", "2") }, `a="2" c2 m4`, 4},
		{"no-op update a", func() KeyValue { return mustPut(t, s, "a", "2") }, `a="2" c2 m4`, 4},
		{"delete b", func() KeyValue {
			rev := mustDelete(t, s, "b")
			return KeyValue{Key: "b", ModRevision: rev}
		}, `b="" c0 m5`, 5},
		{"re-create b", func() KeyValue { return mustCreate(t, s, "b", "2") }, `b="2" c6 m6`, 6},
		{"update creates missing c", func() KeyValue { return mustPut(t, s, "c", "1") }, `c="1" c7 m7`, 7},
	}
	for _, st := range steps {
		if got := kvString(st.do()); got != st.want {
			t.Errorf("%s: got %s, want %s", st.name, got, st.want)
		}
		if got := s.Revision(); got != st.wantRev {
			t.Errorf("%s: Revision() = %d, want %d", st.name, got, st.wantRev)
		}
	}
	for key, want := range map[string]string{"a": `a="2" c2 m4`, "b": `b="2" c6 m6`} {
		kv, err := s.Get(key)
		if err != nil || kvString(kv) != want {
			t.Errorf("Get(%q) = %s, %v; want %s", key, kvString(kv), err, want)
		}
	}
}

func TestCreateExisting(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true})
	mustCreate(t, s, "/registry/pods/default/p", "x")
	_, err := s.Create("/registry/pods/default/p", []byte("y"))
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	if want := `store: key already exists: "/registry/pods/default/p"`; err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
	if s.Revision() != 2 {
		t.Errorf("failed Create used a revision: %d", s.Revision())
	}
	kv, _ := s.Get("/registry/pods/default/p")
	if string(kv.Value) != "x" {
		t.Errorf("value changed to %q", kv.Value)
	}
}

func TestUpdate(t *testing.T) {
	errConflict := errors.New("the object has been modified")
	tests := []struct {
		name            string
		existing        string // "" means the key is missing
		createIfMissing bool
		tryUpdate       func(cur *KeyValue) ([]byte, error)
		wantErr         error
		wantCalled      bool
		want            string // KeyValue after the call
		wantRev         int64  // Revision() after the call
	}{
		{
			name:      "missing key is ErrNotFound without calling tryUpdate",
			tryUpdate: func(*KeyValue) ([]byte, error) { return []byte("new"), nil },
			wantErr:   ErrNotFound, wantRev: 1,
		},
		{
			name: "missing key with createIfMissing sees nil", createIfMissing: true,
			tryUpdate: func(cur *KeyValue) ([]byte, error) {
				if cur != nil {
					return nil, fmt.Errorf("cur = %+v, want nil", cur)
				}
				return []byte("new"), nil
			},
			wantCalled: true, want: `k="new" c2 m2`, wantRev: 2,
		},
		{
			name: "update sees the current value", existing: "old",
			tryUpdate: func(cur *KeyValue) ([]byte, error) {
				return append(cur.Value, "+new"...), nil
			},
			wantCalled: true, want: `k="old+new" c2 m3`, wantRev: 3,
		},
		{
			name: "tryUpdate error aborts and is returned unchanged", existing: "old",
			tryUpdate: func(cur *KeyValue) ([]byte, error) {
				if cur.ModRevision != 1 { // the caller expected resourceVersion 1
					return nil, errConflict
				}
				return []byte("new"), nil
			},
			wantErr: errConflict, wantCalled: true, want: `k="old" c2 m2`, wantRev: 2,
		},
		{
			name: "byte-identical value is a no-op", existing: "same",
			tryUpdate:  func(*KeyValue) ([]byte, error) { return []byte("same"), nil },
			wantCalled: true, want: `k="same" c2 m2`, wantRev: 2,
		},
		{
			name: "modifying cur.Value in place is still a change", existing: "abc",
			tryUpdate: func(cur *KeyValue) ([]byte, error) {
				cur.Value[0] = 'X'
				return cur.Value, nil
			},
			wantCalled: true, want: `k="Xbc" c2 m3`, wantRev: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTestStore(t, Options{NoSync: true})
			if tt.existing != "" {
				mustCreate(t, s, "k", tt.existing)
			}
			called := false
			kv, err := s.Update("k", tt.createIfMissing, func(cur *KeyValue) ([]byte, error) {
				called = true
				return tt.tryUpdate(cur)
			})
			if tt.wantErr == ErrNotFound {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("err = %v, want ErrNotFound", err)
				}
			} else if err != tt.wantErr {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if called != tt.wantCalled {
				t.Errorf("tryUpdate called = %v, want %v", called, tt.wantCalled)
			}
			if err == nil && kvString(kv) != tt.want {
				t.Errorf("returned %s, want %s", kvString(kv), tt.want)
			}
			if got, err := s.Get("k"); tt.want != "" && (err != nil || kvString(got) != tt.want) {
				t.Errorf("Get = %s, %v; want %s", kvString(got), err, tt.want)
			}
			if got := s.Revision(); got != tt.wantRev {
				t.Errorf("Revision() = %d, want %d", got, tt.wantRev)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	errPrecondition := errors.New("precondition failed: UID mismatch")
	s, _ := openTestStore(t, Options{NoSync: true})

	if _, _, err := s.Delete("nope", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete(missing) err = %v, want ErrNotFound", err)
	}

	mustCreate(t, s, "k", "v")
	var seen KeyValue
	_, _, err := s.Delete("k", func(cur KeyValue) error { seen = cur; return errPrecondition })
	if err != errPrecondition {
		t.Fatalf("vetoed Delete err = %v, want the check's error unchanged", err)
	}
	if kvString(seen) != `k="v" c2 m2` {
		t.Errorf("check saw %s", kvString(seen))
	}
	if _, err := s.Get("k"); err != nil || s.Revision() != 2 {
		t.Fatalf("vetoed Delete changed the store: Get err %v, Revision %d", err, s.Revision())
	}

	deleted, rev, err := s.Delete("k", func(KeyValue) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if kvString(deleted) != `k="v" c2 m2` || rev != 3 || s.Revision() != 3 {
		t.Errorf("Delete = %s, rev %d, Revision %d; want k=\"v\" c2 m2, 3, 3", kvString(deleted), rev, s.Revision())
	}
	if _, err := s.Get("k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete err = %v, want ErrNotFound", err)
	}
}

func TestEmptyKeyRejected(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true})
	if _, err := s.Create("", []byte("x")); err == nil {
		t.Error("Create(\"\") succeeded")
	}
	if s.Revision() != 1 {
		t.Errorf("Revision() = %d, want 1", s.Revision())
	}
}

func TestListPrefix(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true})
	for _, k := range []string{
		"/registry/services/specs/kube-system/kube-dns",
		"/registry/pods/default/p",
		"/registry/services/specs/default/kubernetes",
		"/registry/servicesx/default/other",
		"/registry/namespaces/default",
	} {
		mustCreate(t, s, k, "v")
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"/registry/services/", []string{
			"/registry/services/specs/default/kubernetes",
			"/registry/services/specs/kube-system/kube-dns",
		}},
		{"/registry/services/specs/default/", []string{"/registry/services/specs/default/kubernetes"}},
		{"/registry/namespaces/", []string{"/registry/namespaces/default"}},
		{"/registry/nodes/", nil},
		{"/registry/pods/default/p", []string{"/registry/pods/default/p"}},
	}
	for _, tt := range tests {
		kvs, rev, err := s.List(tt.prefix)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, kv := range kvs {
			keys = append(keys, kv.Key)
		}
		if !reflect.DeepEqual(keys, tt.want) {
			t.Errorf("List(%q) = %q, want %q", tt.prefix, keys, tt.want)
		}
		if rev != 6 {
			t.Errorf("List(%q) revision = %d, want 6", tt.prefix, rev)
		}
	}
}

func TestListAt(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true})
	mustCreate(t, s, "/r/a", "a1") // 2
	mustCreate(t, s, "/r/b", "b1") // 3
	mustPut(t, s, "/r/a", "a2")    // 4
	mustCreate(t, s, "/x/z", "z1") // 5 (outside the prefix)
	mustDelete(t, s, "/r/b")       // 6
	mustCreate(t, s, "/r/c", "c1") // 7
	mustCreate(t, s, "/r/b", "b2") // 8 (re-created)
	mustPut(t, s, "/r/b", "b3")    // 9
	mustDelete(t, s, "/r/a")       // 10

	tests := []struct {
		rev  int64
		want []string
	}{
		{1, []string{}},
		{2, []string{`/r/a="a1" c2 m2`}},
		{3, []string{`/r/a="a1" c2 m2`, `/r/b="b1" c3 m3`}},
		{4, []string{`/r/a="a2" c2 m4`, `/r/b="b1" c3 m3`}},
		{5, []string{`/r/a="a2" c2 m4`, `/r/b="b1" c3 m3`}},
		{6, []string{`/r/a="a2" c2 m4`}},
		{7, []string{`/r/a="a2" c2 m4`, `/r/c="c1" c7 m7`}},
		{8, []string{`/r/a="a2" c2 m4`, `/r/b="b2" c8 m8`, `/r/c="c1" c7 m7`}},
		{9, []string{`/r/a="a2" c2 m4`, `/r/b="b3" c8 m9`, `/r/c="c1" c7 m7`}},
		{10, []string{`/r/b="b3" c8 m9`, `/r/c="c1" c7 m7`}},
	}
	for _, tt := range tests {
		kvs, err := s.ListAt("/r/", tt.rev)
		if err != nil {
			t.Fatalf("ListAt(%d): %v", tt.rev, err)
		}
		if got := kvStrings(kvs); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ListAt(%d) =\n  %q\nwant\n  %q", tt.rev, got, tt.want)
		}
	}
	// At the current revision ListAt agrees with List.
	cur, _, _ := s.List("/r/")
	at, _ := s.ListAt("/r/", s.Revision())
	if !reflect.DeepEqual(kvStrings(cur), kvStrings(at)) {
		t.Errorf("ListAt(current) = %q, List = %q", kvStrings(at), kvStrings(cur))
	}
}

func TestRevisionBounds(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true})
	for i := 0; i < 6; i++ {
		mustPut(t, s, "k", fmt.Sprint(i)) // revisions 2..7
	}
	if err := s.Compact(4); err != nil {
		t.Fatal(err)
	}
	if got := s.CompactedRevision(); got != 4 {
		t.Fatalf("CompactedRevision() = %d, want 4", got)
	}
	tests := []struct {
		rev     int64
		wantErr error
		wantMsg string
	}{
		{3, ErrCompacted, "store: required revision has been compacted: requested revision 3, oldest kept revision is 4"},
		{4, nil, ""},
		{7, nil, ""},
		{8, ErrFutureRevision, "store: required revision is a future revision: requested revision 8, current revision is 7"},
	}
	for _, tt := range tests {
		_, listErr := s.ListAt("", tt.rev)
		w, watchErr := s.Watch(t.Context(), "", tt.rev, false)
		if w != nil {
			w.Stop()
		}
		for name, err := range map[string]error{"ListAt": listErr, "Watch": watchErr} {
			if !errors.Is(err, tt.wantErr) || (err != nil && err.Error() != tt.wantMsg) {
				t.Errorf("%s(%d) err = %v, want %v %q", name, tt.rev, err, tt.wantErr, tt.wantMsg)
			}
		}
	}
	var ce *CompactedError
	if _, err := s.ListAt("", 2); !errors.As(err, &ce) || ce.Requested != 2 || ce.Oldest != 4 {
		t.Errorf("ListAt(2) err = %#v, want CompactedError{2, 4}", err)
	}
	if kvs, _ := s.ListAt("", 4); len(kvs) != 1 || string(kvs[0].Value) != "2" {
		t.Errorf("ListAt(compacted revision) = %q, want k=2", kvStrings(kvs))
	}
}

func TestCompact(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true})
	for i := 0; i < 4; i++ {
		mustCreate(t, s, fmt.Sprint("k", i), "v") // revisions 2..5
	}
	tests := []struct {
		rev           int64
		wantErr       error
		wantCompacted int64
	}{
		{3, nil, 3},
		{2, nil, 3}, // already compacted further: nothing to do
		{6, ErrFutureRevision, 3},
		{5, nil, 5},
	}
	for _, tt := range tests {
		if err := s.Compact(tt.rev); !errors.Is(err, tt.wantErr) {
			t.Errorf("Compact(%d) err = %v, want %v", tt.rev, err, tt.wantErr)
		}
		if got := s.CompactedRevision(); got != tt.wantCompacted {
			t.Errorf("after Compact(%d) CompactedRevision() = %d, want %d", tt.rev, got, tt.wantCompacted)
		}
	}
	// Compaction drops history only, never current keys.
	if kvs, _, _ := s.List(""); len(kvs) != 4 {
		t.Errorf("List after compaction has %d keys, want 4", len(kvs))
	}
}

func TestAutoCompaction(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true, HistoryLimit: 100})
	// Revision r is reached by the (r-1)th write. Compaction waits until
	// more than 110 events are kept, then trims back to 100.
	checkpoints := map[int64]int64{110: 0, 111: 11, 121: 11, 122: 22, 130: 22}
	for rev := int64(2); rev <= 130; rev++ {
		mustPut(t, s, fmt.Sprint("k", rev%7), fmt.Sprint(rev))
		if want, ok := checkpoints[rev]; ok {
			if got := s.CompactedRevision(); got != want {
				t.Errorf("at revision %d CompactedRevision() = %d, want %d", rev, got, want)
			}
		}
	}
	// The kept history is exactly what a watch can replay.
	w, err := s.Watch(t.Context(), "", s.CompactedRevision(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	evs := receive(t, w, 130-22)
	if evs[0].Revision != 23 || evs[len(evs)-1].Revision != 130 {
		t.Errorf("replayed revisions %d..%d, want 23..130", evs[0].Revision, evs[len(evs)-1].Revision)
	}
}

func TestClosedStore(t *testing.T) {
	s, _ := openTestStore(t, Options{NoSync: true})
	mustCreate(t, s, "k", "v")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, createErr := s.Create("k2", nil)
	_, updateErr := s.Update("k", false, func(*KeyValue) ([]byte, error) { return nil, nil })
	_, _, deleteErr := s.Delete("k", nil)
	_, getErr := s.Get("k")
	_, _, listErr := s.List("")
	_, listAtErr := s.ListAt("", 1)
	_, watchErr := s.Watch(t.Context(), "", 1, false)
	compactErr := s.Compact(1)
	for name, err := range map[string]error{
		"Create": createErr, "Update": updateErr, "Delete": deleteErr, "Get": getErr,
		"List": listErr, "ListAt": listAtErr, "Watch": watchErr, "Compact": compactErr,
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
}
