package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/minilab/minilab/apiserver/registry"
	"github.com/minilab/minilab/store"
)

// A watch is a long-lived response of newline-separated JSON events,
// {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}, flushed
// one by one. Where it starts is the resourceVersion it was given:
//   - the resourceVersion of a list: only changes after it (kubectl get -w,
//     informers after their list);
//   - "0" or none: first a synthetic ADDED for every current object
//     (kubectl get NAME -w), then changes;
//   - sendInitialEvents=true: the same, closed by a BOOKMARK carrying the
//     "k8s.io/initial-events-end" annotation (client-go's streaming lists);
//   - older than the kept history: 410 Gone "too old resource version",
//     after which clients list again.
// Label and field selectors apply to both the old and the new state of an
// object, so an object that stops matching is reported as DELETED to that
// watcher, just as kube-apiserver's watch cache does.

// bookmarkInterval is how often a watch that asked for bookmarks gets one.
const bookmarkInterval = time.Minute

func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request, res *registry.Resource, namespace, name string, out output) {
	lo, err := parseListOptions(r, res)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if name != "" {
		// Old-style /watch/namespaces/x/services/NAME.
		sel, _ := fields.ParseSelector("metadata.name=" + name)
		lo.field = fields.AndSelectors(lo.field, sel)
	}
	initial := lo.resourceVersion == "" || lo.resourceVersion == "0"
	if lo.sendInitialEvents != nil {
		initial = *lo.sendInitialEvents
	}
	var fromRev int64
	if !initial && lo.resourceVersion != "" {
		if fromRev, err = strconv.ParseInt(lo.resourceVersion, 10, 64); err != nil || fromRev < 0 {
			writeError(w, r, apierrors.NewBadRequest("invalid resource version "+strconv.Quote(lo.resourceVersion)))
			return
		}
		if err := s.waitForRevision(fromRev); err != nil {
			writeError(w, r, err)
			return
		}
	}
	if !initial && lo.resourceVersion == "" {
		fromRev = s.store.Revision()
	}

	timeout := time.Duration(lo.timeoutSeconds) * time.Second
	if timeout == 0 {
		// kube-apiserver ends watches after a random 30 to 60 minutes
		// (--min-request-timeout) so that clients spread their reconnects.
		timeout = 30*time.Minute + time.Duration(rand.Int64N(int64(30*time.Minute)))
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	watcher, err := s.store.Watch(ctx, listPrefix(res, namespace), fromRev, initial)
	var compacted *store.CompactedError
	switch {
	case errors.As(err, &compacted):
		writeError(w, r, apierrors.NewResourceExpired("too old resource version: "+strconv.FormatInt(compacted.Requested, 10)+" ("+strconv.FormatInt(compacted.Oldest, 10)+")"))
		return
	case errors.Is(err, store.ErrCompacted):
		writeError(w, r, apierrors.NewResourceExpired("too old resource version: "+lo.resourceVersion))
		return
	case err != nil:
		writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	defer watcher.Stop()

	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", out.MediaType)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}

	ws := &watchStream{s: s, w: w, flusher: flusher, res: res, lo: lo, out: out,
		includeObject: r.URL.Query().Get("includeObject"), lastRev: watcher.InitialRevision()}

	// With sendInitialEvents the end of the initial state is marked by a
	// bookmark. The store has queued every initial event by the time Watch
	// returns (each with a revision <= the initial revision, live ones
	// after it), so the end comes after that many events, or before the
	// first live one.
	streaming := lo.sendInitialEvents != nil && *lo.sendInitialEvents && lo.allowBookmarks
	pending := len(watcher.Events())
	endOfInitial := func() error {
		streaming = false
		return ws.bookmark(watcher.InitialRevision(), true)
	}
	if streaming && pending == 0 {
		if endOfInitial() != nil {
			return
		}
	}
	bookmarks := time.NewTicker(bookmarkInterval)
	defer bookmarks.Stop()
	for {
		select {
		case ev, ok := <-watcher.Events():
			if !ok {
				if errors.Is(watcher.Err(), store.ErrWatcherTooSlow) {
					ws.sendError(apierrors.NewResourceExpired("the watch fell behind; start again from the last resourceVersion"))
				}
				return
			}
			if streaming && ev.Revision > watcher.InitialRevision() {
				if endOfInitial() != nil {
					return
				}
			}
			if ws.send(ev) != nil {
				return
			}
			if pending--; streaming && pending <= 0 {
				if endOfInitial() != nil {
					return
				}
			}
		case <-bookmarks.C:
			// A bookmark may only carry a revision this stream has fully
			// delivered: that of the last event sent.
			if lo.allowBookmarks && ws.bookmark(ws.lastRev, false) != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// watchStream writes events to one watch response.
type watchStream struct {
	s             *Server
	w             http.ResponseWriter
	flusher       http.Flusher
	res           *registry.Resource
	lo            *listOptions
	out           output
	includeObject string
	sentHeaders   bool
	lastRev       int64
}

func (ws *watchStream) send(ev store.Event) error {
	if ev.Revision > ws.lastRev {
		ws.lastRev = ev.Revision
	}
	var cur, prev runtime.Object
	var err error
	if ev.Type == store.EventPut {
		if cur, err = decodeFromStore(ws.res, ev.Value, ev.Revision); err != nil {
			return err
		}
	}
	if ev.PrevValue != nil {
		if prev, err = decodeFromStore(ws.res, ev.PrevValue, ev.Revision); err != nil {
			return err
		}
	}
	if ev.Type == store.EventDelete && prev == nil {
		if prev, err = decodeFromStore(ws.res, ev.Value, ev.Revision); err != nil {
			return err
		}
	}
	curMatch := cur != nil && ws.lo.matches(ws.res, cur)
	prevMatch := prev != nil && ws.lo.matches(ws.res, prev)
	switch {
	case ev.Type == store.EventDelete && prevMatch:
		return ws.write("DELETED", prev)
	case ev.Type == store.EventPut && curMatch && prevMatch:
		return ws.write("MODIFIED", cur)
	case ev.Type == store.EventPut && curMatch:
		return ws.write("ADDED", cur)
	case ev.Type == store.EventPut && prevMatch:
		return ws.write("DELETED", prev) // no longer matches the selectors
	}
	return nil
}

func (ws *watchStream) bookmark(rev int64, initialEnd bool) error {
	obj := ws.res.New()
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	if initialEnd {
		m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	return ws.write("BOOKMARK", obj)
}

func (ws *watchStream) sendError(err error) {
	ws.writeRaw("ERROR", errorStatus(err))
}

func (ws *watchStream) write(eventType string, obj runtime.Object) error {
	var body interface{} = obj
	switch ws.out.As {
	case "Table":
		if eventType == "BOOKMARK" {
			m, _ := meta.Accessor(obj)
			body = &metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/" + ws.out.TableVer}, ListMeta: metav1.ListMeta{ResourceVersion: m.GetResourceVersion()}}
			break
		}
		table, err := ws.s.toTable(ws.res, obj, ws.includeObject, ws.sentHeaders)
		if err != nil {
			return err
		}
		table.APIVersion = "meta.k8s.io/" + ws.out.TableVer
		ws.sentHeaders = true
		body = table
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		m, _ := meta.Accessor(obj)
		body = partialOf(m, ws.out.TableVer)
	default:
		obj.GetObjectKind().SetGroupVersionKind(ws.res.GroupVersionKind())
	}
	return ws.writeRaw(eventType, body)
}

func (ws *watchStream) writeRaw(eventType string, body interface{}) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	line, err := json.Marshal(metav1.WatchEvent{Type: eventType, Object: runtime.RawExtension{Raw: raw}})
	if err != nil {
		return err
	}
	if _, err := ws.w.Write(append(line, '\n')); err != nil {
		return err
	}
	if ws.flusher != nil {
		ws.flusher.Flush()
	}
	return nil
}
