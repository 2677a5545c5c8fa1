package iptables

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// Benchmarks for issue 4's acceptance 8: full and partial sync time for
// 1,000 and 10,000 ClusterIP services (2 endpoints each) on one node, next to
// the time a bare iptables-restore of the same text takes (the floor), for
// both iptables backends. Targets: a partial sync of one changed service in
// a 10,000-service node under 50 ms; a full sync within 1.3× the bare
// restore.
//
// Each benchmark works in a throwaway network namespace, entered with setns
// by the benchmark itself (as the proxier's Netns.Do does), so neither `ip
// netns exec` nor the host's tables are involved. A node is loaded once per
// process and kept between the runs the benchmark framework makes, then
// deleted by TestMain.
//
// Reported per op: sync-ms (Build or BuildPartial + iptables-restore),
// restore-ms (the floor: the same restore of the same payload, already
// built), sync/restore (the ratio), and the payload's size.

// nftBench10kEnv opts in to the nf_tables 10,000-service runs, which take
// minutes per restore (DESIGN.md measured 121–235 s for one full load).
const nftBench10kEnv = "MINILAB_BENCH_NFT10K"

func BenchmarkFullSync(b *testing.B) {
	for _, x := range backends {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/services=%d", x.name, n), func(b *testing.B) {
				node := loadedBenchNode(b, x, n, "full")
				floorPayload := Build(node.st, nil).Payload
				b.ResetTimer()
				var sync, floor time.Duration
				for i := 0; i < b.N; i++ {
					syncOp := func() {
						start := time.Now()
						node.restore(b, Build(node.st, nil).Payload)
						sync += time.Since(start)
					}
					floorOp := func() {
						start := time.Now()
						node.restore(b, floorPayload)
						floor += time.Since(start)
					}
					alternate(b, i, syncOp, floorOp)
				}
				reportSync(b, sync, floor, len(floorPayload))
			})
		}
	}
}

func BenchmarkPartialSync(b *testing.B) {
	for _, x := range backends {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/services=%d", x.name, n), func(b *testing.B) {
				node := loadedBenchNode(b, x, n, "partial")
				// One service in the middle gains an endpoint per op.
				changed := portName(fmt.Sprintf("ns%d", (n/2)%100), fmt.Sprintf("svc%d", n/2), "http")
				b.ResetTimer()
				var sync, floor time.Duration
				size := 0
				for i := 0; i < b.N; i++ {
					node.added++
					st := node.st
					st.Endpoints[changed] = append(st.Endpoints[changed], epPort(fmt.Sprintf("10.3.%d.%d", node.added/256, node.added%256), 8080, "other"))

					// The floor restores the payload this op's sync builds;
					// built once beforehand (untimed) when it runs first.
					var payload []byte
					syncOp := func() {
						start := time.Now()
						r := buildPartialSync(st, node.active, []ServicePortName{changed})
						node.restore(b, r.Payload)
						sync += time.Since(start)
						node.active, payload = r.NATChains, r.Payload
					}
					floorOp := func() {
						if payload == nil {
							payload = buildPartialSync(st, node.active, []ServicePortName{changed}).Payload
						}
						start := time.Now()
						node.restore(b, payload)
						floor += time.Since(start)
					}
					alternate(b, i, syncOp, floorOp)
					size = len(payload)
				}
				reportSync(b, sync, floor, size)
			})
		}
	}
}

// alternate runs the timed sync and the untimed floor, in turn first, so
// that neither always runs on a warmer (or busier) system than the other.
func alternate(b *testing.B, i int, sync, floor func()) {
	untimed := func() {
		b.StopTimer()
		floor()
		b.StartTimer()
	}
	if i%2 == 0 {
		sync()
		untimed()
	} else {
		untimed()
		sync()
	}
}

func reportSync(b *testing.B, sync, floor time.Duration, payloadBytes int) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(b.N) }
	b.ReportMetric(ms(sync), "sync-ms/op")
	b.ReportMetric(ms(floor), "restore-ms/op")
	b.ReportMetric(float64(sync)/float64(floor), "sync/restore")
	b.ReportMetric(float64(payloadBytes)/1024, "payload-KiB")
}

// benchNode is a network namespace holding n services' rules.
type benchNode struct {
	ns     *throwawayNetns
	handle netns.NsHandle
	st     *State
	active []string // the NATChains of the last sync
	added  int      // endpoints added by BenchmarkPartialSync
}

var benchNodes = map[string]*benchNode{}

// loadedBenchNode returns the node for (backend, n, kind), creating it and
// loading a full sync (and the jump rules) the first time.
func loadedBenchNode(b *testing.B, x xtables, n int, kind string) *benchNode {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root to create a network namespace and run iptables-restore in it (run the benchmarks as root)")
	}
	if _, err := exec.LookPath(x.restore); err != nil {
		b.Skipf("%s not on PATH", x.restore)
	}
	if x.name == "nf_tables" && n >= 10000 && os.Getenv(nftBench10kEnv) != "1" {
		b.Skipf("nf_tables with %d services takes minutes per restore (DESIGN.md); set %s=1 to run it", n, nftBench10kEnv)
	}
	key := fmt.Sprintf("%s/%d/%s", x.name, n, kind)
	if node := benchNodes[key]; node != nil {
		return node
	}
	ns, err := createNetns(x)
	if err != nil {
		b.Fatal(err)
	}
	node := &benchNode{ns: ns, st: clusterIPState(n)}
	benchNodes[key] = node // deleted by TestMain even if loading fails
	if node.handle, err = netns.GetFromName(ns.name); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	full := Build(node.st, nil)
	node.restore(b, full.Payload)
	node.restore(b, jumpPayload(newTracer(b, testLocalIPs).rs))
	node.active = full.NATChains
	b.Logf("%s: loaded %d services (%d KiB) in %v", key, n, len(full.Payload)/1024, time.Since(start).Round(time.Millisecond))
	return node
}

// restore runs iptables-restore with the proxier's flags inside the
// namespace: from an OS thread that has entered it, so the child inherits it.
func (node *benchNode) restore(b *testing.B, payload []byte) {
	var stderr bytes.Buffer
	cmd := exec.Command(node.ns.x.restore, "-w", "5", "--noflush", "--counters")
	cmd.Stdin, cmd.Stderr = bytes.NewReader(payload), &stderr
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		b.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(node.handle); err != nil {
		runtime.UnlockOSThread()
		b.Fatal(err)
	}
	runErr := cmd.Run()
	if err := netns.Set(orig); err != nil {
		// Never hand a thread in the wrong namespace back to the scheduler.
		b.Fatalf("leaving %s: %v", node.ns.name, err)
	}
	runtime.UnlockOSThread()
	if runErr != nil {
		b.Fatalf("%s: %v: %s", node.ns.x.restore, runErr, stderr.String())
	}
}

// TestMain deletes the benchmarks' network namespaces.
func TestMain(m *testing.M) {
	code := m.Run()
	for key, node := range benchNodes {
		node.handle.Close()
		if err := node.ns.delete(); err != nil {
			fmt.Fprintf(os.Stderr, "benchmark node %s: %v\n", key, err)
			code = 1
		}
	}
	os.Exit(code)
}
