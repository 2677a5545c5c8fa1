package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Placeholders kube-apiserver's printers put in cells that have nothing to show.
const (
	none    = "<none>"
	unknown = "<unknown>"
	unset   = "<unset>"
)

// maxListed is how many entries list-like cells (ENDPOINTS, PORTS) show before
// summarising the rest as " + N more...".
const maxListed = 3

// age renders the time elapsed since t the way kubectl users know it ("5m",
// "3h5m", "400d"); a missing timestamp prints as <unknown>.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return unknown
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// microAge is age for the MicroTime fields of events (eventTime, series).
func microAge(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return unknown
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// orNone replaces an empty cell with <none>.
func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// orUnknown replaces an empty cell with <unknown>.
func orUnknown(s string) string {
	if s == "" {
		return unknown
	}
	return s
}

// joinAtMost joins the first maxListed items with commas and reports how many
// were left out, e.g. "a:80,b:80,c:80 + 2 more...".
func joinAtMost(items []string) string {
	if len(items) <= maxListed {
		return strings.Join(items, ",")
	}
	return fmt.Sprintf("%s + %d more...", strings.Join(items[:maxListed], ","), len(items)-maxListed)
}

// containerCells lays out a pod template's containers for the wide CONTAINERS
// and IMAGES columns: names and images, comma-joined in spec order.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	i := make([]string, len(containers))
	for k, c := range containers {
		n[k], i[k] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(i, ",")
}
