package main

import (
	"runtime/debug"

	"github.com/minilab/minilab/apiserver"
)

// minilabVersion is the module version of this build ("(devel)" from a checkout).
func minilabVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func servedKubernetesVersion() string { return apiserver.KubernetesVersion().GitVersion }
