package validation

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
)

// kube-apiserver validates its *internal* types (packages named core, apps,
// discovery) while we validate the versioned k8s.io/api types. field.Error
// prints struct and slice values with %#v, so the same mistake would read
// "v1.ServicePort{...}" here and "core.ServicePort{...}" from a real server.
// asInternal wraps such a value so that it prints with the internal package
// name; only type names that belong to the value's own API package are
// renamed (metav1.Time stays "v1.Time", as it does upstream).
func asInternal(v any, internalPkg string) fmt.Stringer {
	return internalValue{v: v, pkg: internalPkg}
}

type internalValue struct {
	v   any
	pkg string
}

func (iv internalValue) String() string {
	v := iv.v
	// field.Error prints what a pointer points to; so do we.
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "null"
		}
		v = rv.Elem().Interface()
	}
	text := fmt.Sprintf("%#v", v)
	t := reflect.TypeOf(v)
	if t == nil {
		return text
	}
	names := apiTypeNames(t)
	if len(names) == 0 {
		return text
	}
	sort.Strings(names)
	re := regexp.MustCompile(`\bv1\.(` + strings.Join(names, "|") + `)\b`)
	return re.ReplaceAllString(text, iv.pkg+".$1")
}

// apiTypeNames lists the named types reachable from t that are declared in
// the same package as t's element type (k8s.io/api/<group>/v1).
func apiTypeNames(t reflect.Type) []string {
	root := elem(t).PkgPath()
	if !strings.HasPrefix(root, "k8s.io/api/") {
		return nil
	}
	seen := map[reflect.Type]bool{}
	var names []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		if seen[t] {
			return
		}
		seen[t] = true
		if t.PkgPath() == root && t.Name() != "" {
			names = append(names, t.Name())
		}
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(t.Elem())
		case reflect.Map:
			walk(t.Key())
			walk(t.Elem())
		case reflect.Struct:
			for i := 0; i < t.NumField(); i++ {
				walk(t.Field(i).Type)
			}
		}
	}
	walk(t)
	return names
}

func elem(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	return t
}
