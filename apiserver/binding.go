package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/minilab/minilab/store"
)

// handleBinding serves POST .../pods/<name>/binding, the scheduler's way of
// placing a pod: it sets spec.nodeName (which no other write may change)
// and the PodScheduled condition, once. A second binding is a 409, as in
// kube-apiserver, so two schedulers can never place one pod twice.
func (s *Server) handleBinding(w http.ResponseWriter, r *http.Request, o *op, name string) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	binding := &corev1.Binding{}
	if err := decodeObject(r.Header.Get("Content-Type"), body, corev1.SchemeGroupVersion.WithKind("Binding"), binding, o.validation, o.warnings); err != nil {
		writeError(w, r, err)
		return
	}
	if binding.Name != "" && binding.Name != name {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the binding (%s) does not match the name on the URL (%s)", binding.Name, name)))
		return
	}
	if binding.Target.Kind != "" && binding.Target.Kind != "Node" {
		writeError(w, r, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), name, field.ErrorList{
			field.NotSupported(field.NewPath("target", "kind"), binding.Target.Kind, []string{"Node"}),
		}))
		return
	}
	if binding.Target.Name == "" {
		writeError(w, r, apierrors.NewBadRequest("a binding needs target.name, the node to place the pod on"))
		return
	}
	key := objectKey(o.res, o.namespace, name)
	_, err = s.store.Update(key, false, func(cur *store.KeyValue) ([]byte, error) {
		obj, err := decodeKV(o.res, *cur)
		if err != nil {
			return nil, err
		}
		pod := obj.(*corev1.Pod)
		if binding.UID != "" && binding.UID != pod.UID {
			return nil, apierrors.NewConflict(o.gr(), name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", binding.UID, pod.UID))
		}
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(o.gr(), name, errors.New("pod is being deleted, cannot be assigned to a host"))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(o.gr(), name, fmt.Errorf("pod %s is already assigned to node %q", name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = binding.Target.Name
		for k, v := range binding.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		return encodeForStore(o.res, pod)
	})
	if errors.Is(err, store.ErrNotFound) {
		err = apierrors.NewNotFound(o.gr(), name)
	}
	if err != nil {
		var st apierrors.APIStatus
		if !errors.As(err, &st) {
			err = apierrors.NewInternalError(err)
		}
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(&metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}
