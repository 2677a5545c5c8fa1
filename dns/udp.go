package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// udpServer answers one UDP socket with a few long-lived reader
// goroutines, each reading, answering and writing one query at a time.
// miekg's server (which CoreDNS uses) starts a goroutine per packet
// instead; at tens of thousands of queries a second, growing each new
// goroutine's stack costs about a quarter of the CPU, which the readers
// avoid by keeping theirs. A reader about to wait on an upstream resolver
// first starts its replacement (see handOff), so slow upstreams never
// hold up in-cluster answers.
type udpServer struct {
	s       *Server
	ctx     context.Context
	pc      net.PacketConn
	uc      *net.UDPConn // pc, when it is a UDP socket
	session bool         // wildcard bind: reply from the address the query was sent to
	wg      sync.WaitGroup
	closing atomic.Bool
	errc    chan error
}

func (s *Server) serveUDP(ctx context.Context, pc net.PacketConn) error {
	u := &udpServer{s: s, ctx: ctx, pc: pc, errc: make(chan error, 1)}
	if uc, ok := pc.(*net.UDPConn); ok {
		u.uc = uc
		if a, ok := uc.LocalAddr().(*net.UDPAddr); ok && a.IP.IsUnspecified() {
			u.session = enablePacketInfo(uc)
		}
	}
	// Reads on one socket take turns, so a couple of readers per CPU keep
	// one reading while the others answer.
	for i := 0; i < 2*runtime.GOMAXPROCS(0); i++ {
		u.start()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-u.errc:
	}
	u.closing.Store(true)
	_ = pc.Close()
	u.wg.Wait()
	return err
}

// enablePacketInfo asks the kernel for each query's destination address
// (IP_PKTINFO / IPV6_RECVPKTINFO), as miekg does for wildcard binds, so
// the reply leaves from the address the client asked.
func enablePacketInfo(uc *net.UDPConn) bool {
	rc, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		err4 := syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_PKTINFO, 1)
		err6 := syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_RECVPKTINFO, 1)
		ok = err4 == nil || err6 == nil
	})
	return ok
}

func (u *udpServer) start() {
	u.wg.Add(1)
	go u.read()
}

// handoff is a reader's promise to stop reading after its current query
// once it has started a replacement.
type handoff struct {
	done  bool
	start func()
}

type handoffKey struct{}

// handOff is called before waiting on an upstream: on a UDP reader it
// starts another reader, and this one ends after the current query.
func handOff(ctx context.Context) {
	if h, ok := ctx.Value(handoffKey{}).(*handoff); ok && !h.done {
		h.done = true
		h.start()
	}
}

func (u *udpServer) read() {
	defer u.wg.Done()
	h := &handoff{start: u.start}
	ctx := context.WithValue(u.ctx, handoffKey{}, h)
	in := make([]byte, dns.DefaultMsgSize)
	out := make([]byte, dns.DefaultMsgSize)
	for !h.done {
		n, p, err := u.readPacket(in)
		if err != nil {
			if u.closing.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case u.errc <- err:
			default:
			}
			return
		}
		u.answer(ctx, in[:n], p, out)
	}
}

// peer is where a query came from, in whichever form the socket gives it.
type peer struct {
	ap      netip.AddrPort  // plain UDP socket
	session *dns.SessionUDP // wildcard-bound UDP socket
	addr    net.Addr        // any other PacketConn
}

func (p peer) ipv6() bool {
	var a net.Addr
	switch {
	case p.session != nil:
		a = p.session.RemoteAddr()
	case p.addr != nil:
		a = p.addr
	default:
		return !p.ap.Addr().Unmap().Is4()
	}
	ua, ok := a.(*net.UDPAddr)
	return ok && ua.IP.To4() == nil
}

func (u *udpServer) readPacket(b []byte) (int, peer, error) {
	switch {
	case u.session:
		n, s, err := dns.ReadFromSessionUDP(u.uc, b)
		return n, peer{session: s}, err
	case u.uc != nil:
		n, ap, err := u.uc.ReadFromUDPAddrPort(b)
		return n, peer{ap: ap}, err
	default:
		n, a, err := u.pc.ReadFrom(b)
		return n, peer{addr: a}, err
	}
}

func (u *udpServer) write(b []byte, p peer) {
	switch {
	case p.session != nil:
		_, _ = dns.WriteToSessionUDP(u.uc, b, p.session)
	case p.addr != nil:
		_, _ = u.pc.WriteTo(b, p.addr)
	default:
		_, _ = u.uc.WriteToUDPAddrPort(b, p.ap)
	}
}

// answer handles one datagram the way miekg's server does before and
// after calling the handler: responses are ignored, malformed queries get
// FORMERR and unknown opcodes NOTIMP.
func (u *udpServer) answer(ctx context.Context, pkt []byte, p peer, out []byte) {
	start := time.Now()
	if len(pkt) < 12 {
		return
	}
	hdr := dns.Header{
		Id:      binary.BigEndian.Uint16(pkt[0:]),
		Bits:    binary.BigEndian.Uint16(pkt[2:]),
		Qdcount: binary.BigEndian.Uint16(pkt[4:]),
		Ancount: binary.BigEndian.Uint16(pkt[6:]),
		Nscount: binary.BigEndian.Uint16(pkt[8:]),
		Arcount: binary.BigEndian.Uint16(pkt[10:]),
	}
	req := new(dns.Msg)
	action := dns.DefaultMsgAcceptFunc(hdr)
	if action == dns.MsgAccept && req.Unpack(pkt) != nil {
		action = dns.MsgReject
	}
	var m *dns.Msg
	switch action {
	case dns.MsgIgnore:
		return
	case dns.MsgReject, dns.MsgRejectNotImplemented:
		m = rejectReply(hdr, req, action)
	default:
		c := clientOf(false, p.ipv6(), req)
		var plugin string
		m, plugin = u.s.reply(ctx, c, req)
		defer u.s.metrics.observe(c, req, m, plugin, start)
	}
	if b, err := m.PackBuffer(out); err == nil {
		u.write(b, p)
	}
}

// rejectReply mirrors miekg's server: the request itself, header as
// sent, turned into a reply with FORMERR (or NOTIMP for other opcodes) and
// its records dropped.
func rejectReply(hdr dns.Header, req *dns.Msg, action dns.MsgAcceptAction) *dns.Msg {
	bit := func(mask uint16) bool { return hdr.Bits&mask != 0 }
	req.Id = hdr.Id
	req.Opcode = int(hdr.Bits>>11) & 0xF
	req.RecursionDesired = bit(1 << 8)
	req.CheckingDisabled = bit(1 << 4)
	req.AuthenticatedData = bit(1 << 5)
	opcode := req.Opcode
	req.SetRcodeFormatError(req)
	req.Zero = false
	if action == dns.MsgRejectNotImplemented {
		req.Opcode = opcode
		req.Rcode = dns.RcodeNotImplemented
	}
	req.Answer, req.Ns, req.Extra = nil, nil, nil
	return req
}
