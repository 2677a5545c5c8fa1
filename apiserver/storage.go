package apiserver

import (
	"encoding/json"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/minilab/minilab/apiserver/registry"
	"github.com/minilab/minilab/store"
)

// Objects live in the store under keys shaped like etcd's in a real cluster:
//
//	/registry/services/default/hello-world
//	/registry/apps/deployments/default/hello-world
//	/registry/namespaces/default            (cluster-scoped)

func resourcePrefix(res *registry.Resource) string {
	if res.Group == "" {
		return "/registry/" + res.Resource + "/"
	}
	return "/registry/" + res.Group + "/" + res.Resource + "/"
}

// listPrefix is the key prefix of a list: one namespace, or all of them.
func listPrefix(res *registry.Resource, namespace string) string {
	if res.Namespaced && namespace != "" {
		return resourcePrefix(res) + namespace + "/"
	}
	return resourcePrefix(res)
}

func objectKey(res *registry.Resource, namespace, name string) string {
	if res.Namespaced {
		return resourcePrefix(res) + namespace + "/" + name
	}
	return resourcePrefix(res) + name
}

// encodeForStore serialises an object as it is kept: JSON with apiVersion
// and kind, without resourceVersion (the store's revision is the version, as
// with etcd's mod_revision).
func encodeForStore(res *registry.Resource, obj runtime.Object) ([]byte, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	data, err := json.Marshal(obj)
	m.SetResourceVersion(rv)
	return data, err
}

// decodeFromStore turns a stored value back into an object whose
// resourceVersion is the revision of its last write.
func decodeFromStore(res *registry.Resource, data []byte, rev int64) (runtime.Object, error) {
	obj := res.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("stored %s is corrupt: %w", res.Kind, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return obj, nil
}

func decodeKV(res *registry.Resource, kv store.KeyValue) (runtime.Object, error) {
	return decodeFromStore(res, kv.Value, kv.ModRevision)
}
