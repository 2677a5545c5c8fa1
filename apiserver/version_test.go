package apiserver

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The reported version must follow the k8s.io/api version in go.mod.
func TestServedReleaseMatchesGoMod(t *testing.T) {
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/api v0\.(\d+)\.(\d+)`).FindStringSubmatch(string(gomod))
	if m == nil {
		t.Fatal("k8s.io/api not found in go.mod")
	}
	if want := "1." + m[1] + "." + m[2]; servedRelease != want {
		t.Fatalf("servedRelease = %s, but go.mod has k8s.io/api v0.%s.%s: update it to %s", servedRelease, m[1], m[2], want)
	}
	v := kubernetesVersion()
	if !strings.HasPrefix(v.GitVersion, "v1."+v.Minor+".") {
		t.Fatalf("minor %s does not match %s", v.Minor, v.GitVersion)
	}
}
