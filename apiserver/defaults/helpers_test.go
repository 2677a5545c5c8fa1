package defaults

import (
	"encoding/json"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// decodeYAML reads a manifest into a typed object the way the API server would see it on the
// wire (YAML -> JSON -> Go types).
func decodeYAML(t *testing.T, manifest string, into any) {
	t.Helper()
	if err := json.Unmarshal(yamlToJSON(t, manifest), into); err != nil {
		t.Fatalf("decode manifest: %v", err)
	}
}

func yamlToJSON(t *testing.T, text string) []byte {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("bad YAML in test: %v", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("YAML to JSON: %v", err)
	}
	return out
}

// generic returns JSON as plain maps/slices/float64, so two documents compare field by field
// whatever Go types or key order produced them.
func generic(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return v
}

func toGeneric(t *testing.T, obj any) any {
	t.Helper()
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return generic(t, data)
}

// field picks a top-level field (such as "spec") out of an object's JSON.
func field(t *testing.T, obj any, name string) any {
	t.Helper()
	m, ok := toGeneric(t, obj).(map[string]any)
	if !ok {
		t.Fatalf("%T does not marshal to a JSON object", obj)
	}
	return m[name]
}

// assertYAML compares got (any JSON-able value) with the expected YAML document.
func assertYAML(t *testing.T, got any, wantYAML string) {
	t.Helper()
	want := generic(t, yamlToJSON(t, wantYAML))
	if g := toGeneric(t, got); !reflect.DeepEqual(g, want) {
		t.Errorf("mismatch\n--- got ---\n%s\n--- want ---\n%s", dumpYAML(t, g), dumpYAML(t, want))
	}
}

// assertSameJSON checks that two objects serialise identically.
func assertSameJSON(t *testing.T, got, want any) {
	t.Helper()
	g, w := toGeneric(t, got), toGeneric(t, want)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("objects differ\n--- got ---\n%s\n--- want ---\n%s", dumpYAML(t, g), dumpYAML(t, w))
	}
}

func dumpYAML(t *testing.T, v any) string {
	t.Helper()
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatalf("yaml marshal: %v", err)
	}
	return string(out)
}
