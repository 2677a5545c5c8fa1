package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRestartRecovery writes, closes without anything else, reopens and
// checks the keys, the revision, the compacted revision and the history.
func TestRestartRecovery(t *testing.T) {
	s, path := openTestStore(t, Options{})
	writeHistory(t, s) // revisions 2..6, the last one a delete
	if err := s.Compact(2); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Revision() != 6 || s.CompactedRevision() != 2 {
		t.Fatalf("after restart Revision %d CompactedRevision %d, want 6 and 2", s.Revision(), s.CompactedRevision())
	}
	kvs, rev, err := s.List("")
	want := []string{`/r/b="b1" c5 m5`, `/x/z="z1" c3 m3`}
	if err != nil || rev != 6 || !reflect.DeepEqual(kvStrings(kvs), want) {
		t.Errorf("List after restart = %q at %d (%v), want %q at 6", kvStrings(kvs), rev, err, want)
	}
	// A watch from an old revision still replays the persisted history.
	w, err := s.Watch(t.Context(), "/r/", 2, false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := eventStrings(receive(t, w, 3)); !reflect.DeepEqual(got, historyEvents[1:]) {
		t.Errorf("replay after restart =\n  %q\nwant\n  %q", got, historyEvents[1:])
	}
	if _, err := s.Watch(t.Context(), "/r/", 1, false); err == nil {
		t.Error("watch from a compacted revision succeeded after restart")
	}
	// The revision of the last write (a delete) is never reused.
	if kv := mustCreate(t, s, "/r/c", "c1"); kv.ModRevision != 7 {
		t.Errorf("first write after restart got revision %d, want 7", kv.ModRevision)
	}
	if ev := receive(t, w, 1)[0]; ev.Revision != 7 {
		t.Errorf("live event after restart has revision %d, want 7", ev.Revision)
	}
}

// crashChildEnv names the database the re-executed test binary writes to
// until it is killed.
const crashChildEnv = "MINILAB_STORE_CRASH_CHILD_DB"

// TestSIGKILLDurability runs a child process that writes as fast as it can
// and acknowledges each write on stdout, SIGKILLs it mid-stream, and checks
// every acknowledged write survived with its exact revision.
func TestSIGKILLDurability(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	path := t.TempDir() + "/state.db"
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLDurability$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		value string
		rev   int64
	}
	acked := map[string]ack{}
	killed := false
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	lines := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue // test framework output
		}
		rev, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("bad ack line %q", sc.Text())
		}
		acked[f[0]] = ack{f[1], rev}
		if lines++; lines == 40 && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	cmd.Wait()
	if !killed || lines < 40 {
		t.Fatalf("child acknowledged %d writes before exiting, killed=%v", lines, killed)
	}

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var maxRev int64
	for key, a := range acked {
		kv, err := s.Get(key)
		if err != nil {
			t.Errorf("acknowledged %s=%s at %d lost: %v", key, a.value, a.rev, err)
			continue
		}
		if string(kv.Value) != a.value || kv.ModRevision != a.rev {
			t.Errorf("%s = %q at %d, acknowledged %q at %d", key, kv.Value, kv.ModRevision, a.value, a.rev)
		}
		maxRev = max(maxRev, a.rev)
	}
	if s.Revision() < maxRev {
		t.Errorf("Revision() = %d, below the last acknowledged %d", s.Revision(), maxRev)
	}
	t.Logf("%d writes acknowledged (%d keys), revision after recovery %d", lines, len(acked), s.Revision())
}

// crashChild writes until killed: creates, and an update of the previous key
// every third write so both paths are covered. Each line is "key value rev".
func crashChild(path string) {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 0; i < 100000; i++ {
		key, value := fmt.Sprintf("/k/%06d", i), fmt.Sprint("v", i)
		if i%3 == 2 {
			key = fmt.Sprintf("/k/%06d", i-1)
		}
		kv, err := s.Update(key, true, func(*KeyValue) ([]byte, error) { return []byte(value), nil })
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s %s %d\n", kv.Key, kv.Value, kv.ModRevision)
	}
	os.Exit(0)
}
