package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/minilab/minilab/apiserver/registry"
)

// serveAPI handles everything under /api and /apis: discovery documents and
// resource requests.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	info := parseRequestInfo(r)
	if !info.IsResourceRequest {
		s.serveDiscovery(w, r, info)
		return
	}
	res, ok := s.reg.Lookup(schema.GroupVersionResource{Group: info.Group, Version: info.Version, Resource: info.Resource})
	if !ok || (!res.Namespaced && info.Namespace != "") || (info.Subresource != "" && !res.HasSubresource(info.Subresource)) {
		writeError(w, r, notFoundPath())
		return
	}
	if res.Namespaced && info.Namespace == "" && info.Verb != "list" && info.Verb != "watch" {
		writeError(w, r, notFoundPath())
		return
	}
	if info.Subresource != "" && info.Name == "" {
		writeError(w, r, notFoundPath())
		return
	}
	if serve := streamingSubresource(res, info.Subresource); serve != nil {
		serve(s, w, r, info.Namespace, info.Name)
		return
	}
	if info.Verb == "" {
		w.Header().Set("Allow", "GET, POST, PUT, PATCH, DELETE")
		writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), strings.ToLower(r.Method)))
		return
	}
	o, err := s.newOp(r, res, info)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, err := negotiate(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	switch info.Verb {
	case "get":
		s.handleGet(w, r, o, info.Name, out)
	case "list":
		s.handleList(w, r, res, info.Namespace, out)
	case "watch":
		s.handleWatch(w, r, res, info.Namespace, info.Name, out)
	case "create":
		s.handleCreate(w, r, o, info, out)
	case "update":
		s.handleUpdate(w, r, o, info.Name, out)
	case "patch":
		s.handlePatch(w, r, o, info.Name, out)
	case "delete":
		s.handleDelete(w, r, o, info.Name, out)
	case "deletecollection":
		s.handleDeleteCollection(w, r, o, out)
	}
}

func notFoundPath() error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "", schema.GroupResource{}, "", "the server could not find the requested resource", 0, false)
}

// newOp reads the write options every mutating request may carry.
func (s *Server) newOp(r *http.Request, res *registry.Resource, info requestInfo) (*op, error) {
	q := r.URL.Query()
	o := &op{res: res, namespace: info.Namespace, subresource: info.Subresource, warnings: &warnings{}}
	for _, v := range q["dryRun"] {
		if v != "All" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("Invalid dryRun value: %q. Valid values: All", v))
		}
		o.dryRun = true
	}
	o.fieldManager = q.Get("fieldManager")
	if len(o.fieldManager) > 128 {
		return nil, apierrors.NewBadRequest("fieldManager: Too long: may not be more than 128 bytes")
	}
	if o.fieldManager == "" && r.Method != http.MethodPatch {
		o.fieldManager = managerFromUserAgent(r.UserAgent())
	}
	v, err := fieldValidation(r)
	if err != nil {
		return nil, err
	}
	o.validation = v
	return o, nil
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, o *op, name string, out output) {
	obj, err := s.getObject(o.res, o.namespace, name)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if o.subresource == "scale" {
		scale, err := scaleOf(obj)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeObject(w, http.StatusOK, scale, out)
		return
	}
	s.render(w, r, http.StatusOK, o.res, obj, out)
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, res *registry.Resource, namespace string, out output) {
	lo, err := parseListOptions(r, res)
	if err != nil {
		writeError(w, r, err)
		return
	}
	list, err := s.list(res, namespace, lo)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, res, list, out)
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, o *op, info requestInfo, out output) {
	if info.Subresource == "binding" {
		s.handleBinding(w, r, o, info.Name)
		return
	}
	if info.Name != "" || info.Subresource != "" {
		writeError(w, r, apierrors.NewMethodNotSupported(o.gr(), "create"))
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj := o.res.New()
	if err := decodeObject(r.Header.Get("Content-Type"), body, o.res.GroupVersionKind(), obj, o.validation, o.warnings); err != nil {
		writeError(w, r, err)
		return
	}
	created, err := s.create(o, obj)
	o.warnings.write(w.Header())
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.render(w, r, http.StatusCreated, o.res, created, out)
}

// allowCreateOnUpdate lists the resources that a PUT may create, as in
// kube-apiserver (the endpoints controller and event recorders rely on it).
var allowCreateOnUpdate = map[string]bool{"endpoints": true, "events": true}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, o *op, name string, out output) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var fn transform
	create := false
	switch o.subresource {
	case "scale":
		scale := &autoscalingv1.Scale{}
		if err := decodeObject(r.Header.Get("Content-Type"), body, autoscalingv1.SchemeGroupVersion.WithKind("Scale"), scale, o.validation, o.warnings); err != nil {
			writeError(w, r, err)
			return
		}
		fn = func(cur runtime.Object) (runtime.Object, error) { return withScale(cur, scale) }
	default:
		obj := o.res.New()
		if err := decodeObject(r.Header.Get("Content-Type"), body, o.res.GroupVersionKind(), obj, o.validation, o.warnings); err != nil {
			writeError(w, r, err)
			return
		}
		create = o.subresource == "" && allowCreateOnUpdate[o.res.Resource]
		fn = func(runtime.Object) (runtime.Object, error) { return obj.DeepCopyObject(), nil }
	}
	result, created, err := s.update(o, name, create, fn)
	o.warnings.write(w.Header())
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeWriteResult(w, r, o, result, created, out)
}

