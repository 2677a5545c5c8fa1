package apiserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apidiscoveryv2beta1 "k8s.io/api/apidiscovery/v2beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/minilab/minilab/apiserver/registry"
)

// Discovery tells clients which resources exist. kubectl asks /api and /apis
// first, offering the aggregated form (one document listing every group,
// version and resource); a server that answers with the matching
// Content-Type saves it all further discovery requests. kubectl 1.27–1.29
// ask only for v2beta1, 1.30+ for v2 first. Older clients, and anything
// that asks for plain JSON, get the legacy documents and then fetch
// /api/v1 and /apis/<group>/<version> one by one.

const (
	aggregatedV2      = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
	aggregatedV2beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
)

var resourceVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

var subresourceVerbs = map[string][]string{
	"status":   {"get", "patch", "update"},
	"scale":    {"get", "patch", "update"},
	"finalize": {"update"},
	"binding":  {"create"},
	"exec":     {"create", "get"},
	"log":      {"get"},
}

// discoveryDocs are built once from the registry.
type discoveryDocs struct {
	once       sync.Once
	core, apis map[string][]byte // by aggregated version "v2", "v2beta1"
	etags      map[string]string
}

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, info requestInfo) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/api" || path == "/apis":
		if v := aggregatedVersion(r.Header.Get("Accept")); v != "" {
			s.serveAggregated(w, r, path == "/api", v)
			return
		}
		if path == "/api" {
			writeObject(w, http.StatusOK, &metav1.APIVersions{
				TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
				Versions:                   []string{"v1"},
				ServerAddressByClientCIDRs: s.serverAddresses(r),
			}, output{MediaType: mediaJSON})
			return
		}
		list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, g := range s.apiGroups() {
			list.Groups = append(list.Groups, g)
		}
		writeObject(w, http.StatusOK, list, output{MediaType: mediaJSON})
	case info.Group != "" && info.Version == "" || (strings.HasPrefix(path, "/apis/") && strings.Count(path, "/") == 2):
		name := strings.TrimPrefix(path, "/apis/")
		for _, g := range s.apiGroups() {
			if g.Name == name {
				g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
				writeObject(w, http.StatusOK, &g, output{MediaType: mediaJSON})
				return
			}
		}
		writeError(w, r, notFoundPath())
	default:
		gv := schema.GroupVersion{Group: info.Group, Version: info.Version}
		resources := s.reg.InGroupVersion(gv)
		if len(resources) == 0 {
			writeError(w, r, notFoundPath())
			return
		}
		writeObject(w, http.StatusOK, resourceList(gv, resources), output{MediaType: mediaJSON})
	}
}

// aggregatedVersion returns "v2" or "v2beta1" when the Accept header asks
// for an aggregated discovery document, preferring the first one offered.
func aggregatedVersion(accept string) string {
	for _, clause := range strings.Split(accept, ",") {
		c := strings.ReplaceAll(clause, " ", "")
		if !strings.Contains(c, "g=apidiscovery.k8s.io") || !strings.Contains(c, "as=APIGroupDiscoveryList") {
			continue
		}
		switch {
		case strings.Contains(c, "v=v2;") || strings.HasSuffix(c, "v=v2"):
			return "v2"
		case strings.Contains(c, "v=v2beta1"):
			return "v2beta1"
		}
	}
	return ""
}

func (s *Server) serveAggregated(w http.ResponseWriter, r *http.Request, core bool, version string) {
	s.discovery.once.Do(s.buildAggregated)
	docs, ct := s.discovery.apis, aggregatedV2
	if core {
		docs = s.discovery.core
	}
	if version == "v2beta1" {
		ct = aggregatedV2beta1
	}
	key := version
	if core {
		key = "core-" + version
	}
	etag := s.discovery.etags[key]
	w.Header().Set("Vary", "Accept")
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	w.Write(docs[version])
}

