package images

import "sync"

var registerMu sync.Mutex

// Register adds an image that another part of minilab serves: the cluster
// DNS serves registry.k8s.io/coredns/coredns, so the kube-dns pods run
// minilab's DNS server. names are listed by Names; repositories are the
// normalized repositories the image is found under (e.g.
// "registry.k8s.io/coredns/coredns"); build makes the image for a tag and
// a command line. Call it before any pod starts.
func Register(names, repositories []string, build func(tag string, args []string) *Image) {
	registerMu.Lock()
	defer registerMu.Unlock()
	builtins = append(builtins, builtin{repositories: repositories, names: names, build: build})
}
