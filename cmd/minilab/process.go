package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runInfo is what a running lab writes to <data-dir>/run.json once its API
// answers: how to reach it and which process to stop.
type runInfo struct {
	Name       string    `json:"name"`
	PID        int       `json:"pid"`
	Server     string    `json:"server"`
	Kubeconfig string    `json:"kubeconfig"`
	Started    time.Time `json:"started"`
	ReadyAfter string    `json:"readyAfter"`
}

func runInfoPath(dataDir string) string { return filepath.Join(dataDir, "run.json") }

func writeRunInfo(dataDir string, info runInfo) error {
	data, _ := json.MarshalIndent(info, "", "  ")
	tmp := runInfoPath(dataDir) + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, runInfoPath(dataDir))
}

// readRunInfo returns the running lab's info, or nil when no lab of this
// data dir is running (a run.json left by a killed process does not count).
func readRunInfo(dataDir string) *runInfo {
	data, err := os.ReadFile(runInfoPath(dataDir))
	if err != nil {
		return nil
	}
	var info runInfo
	if json.Unmarshal(data, &info) != nil || !isOurProcess(info.PID, dataDir) {
		return nil
	}
	return &info
}

// isOurProcess says whether pid is a minilab process serving dataDir, so
// that `down` never signals an unrelated process that reused the PID.
func isOurProcess(pid int, dataDir string) bool {
	if pid <= 0 {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "minilab") {
		return false
	}
	abs, _ := filepath.Abs(dataDir)
	for _, a := range args {
		if a == abs || a == dataDir || strings.HasSuffix(a, "="+abs) {
			return true
		}
	}
	return false
}

// stopProcess sends SIGTERM and waits for the process to exit, then SIGKILL.
func stopProcess(pid int, grace time.Duration) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return nil
		}
		return err
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Signal(syscall.SIGKILL)
	for i := 0; i < 200 && alive(pid); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// alive says whether pid still runs. A zombie has finished: it only waits
// for its parent (init, for a daemon) to collect its exit status.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "1234 (minilab) Z ...".
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

type owner struct{ uid, gid int }

func statOwner(info os.FileInfo) (owner, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return owner{}, false
	}
	return owner{int(st.Uid), int(st.Gid)}, true
}
