package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// patchType reads the patch flavour from the Content-Type, as kubectl
// sets it: `kubectl patch` defaults to a strategic merge patch,
// `--type=merge` and `--type=json` pick the other two, and
// `kubectl apply --server-side` sends an apply patch.
func patchType(contentType string) (types.PatchType, error) {
	media, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", unsupportedPatch(contentType)
	}
	switch t := types.PatchType(media); t {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType:
		return t, nil
	}
	return "", unsupportedPatch(contentType)
}

func unsupportedPatch(ct string) error {
	return apierrors.NewGenericServerResponse(415, "patch", schema.GroupResource{}, "", fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s, %s", types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType), 0, false)
}

// applyPatch computes the patched form of current (the object as JSON) for
// the three non-apply patch types. versioned is an empty object of the
// kind: a strategic merge patch reads its merge keys and strategies
// (x-kubernetes-patch-merge-key, patchStrategy) from the Go struct tags.
func applyPatch(pt types.PatchType, current []byte, patch []byte, versioned runtime.Object) ([]byte, error) {
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		out, err := p.Apply(current)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(422, "", schema.GroupResource{}, "", err.Error(), 0, false)
		}
		return out, nil
	case types.MergePatchType:
		if !json.Valid(patch) {
			return nil, apierrors.NewBadRequest("error decoding patch: invalid JSON")
		}
		out, err := jsonpatch.MergePatch(current, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	case types.StrategicMergePatchType:
		var patchMap map[string]interface{}
		if err := json.Unmarshal(patch, &patchMap); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
		}
		out, err := strategicpatch.StrategicMergePatch(current, patch, versioned)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	}
	return nil, unsupportedPatch(string(pt))
}
