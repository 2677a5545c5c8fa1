package images

import "strings"

// reference is an image reference split the way container runtimes split
// it (github.com/distribution/reference): registry and path, tag, digest.
type reference struct {
	// repository is the registry host and path, with Docker Hub's
	// defaults filled in: "nginx" is "docker.io/library/nginx".
	repository string
	tag        string // "" if none was given
	digest     string // "sha256:..." or ""
}

// dockerHubAliases are host names that all mean Docker Hub.
var dockerHubAliases = map[string]bool{
	"docker.io":               true,
	"index.docker.io":         true,
	"registry-1.docker.io":    true,
	"registry.hub.docker.com": true,
}

// parseReference splits ref. The first path component is a registry host
// only if it looks like one (has a "." or a ":" or is "localhost"); otherwise
// the image lives on Docker Hub, where one-component names are official
// images under "library/".
func parseReference(ref string) (reference, bool) {
	var r reference
	ref = strings.TrimSpace(ref)
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref, r.digest = ref[:i], ref[i+1:]
		if !strings.Contains(r.digest, ":") {
			return reference{}, false
		}
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref, r.tag = ref[:i], ref[i+1:]
		if r.tag == "" {
			return reference{}, false
		}
	}
	if ref == "" || strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") || strings.Contains(ref, "//") {
		return reference{}, false
	}
	host, path, found := strings.Cut(ref, "/")
	if !found || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		host, path = "docker.io", ref
	}
	if dockerHubAliases[host] {
		host = "docker.io"
		if !strings.Contains(path, "/") {
			path = "library/" + path
		}
	}
	r.repository = host + "/" + path
	return r, true
}

// familiarName shortens a normalized repository the way `docker images`
// shows it: "docker.io/library/nginx" is "nginx", "docker.io/traefik/whoami"
// is "traefik/whoami".
func familiarName(repository string) string {
	if rest, ok := strings.CutPrefix(repository, "docker.io/"); ok {
		return strings.TrimPrefix(rest, "library/")
	}
	return repository
}
