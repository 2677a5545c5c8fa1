package apiserver

import (
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/minilab/minilab/apiserver/printers"
	"github.com/minilab/minilab/apiserver/registry"
)

// kubectl get asks for a Table: the server decides the columns and computes
// every cell (AGE included), so kubectl prints the same thing for every
// resource without knowing any of them. Each row carries the object's
// metadata (a PartialObjectMetadata), from which kubectl takes the namespace
// for -A and the labels for --show-labels.

// render writes obj (one object or a list) in the form the client asked
// for: the object itself, a Table, or its metadata only.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, res *registry.Resource, obj runtime.Object, out output) {
	var body interface{} = obj
	switch out.As {
	case "Table":
		table, err := s.toTable(res, obj, r.URL.Query().Get("includeObject"), false)
		if err != nil {
			writeError(w, r, err)
			return
		}
		table.APIVersion = "meta.k8s.io/" + out.TableVer
		body = table
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		b, err := toPartial(obj, out.As == "PartialObjectMetadataList", out.TableVer)
		if err != nil {
			writeError(w, r, err)
			return
		}
		body = b
	}
	writeObject(w, code, body, out)
}

// toTable converts an object or a list into a Table. noHeaders leaves out
// the column definitions (later events of a watch).
func (s *Server) toTable(res *registry.Resource, obj runtime.Object, includeObject string, noHeaders bool) (*metav1.Table, error) {
	printer, ok := printers.ForResource(res.GroupResource())
	if !ok {
		printer = printers.Default()
	}
	table := &metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"}}
	if !noHeaders {
		table.ColumnDefinitions = printer.Columns
	}
	var items []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		if lm, err := meta.ListAccessor(obj); err == nil {
			table.ResourceVersion = lm.GetResourceVersion()
			table.Continue = lm.GetContinue()
			table.RemainingItemCount = lm.GetRemainingItemCount()
		}
	} else {
		items = []runtime.Object{obj}
		if m, err := meta.Accessor(obj); err == nil {
			table.ResourceVersion = m.GetResourceVersion()
		}
	}
	now := time.Now()
	table.Rows = make([]metav1.TableRow, 0, len(items))
	for _, item := range items {
		cells, err := printer.Row(item, now)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		row := metav1.TableRow{Cells: cells}
		switch includeObject {
		case "None":
		case "Object":
			item.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
			row.Object = runtime.RawExtension{Object: item}
		default: // "Metadata"
			m, err := meta.Accessor(item)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			row.Object = runtime.RawExtension{Object: partialOf(m, "v1")}
		}
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}

func partialOf(m metav1.Object, version string) *metav1.PartialObjectMetadata {
	om := metav1.ObjectMeta{}
	om.SetName(m.GetName())
	om.SetGenerateName(m.GetGenerateName())
	om.SetNamespace(m.GetNamespace())
	om.SetUID(m.GetUID())
	om.SetResourceVersion(m.GetResourceVersion())
	om.SetGeneration(m.GetGeneration())
	om.SetCreationTimestamp(m.GetCreationTimestamp())
	om.SetDeletionTimestamp(m.GetDeletionTimestamp())
	om.SetDeletionGracePeriodSeconds(m.GetDeletionGracePeriodSeconds())
	om.SetLabels(m.GetLabels())
	om.SetAnnotations(m.GetAnnotations())
	om.SetOwnerReferences(m.GetOwnerReferences())
	om.SetFinalizers(m.GetFinalizers())
	om.SetManagedFields(m.GetManagedFields())
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/" + version},
		ObjectMeta: om,
	}
}

// toPartial returns the metadata-only form of an object or list, which
// metadata informers (the garbage collector's) ask for.
func toPartial(obj runtime.Object, wantList bool, version string) (runtime.Object, error) {
	if version == "" {
		version = "v1"
	}
	if meta.IsListType(obj) != wantList {
		return nil, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "", "PartialObjectMetadata is for single objects, PartialObjectMetadataList for lists", 0, false)
	}
	if !wantList {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, err
		}
		return partialOf(m, version), nil
	}
	items, err := meta.ExtractList(obj)
	if err != nil {
		return nil, err
	}
	list := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/" + version}}
	if lm, err := meta.ListAccessor(obj); err == nil {
		list.ResourceVersion = lm.GetResourceVersion()
		list.Continue = lm.GetContinue()
		list.RemainingItemCount = lm.GetRemainingItemCount()
	}
	for _, item := range items {
		m, err := meta.Accessor(item)
		if err != nil {
			return nil, err
		}
		p := partialOf(m, version)
		p.TypeMeta = metav1.TypeMeta{}
		list.Items = append(list.Items, *p)
	}
	return list, nil
}
