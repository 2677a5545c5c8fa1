package dns

import (
	"bufio"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/miekg/dns"
)

var errNoUpstream = errors.New("dns: no upstream resolver configured")

// forward is the forward plugin: the query goes unchanged to an upstream
// over the client's transport and the upstream's reply comes back
// unchanged (flags, TTLs, rcode). With no upstream, or none answering in
// time, the client gets SERVFAIL.
func (s *Server) forward(ctx context.Context, c client, r *dns.Msg) *dns.Msg {
	resp, err := s.exchange(ctx, r, c.tcp)
	if err != nil {
		return replyRcode(r, dns.RcodeServerFailure)
	}
	return resp
}

// lookupUpstream resolves an ExternalName target outside the cluster zone,
// as CoreDNS's upstream helper does by sending a fresh query (with the
// client's buffer size and DO bit) back through forward. It returns nil
// when no upstream answered.
func (s *Server) lookupUpstream(ctx context.Context, c client, name string, qtype uint16) *dns.Msg {
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	req.SetEdns0(uint16(min(c.size, dns.MaxMsgSize)), c.do)
	resp, err := s.exchange(ctx, req, c.tcp)
	if err != nil {
		return nil
	}
	return resp
}

// exchange tries the upstreams once each, starting at a random one (the
// forward plugin's default "random" policy), each attempt bounded by the
// upstream timeout.
func (s *Server) exchange(ctx context.Context, req *dns.Msg, tcp bool) (*dns.Msg, error) {
	if len(s.upstreams) == 0 {
		return nil, errNoUpstream
	}
	network := "udp"
	if tcp {
		network = "tcp"
	}
	cl := &dns.Client{Net: network, Timeout: s.timeout, UDPSize: dns.MaxMsgSize}
	first := rand.IntN(len(s.upstreams))
	var lastErr error
	for i := range s.upstreams {
		handOff(ctx)
		resp, _, err := cl.ExchangeContext(ctx, req, s.upstreams[(first+i)%len(s.upstreams)])
		if err == nil {
			return resp, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// ReadUpstreams reads the nameserver lines of a resolv.conf file (as
// "forward . /etc/resolv.conf" does) and returns them as "ip:53".
func ReadUpstreams(resolvConf string) ([]string, error) {
	f, err := os.Open(resolvConf)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue // comments (# or ;) and other keywords
		}
		ip, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		out = append(out, net.JoinHostPort(ip.String(), "53"))
	}
	return out, sc.Err()
}
