package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkUp measures `minilab up` (background start) until it returns,
// that is until the API answers and the controllers have synced, and then
// `minilab down`. "fresh" starts from an empty data dir (CA, certificates,
// token and default objects are created); "restart" from an existing one.
func BenchmarkUp(b *testing.B) {
	for _, mode := range []string{"fresh", "restart"} {
		b.Run(mode, func(b *testing.B) {
			root := b.TempDir()
			dir := filepath.Join(root, "data")
			run := func(args ...string) {
				cmd := exec.Command(binary, append([]string{"--name", "bench", "--data-dir", dir}, args...)...)
				cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(root, "kubeconfig"))
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %v\n%s", args, err, out)
				}
			}
			if mode == "restart" {
				run("up", "--api-port", "0")
				run("down")
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if mode == "fresh" {
					b.StopTimer()
					os.RemoveAll(dir)
					b.StartTimer()
				}
				run("up", "--api-port", "0")
				b.StopTimer()
				run("down")
				b.StartTimer()
			}
		})
	}
}
