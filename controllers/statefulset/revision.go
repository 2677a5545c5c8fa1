package statefulset

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// templatePatch is what upstream stores as a StatefulSet ControllerRevision's
// data: a strategic merge patch that puts the template back,
// {"spec":{"template":{"$patch":"replace",...}}}. It goes through a generic
// map, as upstream's does, so its keys come out sorted.
func templatePatch(template *corev1.PodTemplateSpec) ([]byte, error) {
	data, err := json.Marshal(template)
	if err != nil {
		return nil, err
	}
	var raw map[string]interface{}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	raw["$patch"] = "replace"
	return json.Marshal(map[string]interface{}{"spec": map[string]interface{}{"template": raw}})
}

// revisionHash hashes a revision's data the way upstream's
// HashControllerRevision does: FNV-32 (not 32a) over the patch, then the
// collision count in decimal, the sum rendered by rand.SafeEncodeString.
func revisionHash(patch []byte, collisionCount int32) string {
	h := fnv.New32()
	_, _ = h.Write(patch)
	_, _ = h.Write([]byte(strconv.FormatInt(int64(collisionCount), 10)))
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// revisionName is the name of the ControllerRevision upstream would create
// for the set's current template, "<set>-<hash>": the value of the pods'
// controller-revision-hash label and of status.updateRevision.
func revisionName(set *appsv1.StatefulSet) (string, error) {
	patch, err := templatePatch(&set.Spec.Template)
	if err != nil {
		return "", err
	}
	return set.Name + "-" + revisionHash(patch, collisionCount(set)), nil
}

func collisionCount(set *appsv1.StatefulSet) int32 {
	if set.Status.CollisionCount == nil {
		return 0
	}
	return *set.Status.CollisionCount
}

// history stands in for the StatefulSets' ControllerRevisions, which minilab
// does not serve: per StatefulSet (namespace/name), the templates of the
// revisions still in use, by revision name.
type history struct {
	mu    sync.Mutex
	bySet map[string]map[string]*corev1.PodTemplateSpec
}

func newHistory() *history {
	return &history{bySet: map[string]map[string]*corev1.PodTemplateSpec{}}
}

// record remembers the template of a revision.
func (h *history) record(key, revision string, template *corev1.PodTemplateSpec) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bySet[key] == nil {
		h.bySet[key] = map[string]*corev1.PodTemplateSpec{}
	}
	if _, ok := h.bySet[key][revision]; !ok {
		h.bySet[key][revision] = template.DeepCopy()
	}
}

// template returns a revision's template, if it is known.
func (h *history) template(key, revision string) (*corev1.PodTemplateSpec, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.bySet[key][revision]
	return t, ok
}

// keep forgets every revision of a set but the live ones (upstream's
// truncateHistory keeps revisionHistoryLimit more for `kubectl rollout
// undo`, which needs the ControllerRevision API).
func (h *history) keep(key string, live map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name := range h.bySet[key] {
		if !live[name] {
			delete(h.bySet[key], name)
		}
	}
}

// forget drops a deleted StatefulSet's revisions.
func (h *history) forget(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.bySet, key)
}
