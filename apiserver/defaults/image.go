package defaults

import (
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// defaultPullPolicy is the imagePullPolicy kube-apiserver picks for a container that states none:
// Always when the image's tag is "latest", written or implied (no tag and no digest), otherwise
// IfNotPresent. An image pinned by digest alone is IfNotPresent; so is a reference that does not
// parse (validation reports that separately).
func defaultPullPolicy(image string) corev1.PullPolicy {
	if tag, ok := imageTag(image); ok && tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// The grammar of an image reference, as the Docker distribution "reference" package that
// Kubernetes uses defines it:
//
//	reference := name [ ":" tag ] [ "@" digest ]
//	name      := [ domain [ ":" port ] "/" ] path-component { "/" path-component }
//
// Only the domain may hold upper-case letters; "registry:5000/app" is a name with a port, not an
// image "registry" with the tag "5000/app".
const (
	pathComponent   = `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
	domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	domainAndPort   = `(?:` + domainComponent + `(?:\.` + domainComponent + `)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?`
	imageName       = `(?:` + domainAndPort + `/)?` + pathComponent + `(?:/` + pathComponent + `)*`
	imageTagPattern = `[\w][\w.-]{0,127}`
	digestPattern   = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
)

var (
	referenceRegexp = regexp.MustCompile(`^(` + imageName + `)(?::(` + imageTagPattern + `))?(?:@(` + digestPattern + `))?$`)
	// A bare 64-hex-digit string is an image ID, which the parser refuses as a name.
	imageIDRegexp = regexp.MustCompile(`^[a-f0-9]{64}$`)
	// Digest algorithms the parser knows, with the length of their lower-case hex encoding.
	digestHexLength = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}
)

// maxImageNameLength is the longest name (without tag and digest) the parser accepts.
const maxImageNameLength = 255

// imageTag returns the tag an image reference pulls: the written tag, or "latest" when the
// reference has neither tag nor digest, or "" for a digest-only reference. ok is false when the
// reference does not parse.
func imageTag(image string) (tag string, ok bool) {
	if imageIDRegexp.MatchString(image) {
		return "", false
	}
	m := referenceRegexp.FindStringSubmatch(image)
	if m == nil || len(m[1]) > maxImageNameLength {
		return "", false
	}
	tag, digest := m[2], m[3]
	if digest != "" && !validDigest(digest) {
		return "", false
	}
	if tag == "" && digest == "" {
		tag = "latest"
	}
	return tag, true
}

func validDigest(digest string) bool {
	algorithm, hex, _ := strings.Cut(digest, ":")
	want, known := digestHexLength[algorithm]
	return known && len(hex) == want && strings.ToLower(hex) == hex
}