func (s *Server) writeWriteResult(w http.ResponseWriter, r *http.Request, o *op, result runtime.Object, created bool, out output) {
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	if o.subresource == "scale" {
		scale, err := scaleOf(result)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeObject(w, code, scale, out)
		return
	}
	s.render(w, r, code, o.res, result, out)
}

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, o *op, name string, out output) {
	pt, err := patchType(r.Header.Get("Content-Type"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	force := r.URL.Query().Get("force") == "true"
	if force && pt != types.ApplyYAMLPatchType {
		writeError(w, r, apierrors.NewBadRequest("force flag must only be set for apply patches"))
		return
	}
	if pt != types.ApplyYAMLPatchType && o.fieldManager == "" {
		o.fieldManager = managerFromUserAgent(r.UserAgent())
	}
	fn := func(cur runtime.Object) (runtime.Object, error) {
		if pt == types.ApplyYAMLPatchType {
			if o.subresource == "scale" {
				return nil, apierrors.NewBadRequest("server-side apply is not supported on the scale subresource")
			}
			return s.apply.apply(o, cur, body, force)
		}
		// The patch applies to the JSON the client sees: the object, or
		// its Scale for /scale.
		var target runtime.Object = cur
		gvk := o.res.GroupVersionKind()
		if o.subresource == "scale" {
			scale, err := scaleOf(cur)
			if err != nil {
				return nil, err
			}
			target, gvk = scale, autoscalingv1.SchemeGroupVersion.WithKind("Scale")
		}
		current, err := json.Marshal(target)
		if err != nil {
			return nil, err
		}
		empty, err := newOfKind(gvk)
		if err != nil {
			return nil, err
		}
		patched, err := applyPatch(pt, current, body, empty)
		if err != nil {
			return nil, err
		}
		result, _ := newOfKind(gvk)
		if err := decodeJSONStrictness(patched, gvk, result, o.validation, o.warnings); err != nil {
			return nil, err
		}
		if o.subresource == "scale" {
			return withScale(cur, result.(*autoscalingv1.Scale))
		}
		return result, nil
	}
	create := pt == types.ApplyYAMLPatchType && o.subresource == ""
	result, created, err := s.update(o, name, create, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return fn(nil)
		}
		return fn(cur)
	})
	o.warnings.write(w.Header())
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeWriteResult(w, r, o, result, created, out)
}

func newOfKind(gvk schema.GroupVersionKind) (runtime.Object, error) {
	obj, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj, nil
}

// deleteOptions reads DeleteOptions from the body (JSON or protobuf) and the
// query (kubectl sends propagationPolicy in the body, curl users in the URL).
func deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if media == mediaProtobuf {
			if _, _, err := protoCodec.Decode(body, &schema.GroupVersionKind{Group: "meta.k8s.io", Version: "v1", Kind: "DeleteOptions"}, opts); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("DeleteOptions could not be decoded: %v", err))
			}
		} else if err := json.Unmarshal(body, opts); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("DeleteOptions could not be decoded: %v", err))
		}
	}
	q := r.URL.Query()
	if v := q.Get("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid gracePeriodSeconds %q", v))
		}
		opts.GracePeriodSeconds = &n
	}
	if v := q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := q.Get("orphanDependents"); v != "" {
		b := v == "true"
		opts.OrphanDependents = &b //nolint:staticcheck // still honoured
	}
	for _, v := range opts.DryRun {
		if v != "All" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("Invalid dryRun value: %q. Valid values: All", v))
		}
	}
	return opts, nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, o *op, name string, out output) {
	if o.subresource != "" {
		writeError(w, r, apierrors.NewMethodNotSupported(o.gr(), "delete"))
		return
	}
	opts, err := deleteOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if len(opts.DryRun) > 0 {
		o.dryRun = true
	}
	obj, gone, err := s.deleteObject(o, name, opts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if gone && !returnsDeletedObject[o.res.Resource] {
		m, _ := meta.Accessor(obj)
		writeObject(w, http.StatusOK, &metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusSuccess,
			Details:  &metav1.StatusDetails{Name: name, Group: o.res.Group, Kind: o.res.Resource, UID: m.GetUID()},
		}, output{MediaType: mediaJSON})
		return
	}
	s.render(w, r, http.StatusOK, o.res, obj, out)
}

