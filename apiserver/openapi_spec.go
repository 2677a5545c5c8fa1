package apiserver

import (
	"net/http"
	"reflect"
	"strings"
	"sync"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/cached"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	kutil "k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/minilab/minilab/apiserver/openapi"
	"github.com/minilab/minilab/apiserver/registry"
)

// The OpenAPI documents are built the way kube-apiserver builds its own:
// kube-openapi's builders walk a list of routes (one per operation of every
// resource) and pull in the schemas that openapi-gen generated from the
// k8s.io/api types. kubectl needs them for three things:
//   - `kubectl apply`/`create -f` ask whether a kind's PATCH operation takes
//     the fieldValidation parameter; if so they leave validation to the server,
//     otherwise they validate against the schema (v2 for kubectl 1.27/1.28, v3
//     from 1.29);
//   - client-side apply computes strategic merge patches from the schemas'
//     x-kubernetes-patch-merge-key / -strategy extensions;
//   - `kubectl explain` reads the v3 schemas and their descriptions.
// The same schemas drive server-side apply (see apply.go).

// openAPIDocs builds and caches the OpenAPI v2 and v3 documents.
type openAPIDocs struct {
	reg *registry.Registry

	once sync.Once
	v2   *spec.Swagger
	v3   map[schema.GroupVersion]*spec3.OpenAPI
	err  error

	schemasOnce sync.Once
	schemas     map[string]*spec.Schema
	schemasErr  error
}

func (d *openAPIDocs) build() {
	d.once.Do(func() {
		d.v2, d.err = builder.BuildOpenAPISpecFromRoutes(d.routeContainers(nil), &common.Config{
			Info:                           &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: kubernetesVersion().GitVersion}},
			GetDefinitions:                 openapi.GetOpenAPIDefinitions,
			GetDefinitionName:              definitionName,
			GetOperationIDAndTagsFromRoute: operationIDAndTags,
			CommonResponses: map[int]spec.Response{
				http.StatusUnauthorized: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}},
			},
		})
		if d.err != nil {
			return
		}
		d.v3 = map[schema.GroupVersion]*spec3.OpenAPI{}
		for _, gv := range d.reg.GroupVersions() {
			gv := gv
			doc, err := builder3.BuildOpenAPISpecFromRoutes(d.routeContainers(&gv), &common.OpenAPIV3Config{
				Info:                           &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: kubernetesVersion().GitVersion}},
				GetDefinitions:                 openapi.GetOpenAPIDefinitions,
				GetDefinitionName:              definitionName,
				GetOperationIDAndTagsFromRoute: operationIDAndTags,
				CommonResponses: map[int]*spec3.Response{
					http.StatusUnauthorized: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}},
				},
			})
			if err != nil {
				d.err = err
				return
			}
			d.v3[gv] = doc
		}
	})
}

// register serves /openapi/v2 (JSON or protobuf, with ETags) and the
// /openapi/v3 index plus one document per group version, built lazily on the
// first request so that `minilab up` does not wait for them.
func (d *openAPIDocs) register(mux *http.ServeMux) {
	v2 := handler.NewOpenAPIServiceLazy(cached.Func(func() (*spec.Swagger, string, error) {
		d.build()
		return d.v2, "v2", d.err
	}))
	v2.RegisterOpenAPIVersionedService("/openapi/v2", mux)

	v3 := handler3.NewOpenAPIService()
	for _, gv := range d.reg.GroupVersions() {
		gv := gv
		v3.UpdateGroupVersionLazy(openAPIGroupPath(gv), cached.Func(func() (*spec3.OpenAPI, string, error) {
			d.build()
			if d.err != nil {
				return nil, "", d.err
			}
			return d.v3[gv], "v3", nil
		}))
	}
	v3.RegisterOpenAPIV3VersionedService("/openapi/v3", prefixMux{mux})
}

