package openapi

// Regenerate after changing the k8s.io/api version in go.mod:
//
//	go generate ./apiserver/openapi
//
//go:generate go tool openapi-gen --output-file zz_generated.openapi.go --output-dir . --output-pkg github.com/minilab/minilab/apiserver/openapi --go-header-file ../../hack/boilerplate.go.txt --report-filename /dev/null k8s.io/api/core/v1 k8s.io/api/apps/v1 k8s.io/api/discovery/v1 k8s.io/api/autoscaling/v1 k8s.io/apimachinery/pkg/apis/meta/v1 k8s.io/apimachinery/pkg/api/resource k8s.io/apimachinery/pkg/util/intstr k8s.io/apimachinery/pkg/runtime k8s.io/apimachinery/pkg/version
