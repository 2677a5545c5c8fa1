package printers

import (
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// now is the fixed "current time" of every test.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// ago is a timestamp d before now.
func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func microAgo(d time.Duration) metav1.MicroTime { return metav1.NewMicroTime(now.Add(-d)) }

func objectMeta(name string, created time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(created)}
}

func ptr[T any](v T) *T { return &v }

// mustPrinter returns the registered printer for a resource.
func mustPrinter(t *testing.T, group, resource string) Printer {
	t.Helper()
	p, ok := ForResource(schema.GroupResource{Group: group, Resource: resource})
	if !ok {
		t.Fatalf("no printer for %s.%s", resource, group)
	}
	return p
}

// row prints obj and checks that there is exactly one cell per column.
func row(t *testing.T, p Printer, obj runtime.Object) []interface{} {
	t.Helper()
	cells, err := p.Row(obj, now)
	if err != nil {
		t.Fatalf("Row(%T): %v", obj, err)
	}
	if len(cells) != len(p.Columns) {
		t.Fatalf("Row(%T) gave %d cells for %d columns: %v", obj, len(cells), len(p.Columns), cells)
	}
	return cells
}

// cellsByColumn prints obj and indexes the cells by column name.
func cellsByColumn(t *testing.T, p Printer, obj runtime.Object) map[string]interface{} {
	t.Helper()
	cells := row(t, p, obj)
	byName := map[string]interface{}{}
	for i, c := range p.Columns {
		byName[c.Name] = cells[i]
	}
	return byName
}

// expectCells checks the named cells of obj's row (type included: "3" is not 3).
func expectCells(t *testing.T, p Printer, obj runtime.Object, want map[string]interface{}) {
	t.Helper()
	got := cellsByColumn(t, p, obj)
	for col, w := range want {
		g, ok := got[col]
		if !ok {
			t.Errorf("no column %q", col)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %#v (%T), want %#v (%T)", col, g, g, w, w)
		}
	}
}

// expectRow checks a whole row.
func expectRow(t *testing.T, p Printer, obj runtime.Object, want ...interface{}) {
	t.Helper()
	if got := row(t, p, obj); !reflect.DeepEqual(got, want) {
		t.Errorf("row =\n  %#v\nwant\n  %#v", got, want)
	}
}

// column is a compact expected column: name and whether it is wide.
type column struct {
	name string
	wide bool
}

func TestColumns(t *testing.T) {
	n, w := func(s string) column { return column{s, false} }, func(s string) column { return column{s, true} }
	tests := []struct {
		group, resource string
		want            []column
	}{
		{"", "pods", []column{n("Name"), n("Ready"), n("Status"), n("Restarts"), n("Age"), w("IP"), w("Node"), w("Nominated Node"), w("Readiness Gates")}},
		{"", "services", []column{n("Name"), n("Type"), n("Cluster-IP"), n("External-IP"), n("Port(s)"), n("Age"), w("Selector")}},
		{"", "nodes", []column{n("Name"), n("Status"), n("Roles"), n("Age"), n("Version"), w("Internal-IP"), w("External-IP"), w("OS-Image"), w("Kernel-Version"), w("Container-Runtime")}},
		{"", "namespaces", []column{n("Name"), n("Status"), n("Age")}},
		{"", "endpoints", []column{n("Name"), n("Endpoints"), n("Age")}},
		{"", "events", []column{n("Last Seen"), n("Type"), n("Reason"), n("Object"), w("Subobject"), w("Source"), n("Message"), w("First Seen"), w("Count"), w("Name")}},
		{"", "configmaps", []column{n("Name"), n("Data"), n("Age")}},
		{"", "serviceaccounts", []column{n("Name"), n("Secrets"), n("Age")}},
		{"discovery.k8s.io", "endpointslices", []column{n("Name"), n("AddressType"), n("Ports"), n("Endpoints"), n("Age")}},
		{"apps", "deployments", []column{n("Name"), n("Ready"), n("Up-to-date"), n("Available"), n("Age"), w("Containers"), w("Images"), w("Selector")}},
		{"apps", "replicasets", []column{n("Name"), n("Desired"), n("Current"), n("Ready"), n("Age"), w("Containers"), w("Images"), w("Selector")}},
		{"apps", "statefulsets", []column{n("Name"), n("Ready"), n("Age"), w("Containers"), w("Images")}},
		{"apps", "daemonsets", []column{n("Name"), n("Desired"), n("Current"), n("Ready"), n("Up-to-date"), n("Available"), n("Node Selector"), n("Age"), w("Containers"), w("Images"), w("Selector")}},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			p := mustPrinter(t, tt.group, tt.resource)
			var got []column
			for _, c := range p.Columns {
				got = append(got, column{c.Name, c.Priority == 1})
				if c.Priority != 0 && c.Priority != 1 {
					t.Errorf("column %q has priority %d", c.Name, c.Priority)
				}
				// Every upstream column has a description; an empty one means
				// a mistyped swagger doc key.
				if c.Description == "" {
					t.Errorf("column %q has no description", c.Name)
				}
				if (c.Name == "Name") != (c.Format == "name") {
					t.Errorf("column %q has format %q", c.Name, c.Format)
				}
				if c.Type != "string" && c.Type != "integer" {
					t.Errorf("column %q has type %q", c.Name, c.Type)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("columns =\n  %v\nwant\n  %v", got, tt.want)
			}
		})
	}
}

