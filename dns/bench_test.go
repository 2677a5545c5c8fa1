package dns

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// nopWriter drops replies: the handler benchmark measures lookup and
// reply building, not packing or sockets.
type nopWriter struct{ remote net.Addr }

func (w nopWriter) LocalAddr() net.Addr         { return w.remote }
func (w nopWriter) RemoteAddr() net.Addr        { return w.remote }
func (w nopWriter) WriteMsg(*dns.Msg) error     { return nil }
func (w nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w nopWriter) Close() error                { return nil }
func (w nopWriter) TsigStatus() error           { return nil }
func (w nopWriter) TsigTimersOnly(bool)         {}
func (w nopWriter) Hijack()                     {}

// BenchmarkServeDNS runs the handler alone, from as many goroutines as
// GOMAXPROCS, and reports queries per second.
func BenchmarkServeDNS(b *testing.B) {
	lab := newTestLab(b, Config{}, fixture()...)
	for _, bc := range []struct {
		name string
		q    query
	}{
		{"A-clusterIP", a("web.shop.svc.cluster.local.")},
		{"A-headless-2", a("db.shop.svc.cluster.local.")},
		{"A-headless-40-truncated", a("big.shop.svc.cluster.local.")},
		{"SRV", srv("_http._tcp.web.shop.svc.cluster.local.")},
		{"NXDOMAIN", a("missing.shop.svc.cluster.local.")},
		{"PTR", typ("50.0.96.10.in-addr.arpa.", dns.TypePTR)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := nopWriter{remote: &net.UDPAddr{IP: net.IPv4(10, 244, 1, 5), Port: 40000}}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := bc.q.msg()
				for pb.Next() {
					lab.server.ServeDNS(w, req)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "qps")
		})
	}
}

// BenchmarkUDPQueries is a small dnsperf: a real UDP server on 127.0.0.1
// and several client goroutines, each with its own socket, sending A
// queries for an in-zone name and waiting for each reply. b.N queries are
// shared out; every read has a deadline, so lost packets cost time but
// cannot hang the run.
func BenchmarkUDPQueries(b *testing.B) {
	lab := newTestLab(b, Config{}, fixture()...)
	addr, _ := serveLocal(b, lab.server)
	const clients = 16
	query, err := a("web.shop.svc.cluster.local.").msg().Pack()
	if err != nil {
		b.Fatal(err)
	}
	var next, ok, lost atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			conn, err := net.Dial("udp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			buf := make([]byte, 512)
			msg := append([]byte(nil), query...)
			for seq := uint16(0); next.Add(1) <= int64(b.N); seq++ {
				qid := uint16(id)<<11 | seq&0x7ff
				msg[0], msg[1] = byte(qid>>8), byte(qid)
				if _, err := conn.Write(msg); err != nil {
					b.Error(err)
					return
				}
				for {
					_ = conn.SetReadDeadline(time.Now().Add(time.Second))
					n, err := conn.Read(buf)
					if err != nil {
						lost.Add(1)
						break
					}
					// A late reply to an earlier, timed-out query is skipped.
					if n >= 12 && uint16(buf[0])<<8|uint16(buf[1]) == qid {
						if buf[3]&0x0f == 0 && buf[7] == 1 { // NOERROR, one answer
							ok.Add(1)
						} else {
							lost.Add(1)
						}
						break
					}
				}
			}
		}(i)
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(ok.Load())/b.Elapsed().Seconds(), "qps")
	b.ReportMetric(float64(lost.Load()), "lost")
}
