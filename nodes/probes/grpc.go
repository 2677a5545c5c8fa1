package probes

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// A grpc probe calls grpc.health.v1.Health/Check, as grpc_health_probe does.
// gRPC is HTTP/2 with a small framing of protobuf messages, so the standard
// library's unencrypted HTTP/2 client is enough to speak it; the messages
// involved have one field each.

const healthCheckPath = "/grpc.health.v1.Health/Check"

// servingStatus names HealthCheckResponse.ServingStatus values.
var servingStatus = map[uint64]string{0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}

// grpcCodes names gRPC status codes as grpc-go prints them.
var grpcCodes = []string{"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
	"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
	"OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"}

const (
	codeDeadlineExceeded = 4
	codeUnimplemented    = 12
	codeInternal         = 13
	codeUnavailable      = 14
)

// rpcError is a gRPC status: a code and a message.
type rpcError struct {
	code uint64
	desc string
}

func (e rpcError) Error() string {
	name := "Code(" + strconv.FormatUint(e.code, 10) + ")"
	if e.code < uint64(len(grpcCodes)) {
		name = grpcCodes[e.code]
	}
	return fmt.Sprintf("rpc error: code = %s desc = %s", name, e.desc)
}

// probeGRPC checks the health of the container's gRPC server with the
// kubelet's messages: "service unhealthy (responded with \"NOT_SERVING\")",
// "timeout: failed to connect service ...", and so on.
func probeGRPC(ctx context.Context, a *corev1.GRPCAction, t Target, timeout time.Duration) attempt {
	addr := net.JoinHostPort(t.PodIP, strconv.Itoa(int(a.Port)))
	service := ""
	if a.Service != nil {
		service = *a.Service
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var connected atomic.Bool
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := t.dial(ctx, network, addr)
			connected.Store(err == nil)
			return conn, err
		},
		DisableKeepAlives: true,
		Protocols:         new(http.Protocols),
	}
	transport.Protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge, as gRPC without TLS
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+healthCheckPath,
		bytes.NewReader(grpcFrame(healthCheckRequest(service))))
	if err != nil {
		return errored(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	req.Header.Set("User-Agent", userAgent)

	res, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil && !connected.Load() {
		// The kubelet's gRPC client waits for a connection until the
		// timeout, retrying a refused one, and then gives up.
		<-ctx.Done()
		return failed(fmt.Sprintf("timeout: failed to connect service %q within %v: %+v", addr, timeout, context.DeadlineExceeded))
	}
	if err == nil {
		defer res.Body.Close()
		err = grpcCheckResult(res)
	}
	var rpcErr rpcError
	switch {
	case err == nil:
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &rpcErr) && rpcErr.code == codeDeadlineExceeded:
		return failed(fmt.Sprintf("timeout: health rpc did not complete within %v", timeout))
	case errors.As(err, &rpcErr) && rpcErr.code == codeUnimplemented:
		return failed(fmt.Sprintf("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", rpcErr.desc))
	case errors.As(err, &rpcErr):
		return failed(fmt.Sprintf("error: health rpc probe failed: %+v", err))
	default:
		return failed(fmt.Sprintf("error: health rpc probe failed: %+v", rpcError{codeUnavailable, err.Error()}))
	}
	return grpcServingResult(res)
}

// grpcCheckResult reads the call's status: an HTTP error maps to a gRPC
// code as grpc-go maps it, then grpc-status in the trailers (or in the
// headers of a trailers-only response).
func grpcCheckResult(res *http.Response) error {
	if res.StatusCode != http.StatusOK {
		code := map[int]uint64{400: codeInternal, 401: 16, 403: 7, 404: codeUnimplemented,
			429: codeUnavailable, 502: codeUnavailable, 503: codeUnavailable, 504: codeUnavailable}[res.StatusCode]
		if code == 0 {
			code = 2 // Unknown
		}
		return rpcError{code, fmt.Sprintf("unexpected HTTP status code received from server: %d (%s)", res.StatusCode, http.StatusText(res.StatusCode))}
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	// Hand the body back for the response to be parsed.
	res.Body = io.NopCloser(bytes.NewReader(body))
	status, msg := res.Trailer.Get("Grpc-Status"), res.Trailer.Get("Grpc-Message")
	if status == "" {
		status, msg = res.Header.Get("Grpc-Status"), res.Header.Get("Grpc-Message")
	}
	code, err := strconv.ParseUint(status, 10, 32)
	if err != nil {
		return rpcError{codeInternal, "server closed the stream without sending trailers"}
	}
	if code != 0 {
		if m, err := url.PathUnescape(msg); err == nil {
			msg = m // grpc-message is percent-encoded
		}
		return rpcError{code, msg}
	}
	return nil
}

// grpcServingResult reads the HealthCheckResponse: SERVING is a success.
func grpcServingResult(res *http.Response) attempt {
	body, _ := io.ReadAll(res.Body)
	msg, err := grpcUnframe(body)
	if err == nil {
		var status uint64
		if status, err = healthCheckStatus(msg); err == nil {
			if status != 1 {
				name, ok := servingStatus[status]
				if !ok {
					name = strconv.FormatUint(status, 10)
				}
				return failed(fmt.Sprintf("service unhealthy (responded with %q)", name))
			}
			return succeeded("service healthy")
		}
	}
	return failed(fmt.Sprintf("error: health rpc probe failed: %+v", rpcError{codeInternal, err.Error()}))
}

// grpcFrame prefixes a message with gRPC's framing: a compression flag (0)
// and the length, big-endian.
func grpcFrame(msg []byte) []byte {
	out := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

func grpcUnframe(b []byte) ([]byte, error) {
	if len(b) < 5 {
		return nil, errors.New("response has no message")
	}
	if b[0] != 0 {
		return nil, errors.New("compressed responses are not supported")
	}
	n := binary.BigEndian.Uint32(b[1:5])
	if uint32(len(b)-5) < n {
		return nil, errors.New("response message is truncated")
	}
	return b[5 : 5+n], nil
}

// healthCheckRequest encodes HealthCheckRequest{service}: field 1, a string.
func healthCheckRequest(service string) []byte {
	if service == "" {
		return nil // proto3 leaves out empty fields
	}
	b := []byte{1<<3 | 2}
	b = binary.AppendUvarint(b, uint64(len(service)))
	return append(b, service...)
}

// healthCheckStatus decodes HealthCheckResponse: field 1, a varint enum.
// Unknown fields are skipped, as protobuf requires.
func healthCheckStatus(msg []byte) (uint64, error) {
	var status uint64
	for len(msg) > 0 {
		key, n := binary.Uvarint(msg)
		if n <= 0 {
			return 0, errors.New("malformed response")
		}
		msg = msg[n:]
		field, wireType := key>>3, key&7
		var size int
		switch wireType {
		case 0: // varint
			v, m := binary.Uvarint(msg)
			if m <= 0 {
				return 0, errors.New("malformed response")
			}
			if field == 1 {
				status = v
			}
			size = m
		case 1: // 64-bit
			size = 8
		case 2: // length-delimited
			l, m := binary.Uvarint(msg)
			if m <= 0 {
				return 0, errors.New("malformed response")
			}
			size = m + int(l)
		case 5: // 32-bit
			size = 4
		default:
			return 0, errors.New("malformed response")
		}
		if size > len(msg) {
			return 0, errors.New("malformed response")
		}
		msg = msg[size:]
	}
	return status, nil
}