func TestColumnTypesAndDescriptions(t *testing.T) {
	tests := []struct {
		group, resource, column, typ, descPrefix string
	}{
		{"", "pods", "Restarts", "string", "The number of times the containers in this pod have been restarted and when"},
		{"", "pods", "Age", "string", "CreationTimestamp is a timestamp"},
		{"", "pods", "Name", "string", "Name must be unique within a namespace."},
		{"", "nodes", "Status", "string", "The status of the node"},
		{"", "namespaces", "Status", "string", "The status of the namespace"},
		{"apps", "replicasets", "Desired", "integer", "Replicas is the number of desired pods."},
		{"apps", "replicasets", "Selector", "string", "Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted"},
		{"apps", "deployments", "Ready", "string", "Number of the pod with ready state"},
		{"apps", "deployments", "Up-to-date", "string", "Total number of non-terminating pods targeted by this deployment that have the desired template spec."},
		{"apps", "daemonsets", "Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"},
		{"apps", "statefulsets", "Containers", "string", "Names of each container in the template."},
		{"discovery.k8s.io", "endpointslices", "AddressType", "string", "addressType specifies the type of address carried by this EndpointSlice."},
		{"", "events", "Count", "string", "The number of times this event has occurred."},
	}
	for _, tt := range tests {
		p := mustPrinter(t, tt.group, tt.resource)
		found := false
		for _, c := range p.Columns {
			if c.Name != tt.column {
				continue
			}
			found = true
			if c.Type != tt.typ {
				t.Errorf("%s %s: type %q, want %q", tt.resource, tt.column, c.Type, tt.typ)
			}
			if !strings.HasPrefix(c.Description, tt.descPrefix) {
				t.Errorf("%s %s: description %q, want prefix %q", tt.resource, tt.column, c.Description, tt.descPrefix)
			}
		}
		if !found {
			t.Errorf("%s: no column %q", tt.resource, tt.column)
		}
	}
}

