package endpointslice

import (
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	listersdiscoveryv1 "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

func TestSliceTracker(t *testing.T) {
	slice := func(name, uid, rv string) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(uid), ResourceVersion: rv}}
	}
	cases := []struct {
		name  string
		write func(tr *sliceTracker)
		cache []*discoveryv1.EndpointSlice // what the informer shows
		stale bool
	}{
		{"nothing written", func(*sliceTracker) {}, nil, false},
		{"created, not in the cache yet", func(tr *sliceTracker) { tr.written("ns/web", slice("web-a", "1", "5"), "") }, nil, true},
		{"created and cached", func(tr *sliceTracker) { tr.written("ns/web", slice("web-a", "1", "5"), "") }, []*discoveryv1.EndpointSlice{slice("web-a", "1", "5")}, false},
		{"created, an older slice of that name cached", func(tr *sliceTracker) { tr.written("ns/web", slice("web-a", "2", "9"), "") }, []*discoveryv1.EndpointSlice{slice("web-a", "1", "5")}, true},
		{"updated, cache still old", func(tr *sliceTracker) { tr.written("ns/web", slice("web-a", "1", "6"), "5") }, []*discoveryv1.EndpointSlice{slice("web-a", "1", "5")}, true},
		{"updated and cached", func(tr *sliceTracker) { tr.written("ns/web", slice("web-a", "1", "6"), "5") }, []*discoveryv1.EndpointSlice{slice("web-a", "1", "6")}, false},
		{"updated, then changed by someone else", func(tr *sliceTracker) { tr.written("ns/web", slice("web-a", "1", "6"), "5") }, []*discoveryv1.EndpointSlice{slice("web-a", "1", "7")}, false},
		{"deleted, still cached", func(tr *sliceTracker) { tr.deleted("ns/web", slice("web-a", "1", "5")) }, []*discoveryv1.EndpointSlice{slice("web-a", "1", "5")}, true},
		{"deleted and gone", func(tr *sliceTracker) { tr.deleted("ns/web", slice("web-a", "1", "5")) }, nil, false},
		{"another Service's write", func(tr *sliceTracker) { tr.written("ns/db", slice("db-a", "3", "5"), "") }, nil, false},
		{"forgotten", func(tr *sliceTracker) { tr.written("ns/web", slice("web-a", "1", "5"), ""); tr.forget("ns/web") }, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
			for _, s := range tc.cache {
				idx.Add(s)
			}
			tr := newSliceTracker(listersdiscoveryv1.NewEndpointSliceLister(idx))
			tc.write(tr)
			if got := tr.stale("ns/web"); got != tc.stale {
				t.Errorf("stale = %v, want %v", got, tc.stale)
			}
		})
	}
}