// Schemas returns the definitions of the served kinds (and of everything
// they refer to) by name, for server-side apply and managedFields. It skips
// the paths, so it is quicker than the whole document: the first write
// after start-up waits for it.
func (d *openAPIDocs) Schemas() (map[string]*spec.Schema, error) {
	d.schemasOnce.Do(func() {
		names := []string{"k8s.io/api/autoscaling/v1.Scale"}
		for _, res := range d.reg.All() {
			t := reflect.TypeOf(res.New()).Elem()
			names = append(names, t.PkgPath()+"."+t.Name())
		}
		swagger, err := builder.BuildOpenAPIDefinitionsForResources(&common.Config{
			GetDefinitions:    openapi.GetOpenAPIDefinitions,
			GetDefinitionName: definitionName,
		}, names...)
		if err != nil {
			d.schemasErr = err
			return
		}
		d.schemas = map[string]*spec.Schema{}
		for name, s := range swagger.Definitions {
			s := s
			d.schemas[name] = &s
		}
	})
	return d.schemas, d.schemasErr
}

func openAPIGroupPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

type prefixMux struct{ *http.ServeMux }

func (m prefixMux) HandlePrefix(path string, h http.Handler) {
	m.ServeMux.Handle(strings.TrimSuffix(path, "/")+"/", h)
}

// definitionName turns a Go type name into the name kube-apiserver uses in
// its documents ("k8s.io/api/core/v1.Service" → "io.k8s.api.core.v1.Service")
// and marks the types that are API kinds with x-kubernetes-group-version-kind,
// which is how kubectl finds the schema of a kind.
func definitionName(name string) (string, spec.Extensions) {
	friendly := kutil.ToRESTFriendlyName(name)
	gvks := kindsOfGoType()[name]
	if len(gvks) == 0 {
		return friendly, nil
	}
	var list []interface{}
	for _, gvk := range gvks {
		list = append(list, map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind})
	}
	return friendly, spec.Extensions{"x-kubernetes-group-version-kind": list}
}

var (
	goTypeKindsOnce sync.Once
	goTypeKinds     map[string][]schema.GroupVersionKind
)

// kindsOfGoType maps Go type names to the kinds registered for them in
// client-go's scheme. Types shared by every group (Status, DeleteOptions,
// WatchEvent) are listed once, under the core group, as in the real server.
func kindsOfGoType() map[string][]schema.GroupVersionKind {
	goTypeKindsOnce.Do(func() {
		goTypeKinds = map[string][]schema.GroupVersionKind{}
		served := map[string]bool{"": true, "apps": true, "discovery.k8s.io": true, "autoscaling": true}
		for gvk, t := range scheme.Scheme.AllKnownTypes() {
			if !served[gvk.Group] || gvk.Version == runtimeInternalVersion || strings.HasSuffix(gvk.Kind, "Options") && gvk.Kind != "DeleteOptions" {
				continue
			}
			name := t.PkgPath() + "." + t.Name()
			if strings.HasPrefix(t.PkgPath(), "k8s.io/apimachinery/pkg/apis/meta/") && gvk.Group != "" {
				continue
			}
			if gvk.Version != "v1" {
				continue // minilab serves only v1 of each group
			}
			goTypeKinds[name] = append(goTypeKinds[name], gvk)
		}
	})
	return goTypeKinds
}

const runtimeInternalVersion = "__internal"

// operationIDAndTags names operations as kube-apiserver does
// ("listCoreV1NamespacedService", tag "core_v1").
func operationIDAndTags(r common.Route) (string, []string, error) {
	rt, ok := r.(*route)
	if !ok {
		return r.OperationName(), nil, nil
	}
	return r.OperationName(), []string{rt.tag}, nil
}

// routeContainer is one group version's routes; gv nil means all of them.
func (d *openAPIDocs) routeContainers(only *schema.GroupVersion) []common.RouteContainer {
	var out []common.RouteContainer
	for _, gv := range d.reg.GroupVersions() {
		if only != nil && gv != *only {
			continue
		}
		c := &routes{root: "/" + openAPIGroupPath(gv)}
		for _, res := range d.reg.InGroupVersion(gv) {
			c.list = append(c.list, resourceRoutes(res)...)
		}
		out = append(out, c)
	}
	return out
}

type routes struct {
	root string
	list []common.Route
}

func (c *routes) RootPath() string                   { return c.root }
func (c *routes) PathParameters() []common.Parameter { return nil }
func (c *routes) Routes() []common.Route             { return c.list }

