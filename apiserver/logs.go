package apiserver

import (
	"net/http"
	"net/url"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// servePodLog answers GET /api/v1/namespaces/{ns}/pods/{name}/log: the
// container's log as text/plain, streamed while it grows with follow=true
// (kubectl logs -f). As in kube-apiserver's LogREST, the options are
// validated first, then the pod and container are looked up.
func (s *Server) servePodLog(w http.ResponseWriter, r *http.Request, namespace, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, r, "log", http.MethodGet)
		return
	}
	opts, err := podLogOptions(r.URL.Query())
	if err != nil {
		writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	if errs := validateLogOptions(opts); len(errs) > 0 {
		writeError(w, r, apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, name, errs))
		return
	}
	pod, container, err := s.podContainer(namespace, name, opts.Container)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := &logWriter{w: w, follow: opts.Follow}
	if pod.Spec.NodeName == "" {
		// No node, no kubelet to ask: kube-apiserver answers an empty log.
		out.start()
		return
	}
	rt, err := s.podRuntime()
	if err != nil {
		writeError(w, r, err)
		return
	}
	opts.Container = container
	if err := rt.Logs(r.Context(), namespace, name, opts, out); err != nil && !out.hasStarted() {
		writeError(w, r, err) // apierrors keep their code; others become 500
		return
	}
	out.start()
}

// podLogOptions reads PodLogOptions from the query, with the conversions
// kube-apiserver's parameter codec uses: a bool is false only when absent,
// "false" or "0"; numbers are base-10 int64; sinceTime is RFC 3339.
func podLogOptions(q url.Values) (LogOptions, error) {
	opts := LogOptions{Container: q.Get("container")}
	bools := map[string]*bool{"follow": &opts.Follow, "previous": &opts.Previous, "timestamps": &opts.Timestamps}
	for key, dst := range bools {
		if vals, ok := q[key]; ok {
			if err := runtime.Convert_Slice_string_To_bool(&vals, dst, nil); err != nil {
				return opts, err
			}
		}
	}
	ints := map[string]**int64{"tailLines": &opts.TailLines, "sinceSeconds": &opts.SinceSeconds, "limitBytes": &opts.LimitBytes}
	for key, dst := range ints {
		if vals, ok := q[key]; ok {
			if err := runtime.Convert_Slice_string_To_Pointer_int64(&vals, dst, nil); err != nil {
				return opts, err
			}
		}
	}
	if v := q.Get("sinceTime"); v != "" {
		var t metav1.Time
		if err := t.UnmarshalQueryParameter(v); err != nil {
			return opts, err
		}
		opts.SinceTime = &t.Time
	}
	return opts, nil
}

// validateLogOptions applies kube-apiserver's ValidatePodLogOptions.
func validateLogOptions(opts LogOptions) field.ErrorList {
	var errs field.ErrorList
	if opts.TailLines != nil && *opts.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *opts.TailLines, "must be greater than or equal to 0"))
	}
	if opts.LimitBytes != nil && *opts.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *opts.LimitBytes, "must be greater than 0"))
	}
	switch {
	case opts.SinceSeconds != nil && opts.SinceTime != nil:
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case opts.SinceSeconds != nil && *opts.SinceSeconds < 1:
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *opts.SinceSeconds, "must be greater than 0"))
	}
	return errs
}

// logWriter sends the log. The 200 answer goes out with the first bytes,
// so that an error the runtime reports before writing anything can still
// be answered with a Status. While following, every write is flushed at
// once, as kube-apiserver's LocationStreamer does for follow.
type logWriter struct {
	mu      sync.Mutex // the runtime may write from several goroutines
	w       http.ResponseWriter
	follow  bool
	started bool
}

func (l *logWriter) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.startLocked()
}

func (l *logWriter) startLocked() {
	if l.started {
		return
	}
	l.started = true
	l.w.Header().Set("Content-Type", "text/plain")
	l.w.WriteHeader(http.StatusOK)
	l.flush()
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.startLocked()
	n, err := l.w.Write(p)
	if l.follow {
		l.flush()
	}
	return n, err
}

func (l *logWriter) hasStarted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.started
}

func (l *logWriter) flush() {
	if f, ok := l.w.(http.Flusher); ok {
		f.Flush()
	}
}
