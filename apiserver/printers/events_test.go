package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEventRows(t *testing.T) {
	podRef := corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1", FieldPath: "spec.containers{app}"}

	// Old-style event as the kubelet records it.
	kubelet := &corev1.Event{
		ObjectMeta:     objectMeta("web-1.17d2c3a1b2c3d4e5", time.Hour),
		InvolvedObject: podRef,
		Reason:         "BackOff",
		Message:        "Back-off restarting failed container app in pod web-1_default\n",
		Source:         corev1.EventSource{Component: "kubelet", Host: "minilab-worker"},
		FirstTimestamp: ago(time.Hour),
		LastTimestamp:  ago(2 * time.Minute),
		Count:          12,
		Type:           corev1.EventTypeWarning,
	}

	// New-style single event (events.k8s.io) as the scheduler records it.
	scheduled := &corev1.Event{
		ObjectMeta:          objectMeta("web-1.17d2c3a100000000", 5*time.Minute),
		InvolvedObject:      corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1"},
		Reason:              "Scheduled",
		Message:             "Successfully assigned default/web-1 to minilab-worker",
		EventTime:           microAgo(5 * time.Minute),
		ReportingController: "default-scheduler",
		ReportingInstance:   "default-scheduler-minilab-control-plane",
		Type:                corev1.EventTypeNormal,
	}

	// New-style repeated event: the series carries the last time and count.
	series := scheduled.DeepCopy()
	series.Reason = "FailedScheduling"
	series.Type = corev1.EventTypeWarning
	series.Series = &corev1.EventSeries{Count: 4, LastObservedTime: microAgo(30 * time.Second)}
	series.ReportingInstance = ""

	// Nothing timed at all.
	untimed := &corev1.Event{
		ObjectMeta:     objectMeta("minilab-worker.1", time.Minute),
		InvolvedObject: corev1.ObjectReference{Kind: "Node"},
		Reason:         "Starting",
		Source:         corev1.EventSource{Component: "kube-proxy"},
		Type:           corev1.EventTypeNormal,
	}

	tests := []struct {
		name  string
		event *corev1.Event
		want  []interface{}
	}{
		// Last Seen, Type, Reason, Object, Subobject, Source, Message, First Seen, Count, Name
		{"kubelet event", kubelet, []interface{}{"2m", "Warning", "BackOff", "pod/web-1", "spec.containers{app}", "kubelet, minilab-worker",
			"Back-off restarting failed container app in pod web-1_default", "60m", int64(12), "web-1.17d2c3a1b2c3d4e5"}},
		{"new-style single event", scheduled, []interface{}{"5m", "Normal", "Scheduled", "pod/web-1", "", "default-scheduler, default-scheduler-minilab-control-plane",
			"Successfully assigned default/web-1 to minilab-worker", "5m", int64(1), "web-1.17d2c3a100000000"}},
		{"new-style series", series, []interface{}{"30s", "Warning", "FailedScheduling", "pod/web-1", "", "default-scheduler",
			"Successfully assigned default/web-1 to minilab-worker", "5m", int64(4), "web-1.17d2c3a100000000"}},
		{"no timestamps, object without name", untimed, []interface{}{"<unknown>", "Normal", "Starting", "node", "", "kube-proxy",
			"", "<unknown>", int64(1), "minilab-worker.1"}},
	}
	p := mustPrinter(t, "", "events")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectRow(t, p, tt.event, tt.want...) })
	}
}

func TestEventLastSeen(t *testing.T) {
	tests := []struct {
		name                string
		first, last         metav1.Time
		eventTime           metav1.MicroTime
		wantLast, wantFirst string
	}{
		{"last timestamp wins", ago(time.Hour), ago(3 * time.Minute), metav1.MicroTime{}, "3m", "60m"},
		{"no last timestamp falls back to first", ago(10 * time.Minute), metav1.Time{}, metav1.MicroTime{}, "10m", "10m"},
		{"no first timestamp uses event time", metav1.Time{}, metav1.Time{}, microAgo(45 * time.Second), "45s", "45s"},
		{"last timestamp with event time only", metav1.Time{}, ago(20 * time.Second), microAgo(2 * time.Minute), "20s", "2m"},
	}
	p := mustPrinter(t, "", "events")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := &corev1.Event{ObjectMeta: objectMeta("e", time.Hour), FirstTimestamp: tt.first, LastTimestamp: tt.last, EventTime: tt.eventTime, Count: 2}
			expectCells(t, p, ev, map[string]interface{}{"Last Seen": tt.wantLast, "First Seen": tt.wantFirst, "Count": int64(2)})
		})
	}
}

func TestEventSource(t *testing.T) {
	tests := []struct {
		name string
		ev   corev1.Event
		want string
	}{
		{"component and host", corev1.Event{Source: corev1.EventSource{Component: "kubelet", Host: "minilab-worker"}}, "kubelet, minilab-worker"},
		{"component only", corev1.Event{Source: corev1.EventSource{Component: "deployment-controller"}}, "deployment-controller"},
		{"reporting fields fill the gaps", corev1.Event{Source: corev1.EventSource{Component: "kubelet"}, ReportingInstance: "minilab-worker2"}, "kubelet, minilab-worker2"},
		{"source wins over reporting fields", corev1.Event{Source: corev1.EventSource{Component: "kubelet"}, ReportingController: "other"}, "kubelet"},
		{"nothing", corev1.Event{}, ""},
	}
	p := mustPrinter(t, "", "events")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectCells(t, p, &tt.ev, map[string]interface{}{"Source": tt.want})
		})
	}
}