// resourceRoutes lists the operations of one resource with the names,
// parameters and extensions kube-apiserver gives them.
func resourceRoutes(res *registry.Resource) []common.Route {
	gv := res.GroupVersion()
	groupName := "Core"
	tag := "core_" + gv.Version
	if gv.Group != "" {
		groupName = camel(strings.Split(gv.Group, ".")[0])
		tag = strings.ReplaceAll(strings.Split(gv.Group, ".")[0], "-", "_") + "_" + gv.Version
	}
	opPrefix := groupName + camel(gv.Version)
	root := "/" + openAPIGroupPath(gv)
	collection := root + "/" + res.Resource
	scope := ""
	params := []common.Parameter{}
	if res.Namespaced {
		collection = root + "/namespaces/{namespace}/" + res.Resource
		scope = "Namespaced"
		params = append(params, pathParam("namespace", "object name and auth scope, such as for teams and projects"))
	}
	item := collection + "/{name}"
	nameParam := pathParam("name", "name of the "+res.Kind)
	obj := res.New()
	list := res.NewList()
	gvk := map[string]interface{}{"group": gv.Group, "version": gv.Version, "kind": res.Kind}
	mk := func(method, path, verb, action string, params []common.Parameter, req, resp interface{}, consumes []string, kind map[string]interface{}) *route {
		return &route{method: method, path: path, op: verb, tag: tag, params: params, req: req, resp: resp,
			consumes: consumes, meta: map[string]interface{}{"x-kubernetes-action": action, "x-kubernetes-group-version-kind": kind}}
	}
	writeParams := []common.Parameter{queryParam("dryRun", "string"), queryParam("fieldManager", "string"), queryParam("fieldValidation", "string")}
	listParams := []common.Parameter{
		queryParam("allowWatchBookmarks", "boolean"), queryParam("continue", "string"), queryParam("fieldSelector", "string"),
		queryParam("labelSelector", "string"), queryParam("limit", "integer"), queryParam("resourceVersion", "string"),
		queryParam("resourceVersionMatch", "string"), queryParam("sendInitialEvents", "boolean"), queryParam("timeoutSeconds", "integer"),
		queryParam("watch", "boolean"),
	}
	json := []string{"*/*"}
	patchTypes := []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
	body := bodyParam()
	with := func(base []common.Parameter, more ...common.Parameter) []common.Parameter {
		return append(append(append([]common.Parameter(nil), base...), more...), queryParam("pretty", "string"))
	}
	out := []common.Route{
		mk("GET", collection, "list"+opPrefix+scope+res.Kind, "list", with(params, listParams...), nil, list, json, gvk),
		mk("POST", collection, "create"+opPrefix+scope+res.Kind, "post", with(params, append([]common.Parameter{body}, writeParams...)...), obj, obj, json, gvk),
		mk("DELETE", collection, "deleteCollection"+opPrefix+scope+res.Kind, "deletecollection", with(params, append([]common.Parameter{body}, listParams...)...), &metav1.DeleteOptions{}, &metav1.Status{}, json, gvk),
		mk("GET", item, "read"+opPrefix+scope+res.Kind, "get", with(append(params, nameParam)), nil, obj, json, gvk),
		mk("PUT", item, "replace"+opPrefix+scope+res.Kind, "put", with(append(params, nameParam), append([]common.Parameter{body}, writeParams...)...), obj, obj, json, gvk),
		mk("PATCH", item, "patch"+opPrefix+scope+res.Kind, "patch", with(append(params, nameParam), append([]common.Parameter{body, queryParam("force", "boolean")}, writeParams...)...), &metav1.Patch{}, obj, patchTypes, gvk),
		mk("DELETE", item, "delete"+opPrefix+scope+res.Kind, "delete", with(append(params, nameParam), body, queryParam("dryRun", "string"), queryParam("gracePeriodSeconds", "integer"), queryParam("propagationPolicy", "string")), &metav1.DeleteOptions{}, &metav1.Status{}, json, gvk),
	}
	if res.Namespaced {
		out = append(out, mk("GET", root+"/"+res.Resource, "list"+opPrefix+res.Kind+"ForAllNamespaces", "list", with(nil, listParams...), nil, list, json, gvk))
	}
	for _, sub := range res.Subresources {
		subObj, subKind := interface{}(obj), gvk
		switch sub {
		case "scale":
			subObj = &autoscalingv1.Scale{}
			subKind = map[string]interface{}{"group": "autoscaling", "version": "v1", "kind": "Scale"}
		case "status":
		default:
			continue
		}
		path := item + "/" + sub
		suffix := camel(sub)
		out = append(out,
			mk("GET", path, "read"+opPrefix+scope+res.Kind+suffix, "get", with(append(params, nameParam)), nil, subObj, json, subKind),
			mk("PUT", path, "replace"+opPrefix+scope+res.Kind+suffix, "put", with(append(params, nameParam), append([]common.Parameter{body}, writeParams...)...), subObj, subObj, json, subKind),
			mk("PATCH", path, "patch"+opPrefix+scope+res.Kind+suffix, "patch", with(append(params, nameParam), append([]common.Parameter{body, queryParam("force", "boolean")}, writeParams...)...), &metav1.Patch{}, subObj, patchTypes, subKind),
		)
	}
	return out
}