// TestEveryRowMatchesColumns prints a minimal and a busy object of every
// resource and checks the cell count against the column count.
func TestEveryRowMatchesColumns(t *testing.T) {
	objects := map[schema.GroupResource][]runtime.Object{
		{Resource: "pods"}: {&corev1.Pod{}, &corev1.Pod{
			ObjectMeta: objectMeta("p", time.Hour),
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}, ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "x"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.2"},
		}},
		{Resource: "services"}:                                  {&corev1.Service{}, &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}}}},
		{Resource: "nodes"}:                                     {&corev1.Node{}},
		{Resource: "namespaces"}:                                {&corev1.Namespace{}},
		{Resource: "endpoints"}:                                 {&corev1.Endpoints{}},
		{Resource: "events"}:                                    {&corev1.Event{}, &corev1.Event{Series: &corev1.EventSeries{Count: 2}}},
		{Resource: "configmaps"}:                                {&corev1.ConfigMap{}},
		{Resource: "serviceaccounts"}:                           {&corev1.ServiceAccount{}},
		{Group: "discovery.k8s.io", Resource: "endpointslices"}: {&discoveryv1.EndpointSlice{}},
		{Group: "apps", Resource: "deployments"}:                {&appsv1.Deployment{}},
		{Group: "apps", Resource: "replicasets"}:                {&appsv1.ReplicaSet{}},
		{Group: "apps", Resource: "statefulsets"}:               {&appsv1.StatefulSet{}},
		{Group: "apps", Resource: "daemonsets"}:                 {&appsv1.DaemonSet{}},
	}
	if len(objects) != len(byResource) {
		t.Errorf("test covers %d resources, %d are registered", len(objects), len(byResource))
	}
	for gr, objs := range objects {
		p := mustPrinter(t, gr.Group, gr.Resource)
		for _, obj := range objs {
			row(t, p, obj)
		}
	}
	d := Default()
	row(t, d, &corev1.Secret{})
}

func TestForResource(t *testing.T) {
	if _, ok := ForResource(schema.GroupResource{Resource: "secrets"}); ok {
		t.Error("secrets: want no printer (minilab does not serve them)")
	}
	if _, ok := ForResource(schema.GroupResource{Group: "extensions", Resource: "deployments"}); ok {
		t.Error("deployments.extensions: want no printer, the group matters")
	}
	if _, ok := ForResource(schema.GroupResource{Resource: "deployments"}); ok {
		t.Error("core deployments: want no printer, the group matters")
	}

	// Callers get their own copy of the column definitions.
	p := mustPrinter(t, "", "pods")
	p.Columns[0].Name = "changed"
	if again := mustPrinter(t, "", "pods"); again.Columns[0].Name != "Name" {
		t.Errorf("changing a returned column changed the registry: %q", again.Columns[0].Name)
	}
}

func TestRowRejectsWrongType(t *testing.T) {
	p := mustPrinter(t, "", "services")
	_, err := p.Row(&corev1.Pod{}, now)
	if err == nil || !strings.Contains(err.Error(), "*v1.Pod") || !strings.Contains(err.Error(), "*v1.Service") {
		t.Errorf("Row(pod) with the service printer: err = %v, want one naming both types", err)
	}
}

func TestDefault(t *testing.T) {
	d := Default()
	want := []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
	if !reflect.DeepEqual(d.Columns, want) {
		t.Errorf("columns = %#v, want %#v", d.Columns, want)
	}
	created := metav1.NewTime(time.Date(2025, 5, 30, 8, 15, 0, 0, time.FixedZone("CEST", 2*3600)))
	expectRow(t, d, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token", CreationTimestamp: created}},
		"token", "2025-05-30T06:15:00Z")
	expectRow(t, d, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "zero"}}, "zero", "0001-01-01T00:00:00Z")

	if _, err := d.Row(&metav1.Status{}, now); err == nil {
		t.Error("Row(Status): want an error for an object without metadata")
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		created metav1.Time
		want    string
	}{
		{metav1.Time{}, "<unknown>"},
		{ago(5 * time.Second), "5s"},
		{ago(90 * time.Second), "90s"},
		{ago(2 * time.Minute), "2m"},
		{ago(3*time.Hour + 5*time.Minute), "3h5m"},
		{ago(50 * time.Hour), "2d2h"},
		{ago(400 * 24 * time.Hour), "400d"},
	}
	p := mustPrinter(t, "", "configmaps")
	for _, tt := range tests {
		expectCells(t, p, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", CreationTimestamp: tt.created}},
			map[string]interface{}{"Age": tt.want})
	}
}