// buildAggregated renders the aggregated documents for /api and /apis in both
// versions; v2beta1 has the same shape with another apiVersion.
func (s *Server) buildAggregated() {
	d := &s.discovery
	d.core, d.apis, d.etags = map[string][]byte{}, map[string][]byte{}, map[string]string{}
	var coreGroups, otherGroups []apidiscoveryv2.APIGroupDiscovery
	for _, gv := range s.reg.GroupVersions() {
		group := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: gv.Group}}
		version := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, res := range s.reg.InGroupVersion(gv) {
			version.Resources = append(version.Resources, resourceDiscovery(res))
		}
		group.Versions = []apidiscoveryv2.APIVersionDiscovery{version}
		if gv.Group == "" {
			coreGroups = append(coreGroups, group)
		} else {
			otherGroups = append(otherGroups, group)
		}
	}
	render := func(groups []apidiscoveryv2.APIGroupDiscovery, apiVersion string) []byte {
		if groups == nil {
			groups = []apidiscoveryv2.APIGroupDiscovery{}
		}
		var body []byte
		if apiVersion == "v2" {
			body, _ = json.Marshal(&apidiscoveryv2.APIGroupDiscoveryList{
				TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"},
				Items:    groups,
			})
		} else {
			// Same JSON shape; convert through JSON to the v2beta1 types.
			raw, _ := json.Marshal(groups)
			var items []apidiscoveryv2beta1.APIGroupDiscovery
			json.Unmarshal(raw, &items)
			body, _ = json.Marshal(&apidiscoveryv2beta1.APIGroupDiscoveryList{
				TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2beta1"},
				Items:    items,
			})
		}
		return body
	}
	for _, v := range []string{"v2", "v2beta1"} {
		d.core[v] = render(coreGroups, v)
		d.apis[v] = render(otherGroups, v)
		d.etags[v] = etagOf(d.apis[v])
		d.etags["core-"+v] = etagOf(d.core[v])
	}
}

func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + strings.ToUpper(hex.EncodeToString(sum[:16])) + `"`
}

func resourceDiscovery(res *registry.Resource) apidiscoveryv2.APIResourceDiscovery {
	scope := apidiscoveryv2.ScopeCluster
	if res.Namespaced {
		scope = apidiscoveryv2.ScopeNamespace
	}
	d := apidiscoveryv2.APIResourceDiscovery{
		Resource:         res.Resource,
		ResponseKind:     &metav1.GroupVersionKind{Group: res.Group, Version: res.Version, Kind: res.Kind},
		Scope:            scope,
		SingularResource: res.Singular,
		Verbs:            resourceVerbs,
		ShortNames:       res.ShortNames,
		Categories:       res.Categories,
	}
	for _, sub := range res.Subresources {
		kind := &metav1.GroupVersionKind{Group: res.Group, Version: res.Version, Kind: res.Kind}
		if sub == "scale" {
			kind = &metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
		}
		d.Subresources = append(d.Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource: sub, ResponseKind: kind, Verbs: subresourceVerbs[sub],
		})
	}
	return d
}

// resourceList is the legacy /api/v1 or /apis/<group>/<version> document.
func resourceList(gv schema.GroupVersion, resources []*registry.Resource) *metav1.APIResourceList {
	list := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv.String(),
	}
	for _, res := range resources {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: res.Resource, SingularName: res.Singular, Namespaced: res.Namespaced,
			Kind: res.Kind, Verbs: resourceVerbs, ShortNames: res.ShortNames, Categories: res.Categories,
		})
		for _, sub := range res.Subresources {
			r := metav1.APIResource{Name: res.Resource + "/" + sub, Namespaced: res.Namespaced, Kind: res.Kind, Verbs: subresourceVerbs[sub]}
			if sub == "scale" {
				r.Group, r.Version, r.Kind = "autoscaling", "v1", "Scale"
			}
			list.APIResources = append(list.APIResources, r)
		}
	}
	return list
}

// apiGroups lists the non-core groups for /apis.
func (s *Server) apiGroups() []metav1.APIGroup {
	var out []metav1.APIGroup
	for _, gv := range s.reg.GroupVersions() {
		if gv.Group == "" {
			continue
		}
		v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		out = append(out, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
	}
	return out
}

// serverAddresses tells clients where the API is, as seen from them.
func (s *Server) serverAddresses(r *http.Request) []metav1.ServerAddressByClientCIDR {
	addr := s.Addr()
	if host, _, err := net.SplitHostPort(r.Host); err == nil && host != "" && addr == "" {
		addr = r.Host
	}
	return []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: addr}}
}