func camel(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// route implements kube-openapi's common.Route.
type route struct {
	method, path, op, tag string
	params                []common.Parameter
	req, resp             interface{}
	consumes              []string
	meta                  map[string]interface{}
}

func (r *route) Method() string                    { return r.method }
func (r *route) Path() string                      { return r.path }
func (r *route) OperationName() string             { return r.op }
func (r *route) Parameters() []common.Parameter    { return r.params }
func (r *route) Description() string               { return r.op }
func (r *route) Consumes() []string                { return r.consumes }
func (r *route) Produces() []string                { return []string{"application/json", "application/yaml"} }
func (r *route) Metadata() map[string]interface{}  { return r.meta }
func (r *route) RequestPayloadSample() interface{} { return r.req }
func (r *route) ResponsePayloadSample() interface{} {
	return r.resp
}
func (r *route) StatusCodeResponses() []common.StatusCodeResponse {
	if r.resp == nil {
		return nil
	}
	out := []common.StatusCodeResponse{&response{http.StatusOK, "OK", r.resp}}
	switch r.method {
	case "POST":
		out = append(out, &response{http.StatusCreated, "Created", r.resp}, &response{http.StatusAccepted, "Accepted", r.resp})
	case "PUT", "PATCH":
		out = append(out, &response{http.StatusCreated, "Created", r.resp})
	}
	return out
}

type response struct {
	code  int
	msg   string
	model interface{}
}

func (r *response) Code() int            { return r.code }
func (r *response) Message() string      { return r.msg }
func (r *response) Model() interface{}   { return r.model }
func (p *parameter) Name() string        { return p.name }
func (p *parameter) Description() string { return p.desc }
func (p *parameter) Required() bool      { return p.kind == common.PathParameterKind }
func (p *parameter) Kind() common.ParameterKind {
	return p.kind
}
func (p *parameter) DataType() string    { return p.dataType }
func (p *parameter) AllowMultiple() bool { return false }

type parameter struct {
	name, desc, dataType string
	kind                 common.ParameterKind
}

func pathParam(name, desc string) common.Parameter {
	return &parameter{name: name, desc: desc, dataType: "string", kind: common.PathParameterKind}
}

func queryParam(name, dataType string) common.Parameter {
	return &parameter{name: name, desc: queryParamDescriptions[name], dataType: dataType, kind: common.QueryParameterKind}
}

func bodyParam() common.Parameter {
	return &parameter{name: "body", dataType: "object", kind: common.BodyParameterKind}
}

var queryParamDescriptions = map[string]string{
	"fieldValidation": "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore, Warn (the default) and Strict.",
	"fieldManager":    "fieldManager is a name associated with the actor or entity that is making these changes.",
	"dryRun":          "When present, indicates that modifications should not be persisted. Valid value: All.",
	"force":           "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people.",
	"labelSelector":   "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
	"fieldSelector":   "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
	"limit":           "limit is a maximum number of responses to return for a list call.",
	"continue":        "The continue option should be set when retrieving more results from the server.",
	"resourceVersion": "resourceVersion sets a constraint on what resource versions a request may be served from.",
	"watch":           "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
	"timeoutSeconds":  "Timeout for the list/watch call.",
	"pretty":          "If 'true', then the output is pretty printed.",
}
