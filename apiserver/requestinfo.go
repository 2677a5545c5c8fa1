package apiserver

import (
	"net/http"
	"strings"
)

// requestInfo is what a Kubernetes API path says, read the way
// kube-apiserver's RequestInfoFactory reads it:
//
//	/api/v1/namespaces/{namespace}/{resource}/{name}/{subresource}
//	/apis/{group}/{version}/namespaces/{namespace}/{resource}/{name}/{subresource}
//	/api/v1/{resource}/{name}                        (cluster-scoped, or all namespaces)
//	/api/v1/watch/...                                 (old-style watch prefix)
type requestInfo struct {
	IsResourceRequest bool
	Verb              string // get list watch create update patch delete deletecollection
	Group, Version    string
	Namespace         string
	Resource          string
	Name              string
	Subresource       string
}

// namespaceSubresources are the subresources of the namespaces resource,
// which would otherwise read like a resource inside the namespace.
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

func parseRequestInfo(r *http.Request) requestInfo {
	var info requestInfo
	parts := splitPath(r.URL.Path)
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		info.Version, parts = parts[1], parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		info.Group, info.Version, parts = parts[1], parts[2], parts[3:]
	default:
		return info
	}
	if len(parts) == 0 {
		return info // a discovery document, not a resource
	}
	info.IsResourceRequest = true
	watchPrefix := false
	if parts[0] == "watch" {
		watchPrefix, parts = true, parts[1:]
		if len(parts) == 0 {
			info.IsResourceRequest = false
			return info
		}
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		info.Namespace = parts[1]
		// /namespaces/{name} and /namespaces/{name}/{status,finalize} are
		// requests for the namespace object itself.
		if len(parts) > 2 && !namespaceSubresources[parts[2]] {
			parts = parts[2:]
		}
	}
	info.Resource = parts[0]
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = parts[2]
	}
	if info.Resource == "namespaces" {
		info.Namespace = "" // the namespace's own name is in Name
	}

	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watchPrefix || r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			info.Verb = "watch"
		case info.Name == "":
			info.Verb = "list"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		if info.Name == "" {
			info.Verb = "deletecollection"
		} else {
			info.Verb = "delete"
		}
	}
	return info
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
