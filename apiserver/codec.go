package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// Request bodies may come as JSON, YAML or protobuf: kubectl 1.32+ creates
// objects in protobuf (client-go's generated clients prefer it), older ones
// in JSON. Responses are JSON (or YAML when asked for).
var (
	strictJSON = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, kjson.SerializerOptions{Strict: true})
	strictYAML = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, kjson.SerializerOptions{Yaml: true, Strict: true})
	protoCodec = protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
)

const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
)

// Field validation levels (the fieldValidation query parameter). Without it
// the server warns about unknown fields, as kube-apiserver does.
const (
	validationStrict = "Strict"
	validationWarn   = "Warn"
	validationIgnore = "Ignore"
)

func fieldValidation(r *http.Request) (string, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "":
		return validationWarn, nil
	case validationStrict, validationWarn, validationIgnore:
		return v, nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of %q, %q or %q, not %q", validationIgnore, validationWarn, validationStrict, v))
	}
}

// maxBodyBytes bounds request bodies (kube-apiserver allows 3 MiB objects).
const maxBodyBytes = 3 << 20

func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading the request body: %v", err))
	}
	if len(body) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", maxBodyBytes))
	}
	return body, nil
}

// decodeObject decodes a create/update body into an object of kind gvk.
// Unknown or duplicate fields are an error (Strict), a warning (Warn) or
// nothing (Ignore). The error texts are kube-apiserver's.
func decodeObject(contentType string, body []byte, gvk schema.GroupVersionKind, into runtime.Object, validation string, w *warnings) error {
	media, _, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		media, err = mediaJSON, nil
	}
	if err != nil {
		return unsupportedMediaType(contentType)
	}
	var dec runtime.Decoder
	switch media {
	case mediaJSON:
		dec = strictJSON
	case mediaYAML, "application/x-yaml", "text/yaml":
		dec = strictYAML
	case mediaProtobuf:
		dec = protoCodec
	default:
		return unsupportedMediaType(contentType)
	}
	obj, got, err := dec.Decode(body, &gvk, into)
	if err != nil {
		if strictErr, ok := runtime.AsStrictDecodingError(err); ok && obj != nil {
			switch validation {
			case validationIgnore:
				err = nil
			case validationWarn:
				for _, e := range strictErr.Errors() {
					w.add(e.Error())
				}
				err = nil
			}
		}
		if err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err))
		}
	}
	if got != nil && (got.Kind != gvk.Kind || got.GroupVersion() != gvk.GroupVersion()) {
		if got.GroupVersion() != gvk.GroupVersion() {
			return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), gvk.GroupVersion()))
		}
		return apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", got.Kind, gvk.Kind))
	}
	into.GetObjectKind().SetGroupVersionKind(gvk)
	return nil
}

// decodeJSONStrictness decodes JSON produced by a patch into obj and reports
// unknown fields according to the validation level.
func decodeJSONStrictness(data []byte, gvk schema.GroupVersionKind, into runtime.Object, validation string, w *warnings) error {
	return decodeObject(mediaJSON, data, gvk, into, validation, w)
}

func unsupportedMediaType(ct string) error {
	return apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "", fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s", mediaJSON, mediaYAML, mediaProtobuf), 0, false)
}

// warnings collects the Warning headers of a response.
type warnings struct{ list []string }

func (w *warnings) add(msg string) {
	if w != nil {
		w.list = append(w.list, msg)
	}
}

// write sets one `Warning: 299 - "..."` header per warning, which kubectl
// prints as "Warning: ..." on stderr.
func (w *warnings) write(h http.Header) {
	if w == nil {
		return
	}
	for _, msg := range w.list {
		h.Add("Warning", "299 - "+strconv.Quote(msg))
	}
}

// output describes what the client asked to get back in its Accept header.
type output struct {
	As        string // "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
	YAML      bool
	TableVer  string // v1 or v1beta1
	MediaType string // what goes into Content-Type
}

// negotiate picks the first media type of the Accept header the server can
// produce. Clients list alternatives in order of preference; kubectl get asks
// for `application/json;as=Table;v=v1;g=meta.k8s.io, ..., application/json`.
func negotiate(r *http.Request) (output, error) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return output{MediaType: mediaJSON}, nil
	}
	for _, clause := range strings.Split(accept, ",") {
		media, params, err := mime.ParseMediaType(strings.TrimSpace(clause))
		if err != nil {
			continue
		}
		switch media {
		case mediaJSON, "*/*", "application/*", mediaYAML:
		default:
			continue
		}
		out := output{YAML: media == mediaYAML, MediaType: mediaJSON}
		if out.YAML {
			out.MediaType = mediaYAML
		}
		if as := params["as"]; as != "" {
			if params["g"] != "meta.k8s.io" {
				continue
			}
			v := params["v"]
			switch {
			case as == "Table" && (v == "v1" || v == "v1beta1"):
				out.As, out.TableVer = as, v
			case (as == "PartialObjectMetadata" || as == "PartialObjectMetadataList") && (v == "v1" || v == "v1beta1"):
				out.As, out.TableVer = as, v
			default:
				continue
			}
			out.MediaType = fmt.Sprintf("%s;as=%s;v=%s;g=meta.k8s.io", media, as, v)
		}
		return out, nil
	}
	return output{}, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "", "only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io", 0, false)
}

// writeObject writes obj as JSON (or YAML) with the given HTTP status.
func writeObject(w http.ResponseWriter, code int, obj interface{}, out output) {
	var body []byte
	var err error
	if out.YAML {
		body, err = yaml.Marshal(obj)
	} else {
		body, err = json.Marshal(obj)
	}
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"code":500}`, err.Error()))
	}
	ct := out.MediaType
	if ct == "" {
		ct = mediaJSON
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(code)
	w.Write(body)
	if !out.YAML {
		w.Write([]byte("\n"))
	}
}

// writeError answers with a Kubernetes Status object, the form kubectl
// turns into "Error from server (NotFound): services "x" not found".
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := errorStatus(err)
	writeObject(w, int(status.Code), status, output{MediaType: mediaJSON})
}

func errorStatus(err error) *metav1.Status {
	var apiStatus apierrors.APIStatus
	if errors.As(err, &apiStatus) {
		st := apiStatus.Status()
		st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
		if st.Code == 0 {
			st.Code = http.StatusInternalServerError
		}
		return &st
	}
	st := apierrors.NewInternalError(err).Status()
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	return &st
}
