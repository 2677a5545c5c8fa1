package apiserver

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/managedfields"

	"github.com/minilab/minilab/apiserver/registry"
)

// The OpenAPI documents must carry what kubectl looks for: each kind's
// schema marked with x-kubernetes-group-version-kind, and a PATCH
// operation per kind that declares the fieldValidation parameter (so that
// kubectl leaves validation to the server).
func TestOpenAPIDocuments(t *testing.T) {
	reg := registry.New()
	d := &openAPIDocs{reg: reg}
	d.build()
	if d.err != nil {
		t.Fatal(d.err)
	}
	for _, res := range reg.All() {
		name := "io.k8s.api." + map[string]string{"": "core", "apps": "apps", "discovery.k8s.io": "discovery"}[res.Group] + ".v1." + res.Kind
		def, ok := d.v2.Definitions[name]
		if !ok {
			t.Errorf("no definition %s", name)
			continue
		}
		gvks, _ := def.Extensions["x-kubernetes-group-version-kind"].([]interface{})
		if len(gvks) != 1 {
			t.Errorf("%s: x-kubernetes-group-version-kind = %v", name, def.Extensions["x-kubernetes-group-version-kind"])
		}
		patched := false
		for path, item := range d.v2.Paths.Paths {
			if item.Patch == nil {
				continue
			}
			kind, _ := item.Patch.Extensions["x-kubernetes-group-version-kind"].(map[string]interface{})
			if kind["kind"] != res.Kind || kind["group"] != res.Group {
				continue
			}
			for _, p := range item.Patch.Parameters {
				if p.Name == "fieldValidation" && p.In == "query" {
					patched = true
				}
			}
			_ = path
		}
		if !patched {
			t.Errorf("%s: no PATCH operation with a fieldValidation parameter", res.Kind)
		}
		doc := d.v3[res.GroupVersion()]
		if doc == nil || doc.Components.Schemas[name] == nil {
			t.Errorf("%s missing from the OpenAPI v3 document of %s", name, res.GroupVersion())
		}
	}
	schemas, err := d.Schemas()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := managedfields.NewTypeConverter(schemas, false); err != nil {
		t.Fatalf("server-side apply cannot use the schemas: %v", err)
	}
}
