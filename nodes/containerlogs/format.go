package containerlogs

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// The two streams a container writes, named as the CRI log format names them.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Tags of a record: F ends a line, P is a piece of a longer one (CRI
// LogTagFull and LogTagPartial).
const (
	tagFull    = "F"
	tagPartial = "P"
)

// maxLineSize is the most content one record carries: containerd's default
// max_container_log_line_size, 16 KiB. Longer lines become P records.
const maxLineSize = 16 * 1024

// Timestamps are written as containerd writes them (RFC 3339 with as many
// fractional digits as needed) and printed, for `kubectl logs --timestamps`,
// as the kubelet prints them: always nine fractional digits.
const (
	fileTimeFormat   = time.RFC3339Nano
	outputTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"
)

// record is one line of a log file.
type record struct {
	time    time.Time
	stream  string
	partial bool
	content []byte
}

// appendRecord formats a record as a log file line, newline included.
func appendRecord(b []byte, at time.Time, stream, tag string, content []byte) []byte {
	b = at.UTC().AppendFormat(b, fileTimeFormat)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, ' ')
	b = append(b, tag...)
	b = append(b, ' ')
	b = append(b, content...)
	return append(b, '\n')
}

// parseRecord parses one log file line (without its newline):
// "<timestamp> <stream> <tag>[:<more tags>] <content>".
func parseRecord(line []byte) (record, error) {
	var r record
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return r, errors.New("timestamp is not found")
	}
	t, err := time.Parse(fileTimeFormat, string(ts))
	if err != nil {
		return r, fmt.Errorf("unexpected timestamp %q: %v", ts, err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return r, errors.New("stream type is not found")
	}
	if s := string(stream); s != Stdout && s != Stderr {
		return r, fmt.Errorf("unexpected stream type %q", s)
	}
	tags, content, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return r, errors.New("log tag is not found")
	}
	// Tags are ":"-separated for forward compatibility; the first says
	// whether the line goes on in the next record.
	first, _, _ := bytes.Cut(tags, []byte{':'})
	r.time, r.stream, r.partial, r.content = t, string(stream), string(first) == tagPartial, content
	return r, nil
}
