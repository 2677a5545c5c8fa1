package probes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// probeHTTP sends the GET of an httpGet probe. A status from 200 to 399 is
// a success; the message of a failure is the kubelet's ("HTTP probe failed
// with statuscode: 503", or the client's error, such as `Get
// "http://10.244.1.5:8080/healthz": context deadline exceeded (Client.Timeout
// exceeded while awaiting headers)`).
func probeHTTP(ctx context.Context, a *corev1.HTTPGetAction, t Target, timeout time.Duration) attempt {
	req, err := newProbeRequest(ctx, a, t)
	if err != nil {
		return errored(err)
	}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: t.dial,
			// Like the kubelet: one connection per probe, and HTTPS
			// endpoints are not verified (pods have no certificates the
			// node could check).
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		},
		CheckRedirect: followSameHostRedirects,
	}
	res, err := client.Do(req)
	if err != nil {
		return failed(err.Error())
	}
	defer res.Body.Close()
	// The kubelet reads at most 10 KiB of the body; only the status counts.
	body, err := io.ReadAll(io.LimitReader(res.Body, maxOutput))
	if err != nil {
		return errored(err)
	}
	switch code := res.StatusCode; {
	case code >= http.StatusMultipleChoices && code < http.StatusBadRequest:
		// A redirect to another host is not followed; the kubelet counts
		// it as a success and records a ProbeWarning event.
		return warned(fmt.Sprintf("Probe terminated redirects, Response body: %v", string(body)))
	case code >= http.StatusOK && code < http.StatusMultipleChoices:
		return succeeded(string(body))
	default:
		return failed(fmt.Sprintf("HTTP probe failed with statuscode: %d", code))
	}
}

// newProbeRequest builds the GET of an httpGet probe: scheme (http unless
// HTTPS), host (the pod IP unless set), port, path and headers, with the
// kubelet's User-Agent and Accept unless the probe sets its own.
func newProbeRequest(ctx context.Context, a *corev1.HTTPGetAction, t Target) (*http.Request, error) {
	port, err := resolvePort(a.Port, t.Ports)
	if err != nil {
		return nil, err
	}
	scheme := strings.ToLower(string(a.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := a.Host
	if host == "" {
		host = t.PodIP
	}
	u, err := url.Parse(a.Path)
	if err != nil {
		u = &url.URL{Path: a.Path} // too late to reject a bad path; send it as is
	}
	u.Scheme, u.Host = scheme, net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	headers := http.Header{}
	for _, h := range a.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", userAgent)
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		headers.Del("Accept") // an empty Accept means: send none
	}
	req.Header = headers
	req.Host = headers.Get("Host")
	return req, nil
}

// followSameHostRedirects follows a redirect only to the same host, as the
// kubelet does, up to 10 of them.
func followSameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// probeTCP opens a connection and closes it. The message of a failure is
// the dial error: "dial tcp 10.244.1.5:8080: connect: connection refused".
func probeTCP(ctx context.Context, a *corev1.TCPSocketAction, t Target, timeout time.Duration) attempt {
	port, err := resolvePort(a.Port, t.Ports)
	if err != nil {
		return errored(err)
	}
	host := a.Host
	if host == "" {
		host = t.PodIP
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := t.dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return failed(err.Error())
	}
	conn.Close()
	return succeeded("")
}

// probeExec runs the command in the container: exit code 0 is a success,
// and the message of a failure is what the command printed. A command that
// outlives the timeout fails with the kubelet's `command "..." timed out`.
func probeExec(ctx context.Context, a *corev1.ExecAction, t Target, timeout time.Duration) attempt {
	if t.Exec == nil {
		return errored(errors.New("exec probes are not supported for this container"))
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, output, err := t.Exec(ctx, a.Command)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return failed(fmt.Sprintf("command %q timed out", strings.Join(a.Command, " ")))
	}
	if err != nil {
		return errored(err)
	}
	if len(output) > maxOutput {
		output = output[:maxOutput]
	}
	if code != 0 {
		return failed(output)
	}
	return succeeded(output)
}
