package apiserver

import (
	"runtime"

	"k8s.io/apimachinery/pkg/version"
)

// servedRelease is the Kubernetes release whose API types minilab is built
// with: k8s.io/api v0.33.13 in go.mod is Kubernetes v1.33.13 (a test keeps
// the two in step).
const servedRelease = "1.33.13"

// kubernetesVersion is what /version reports, marked "+minilab" the way k3s
// marks its builds. The minor matters: it must lie in the range of installed
// kubectl versions, because the kubectl dispatcher of the Google Cloud SDK
// runs the kubectl binary whose minor matches the server's.
func kubernetesVersion() version.Info {
	return version.Info{
		Major:        "1",
		Minor:        "33",
		GitVersion:   "v" + servedRelease + "+minilab",
		GitCommit:    "0000000000000000000000000000000000000000",
		GitTreeState: "clean",
		BuildDate:    "1970-01-01T00:00:00Z",
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// KubernetesVersion is the version /version reports.
func KubernetesVersion() version.Info { return kubernetesVersion() }