// returnsDeletedObject: kube-apiserver answers a DELETE of these with the
// deleted object, of the others with a Status.
var returnsDeletedObject = map[string]bool{"pods": true, "services": true, "namespaces": true, "nodes": true}

// handleDeleteCollection deletes every object a list would return, as the
// namespace controller does to empty a namespace.
func (s *Server) handleDeleteCollection(w http.ResponseWriter, r *http.Request, o *op, out output) {
	lo, err := parseListOptions(r, o.res)
	if err != nil {
		writeError(w, r, err)
		return
	}
	opts, err := deleteOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if len(opts.DryRun) > 0 {
		o.dryRun = true
	}
	list, err := s.list(o.res, o.namespace, lo)
	if err != nil {
		writeError(w, r, err)
		return
	}
	items, _ := meta.ExtractList(list)
	for _, item := range items {
		m, _ := meta.Accessor(item)
		itemOp := *o
		itemOp.namespace = m.GetNamespace()
		if _, _, err := s.deleteObject(&itemOp, m.GetName(), opts); err != nil && !apierrors.IsNotFound(err) {
			writeError(w, r, err)
			return
		}
	}
	writeObject(w, http.StatusOK, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}, output{MediaType: mediaJSON})
}

// scaleOf presents a workload's replicas as an autoscaling/v1 Scale, which
// `kubectl scale` reads and patches.
func scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	var replicas, current int32
	var selector *metav1.LabelSelector
	switch o := obj.(type) {
	case *appsv1.Deployment:
		replicas, current, selector = ptrInt32(o.Spec.Replicas), o.Status.Replicas, o.Spec.Selector
	case *appsv1.ReplicaSet:
		replicas, current, selector = ptrInt32(o.Spec.Replicas), o.Status.Replicas, o.Spec.Selector
	case *appsv1.StatefulSet:
		replicas, current, selector = ptrInt32(o.Spec.Replicas), o.Status.Replicas, o.Spec.Selector
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%T has no scale subresource", obj))
	}
	m, _ := meta.Accessor(obj)
	sel := ""
	if selector != nil {
		if s, err := metav1.LabelSelectorAsSelector(selector); err == nil {
			sel = s.String()
		}
	}
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: replicas},
		Status: autoscalingv1.ScaleStatus{Replicas: current, Selector: sel},
	}, nil
}

// withScale returns a copy of cur with the Scale's replicas; the Scale's
// resourceVersion, if any, is the precondition.
func withScale(cur runtime.Object, scale *autoscalingv1.Scale) (runtime.Object, error) {
	if cur == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{}, scale.Name)
	}
	obj := cur.DeepCopyObject()
	m, _ := meta.Accessor(obj)
	if scale.ResourceVersion != "" {
		m.SetResourceVersion(scale.ResourceVersion)
	}
	n := scale.Spec.Replicas
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &n
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%T has no scale subresource", obj))
	}
	return obj, nil
}

func ptrInt32(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	v := kubernetesVersion()
	writeObject(w, http.StatusOK, &v, output{MediaType: mediaJSON})
}

// serveHealth answers /healthz, /livez and /readyz ("ok"), with the
// per-check listing for ?verbose as kube-apiserver prints it.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if _, err := s.store.Get("/registry/namespaces/default"); err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "[-]etcd failed: %v\nhealthz check failed\n", err)
		return
	}
	if _, ok := r.URL.Query()["verbose"]; ok {
		name := strings.TrimPrefix(r.URL.Path, "/")
		fmt.Fprintf(w, "[+]ping ok\n[+]log ok\n[+]etcd ok\n%s check passed\n", name)
		return
	}
	fmt.Fprint(w, "ok")
}
