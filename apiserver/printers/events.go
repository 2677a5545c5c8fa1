package printers

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var eventDoc = corev1.Event{}.SwaggerDoc()

// The event table leads with time and meaning rather than the name (which is
// generated and rarely interesting); NAME is a wide column, last.
var eventPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		stringColumn("Last Seen", eventDoc["lastTimestamp"]),
		stringColumn("Type", eventDoc["type"]),
		stringColumn("Reason", eventDoc["reason"]),
		stringColumn("Object", eventDoc["involvedObject"]),
		wide(stringColumn("Subobject", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"])),
		wide(stringColumn("Source", eventDoc["source"])),
		stringColumn("Message", eventDoc["message"]),
		wide(stringColumn("First Seen", eventDoc["firstTimestamp"])),
		wide(stringColumn("Count", eventDoc["count"])),
		wide(nameColumn()),
	},
	Row: rowOf(eventCells),
}

func eventCells(ev *corev1.Event, now time.Time) []interface{} {
	firstSeen, lastSeen, count := eventTimes(ev, now)
	return []interface{}{
		lastSeen,
		ev.Type,
		ev.Reason,
		eventObject(ev.InvolvedObject),
		ev.InvolvedObject.FieldPath,
		eventSource(ev),
		strings.TrimSpace(ev.Message),
		firstSeen,
		count,
		ev.Name,
	}
}

// eventTimes bridges the two generations of the Event API. Old-style events
// (kubelet's record package) fill firstTimestamp/lastTimestamp/count; new-style
// events (events.k8s.io) fill eventTime and, when repeated, a series whose
// lastObservedTime and count take over. A single new-style event has count 0,
// which means 1.
func eventTimes(ev *corev1.Event, now time.Time) (firstSeen, lastSeen string, count int64) {
	firstSeen = age(ev.FirstTimestamp, now)
	if ev.FirstTimestamp.IsZero() {
		firstSeen = microAge(ev.EventTime, now)
	}
	lastSeen = age(ev.LastTimestamp, now)
	if ev.LastTimestamp.IsZero() {
		lastSeen = firstSeen
	}
	count = int64(ev.Count)
	if ev.Series != nil {
		lastSeen = microAge(ev.Series.LastObservedTime, now)
		count = int64(ev.Series.Count)
	} else if count == 0 {
		count = 1
	}
	return firstSeen, lastSeen, count
}

// eventObject renders OBJECT as lower-case kind/name, e.g. "pod/web-1".
func eventObject(ref corev1.ObjectReference) string {
	kind := strings.ToLower(ref.Kind)
	if ref.Name == "" {
		return kind
	}
	return kind + "/" + ref.Name
}

// eventSource renders SOURCE as "component, host" ("kubelet, minilab-worker"),
// falling back to the new-style reportingController/reportingInstance and
// leaving out an empty host.
func eventSource(ev *corev1.Event) string {
	component := firstNonEmpty(ev.Source.Component, ev.ReportingController)
	host := firstNonEmpty(ev.Source.Host, ev.ReportingInstance)
	if host == "" {
		return component
	}
	return component + ", " + host
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
