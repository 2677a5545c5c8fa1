package containerlogs

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// rotationTimeFormat is the suffix the kubelet's container log manager gives
// a rotated file: 0.log becomes 0.log.20240501-100000.
const rotationTimeFormat = "20060102-150405"

// logName matches the files of a container's log directory: <n>.log, the
// current file of instance n, and <n>.log.<time>[-<seq>], its rotated files.
// The -<seq> suffix only appears when two rotations fall in the same second.
var logName = regexp.MustCompile(`^(\d+)\.log(?:\.(\d{8}-\d{6})(?:-(\d+))?)?$`)

// logFile is one file of a container's log directory.
type logFile struct {
	name     string
	instance int    // the container's restart count
	rotated  string // the rotation time, empty for the current file
	seq      int    // orders rotations within one second
}

// currentName is the file an instance writes to.
func currentName(instance int) string { return strconv.Itoa(instance) + ".log" }

// listLogs returns the log files in dir, by instance, each instance's files
// oldest first (rotated files in rotation order, then the current file).
func listLogs(dir string) (map[int][]logFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	byInstance := map[int][]logFile{}
	for _, e := range entries {
		m := logName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		f := logFile{name: e.Name(), instance: n, rotated: m[2]}
		if m[3] != "" {
			f.seq, _ = strconv.Atoi(m[3])
		}
		byInstance[n] = append(byInstance[n], f)
	}
	for _, files := range byInstance {
		sort.Slice(files, func(i, j int) bool { return olderFile(files[i], files[j]) })
	}
	return byInstance, nil
}

// olderFile orders one instance's files: rotated ones by rotation time, the
// current file last.
func olderFile(a, b logFile) bool {
	if (a.rotated == "") != (b.rotated == "") {
		return b.rotated == ""
	}
	if a.rotated != b.rotated {
		return a.rotated < b.rotated
	}
	return a.seq < b.seq
}

// rotatedName picks the name the current file of instance gets when it is
// rotated at the given time, unique among the existing files.
func rotatedName(dir string, instance int, at time.Time) string {
	base := currentName(instance) + "." + at.UTC().Format(rotationTimeFormat)
	name := base
	for seq := 1; ; seq++ {
		if _, err := os.Lstat(filepath.Join(dir, name)); os.IsNotExist(err) {
			return name
		}
		name = base + "-" + strconv.Itoa(seq)
	}
}

// instances returns the restart counts that have logs, newest first.
func instances(byInstance map[int][]logFile) []int {
	var ns []int
	for n := range byInstance {
		ns = append(ns, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(ns)))
	return ns
}
