// Package containerlogs keeps containers' log files the way a node's
// container runtime and kubelet do, and reads them back for `kubectl logs`.
//
// A container's stdout and stderr are written, line by line, into
// <dir>/<restartCount>.log in the CRI logging format that containerd and
// CRI-O write and the kubelet parses:
//
//	2024-05-01T10:00:00.123456789Z stdout F the line
//
// (timestamp, stream, tag, content). A line longer than 16 KiB is cut into
// records tagged P (partial) followed by one tagged F (full), as containerd's
// max_container_log_line_size does. So that a chatty container cannot fill the
// disk, the file is rotated when it reaches the kubelet's containerLogMaxSize
// (10Mi) into <n>.log.<YYYYMMDD-hhmmss>, and only containerLogMaxFiles (5)
// files per container instance are kept; like the kubelet's container garbage
// collector (one dead container kept per container), only the current and
// the previous instance's logs are kept.
//
// Read answers a `kubectl logs` request: the current instance or, with
// Previous, the one before; tailLines, sinceTime, limitBytes and timestamps
// as the kubelet applies them; and follow, which keeps reading as the file
// grows and across rotations until the container stops.
//
// Unlike the kubelet, which reads only the newest file, Read also reads the
// rotated files of the instance, so tailLines and a full read see the whole
// retained history. Rotated files are not gzip-compressed.
package containerlogs
