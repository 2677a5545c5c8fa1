package printers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Printer describes one resource's Table: its column definitions and how to
// compute a row's cells.
//
// kube-apiserver always generates the "wide" form of a Table and leaves it to
// kubectl to hide the priority-1 columns unless -o wide is given, so Row always
// returns one cell per column, wide columns included.
type Printer struct {
	Columns []metav1.TableColumnDefinition
	Row     func(obj runtime.Object, now time.Time) ([]interface{}, error)
}

// byResource maps each resource minilab serves to the printer kube-apiserver
// registers for it in pkg/printers/internalversion.
var byResource = map[schema.GroupResource]Printer{
	{Group: "", Resource: "pods"}:                           podPrinter,
	{Group: "", Resource: "services"}:                       servicePrinter,
	{Group: "", Resource: "nodes"}:                          nodePrinter,
	{Group: "", Resource: "namespaces"}:                     namespacePrinter,
	{Group: "", Resource: "endpoints"}:                      endpointsPrinter,
	{Group: "", Resource: "events"}:                         eventPrinter,
	{Group: "", Resource: "configmaps"}:                     configMapPrinter,
	{Group: "", Resource: "serviceaccounts"}:                serviceAccountPrinter,
	{Group: "discovery.k8s.io", Resource: "endpointslices"}: endpointSlicePrinter,
	{Group: "apps", Resource: "deployments"}:                deploymentPrinter,
	{Group: "apps", Resource: "replicasets"}:                replicaSetPrinter,
	{Group: "apps", Resource: "statefulsets"}:               statefulSetPrinter,
	{Group: "apps", Resource: "daemonsets"}:                 daemonSetPrinter,
}

// ForResource returns the printer for a group/resource served by minilab,
// e.g. {Group:"", Resource:"services"} or {Group:"apps", Resource:"deployments"}.
func ForResource(gr schema.GroupResource) (Printer, bool) {
	p, ok := byResource[gr]
	if !ok {
		return Printer{}, false
	}
	// Hand out a copy of the column slice so a caller cannot change the
	// definitions every other request shares.
	p.Columns = append([]metav1.TableColumnDefinition(nil), p.Columns...)
	return p, true
}

// Default is the table for resources without a specific printer. It mirrors
// kube-apiserver's default table convertor (k8s.io/apiserver
// pkg/registry/rest/table.go): a Name column and a "Created At" column of type
// date holding the creation time in RFC 3339, UTC. That is why
// `kubectl get clusterroles` prints CREATED AT instead of AGE.
func Default() Printer {
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			{Name: "Created At", Type: "date", Description: objectMetaDoc["creationTimestamp"]},
		},
		Row: defaultCells,
	}
}

func defaultCells(obj runtime.Object, _ time.Time) ([]interface{}, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("printers: %T has no object metadata to print: %w", obj, err)
	}
	return []interface{}{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}, nil
}

// rowOf adapts a typed cell function to Printer.Row, rejecting objects of the
// wrong type with an error instead of a panic.
func rowOf[T runtime.Object](cells func(obj T, now time.Time) []interface{}) func(runtime.Object, time.Time) ([]interface{}, error) {
	return func(obj runtime.Object, now time.Time) ([]interface{}, error) {
		typed, ok := obj.(T)
		if !ok {
			var want T
			return nil, fmt.Errorf("printers: cannot print %T, want %T", obj, want)
		}
		return cells(typed, now), nil
	}
}
