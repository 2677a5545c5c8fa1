package deployment

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/rand"
)

// podTemplateHashLabel is the label (upstream's
// DefaultDeploymentUniqueLabelKey) that tells the ReplicaSets of one
// Deployment, and their pods, apart.
const podTemplateHashLabel = "pod-template-hash"

// podTemplateHash computes the pod-template-hash the way upstream's
// controller.ComputeHash does, so that a template gets the same ReplicaSet
// name here as in a real cluster of the same version: FNV-32a over the
// template printed by dump.ForHash (go-spew with sorted map keys and no
// pointer addresses, so it depends on the values only), then the
// collisionCount (if set) as 8 little-endian bytes, and the decimal sum
// rendered by rand.SafeEncodeString (consonants and digits, no vowels: no
// accidental words in names).
//
// Every field of PodTemplateSpec takes part, unset ones included, so the
// hash of a template changes when k8s.io/api gains a field: upstream has
// the same property, which is why it finds a Deployment's ReplicaSet by
// comparing templates, not hashes.
func podTemplateHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	hasher := fnv.New32a()
	_, _ = io.WriteString(hasher, dump.ForHash(*template))
	if collisionCount != nil {
		buf := make([]byte, 8)
		binary.LittleEndian.PutUint32(buf, uint32(*collisionCount))
		_, _ = hasher.Write(buf)
	}
	return rand.SafeEncodeString(fmt.Sprint(hasher.Sum32()))
}
