package envvars

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b", "EMPTY": "", "REF": "$(A)"}
	lookup := func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
	tests := []struct{ in, want string }{
		{"$(A)", "a"},
		{"$(A)-$(A)", "a-a"},
		{"__$(B)__", "__b__"},
		{"$(A)_$(B)", "a_b"},
		{"x$(EMPTY)y", "xy"},
		// Unknown names stay as written.
		{"$(NOPE)", "$(NOPE)"},
		// $$ escapes: the reference is written out literally.
		{"$$(A)_$(B)", "$(A)_b"},
		{"cost: $$5", "cost: $5"},
		{"$$$$$$(NOPE)", "$$$(NOPE)"},
		{"$$$$$$$(A)", "$$$a"},
		// Shell syntax is not Kubernetes syntax.
		{"$A ${A} $?", "$A ${A} $?"},
		{`\$(A)`, `\a`},
		// Unclosed and nested references are left alone.
		{"x$(A", "x$(A"},
		{"$(A)$(", "a$("},
		{"$($($(", "$($($("},
		{"$(A$(B))", "$(A$(B))"},
		// A lone $ at the end stays.
		{"$(A)$", "a$"},
		// Values are not expanded again.
		{"$(REF)", "$(A)"},
	}
	for _, tt := range tests {
		if got := Expand(tt.in, lookup); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExpandCommandAndArgs(t *testing.T) {
	c := &corev1.Container{
		Command: []string{"sh", "-c", "echo $(GREETING), $(NAME)"},
		Args:    []string{"$$(HOME)", "$(UNSET)", "$HOME"},
	}
	command, args := ExpandCommandAndArgs(c, []string{"GREETING=hello", "NAME=a=b"})
	if want := []string{"sh", "-c", "echo hello, a=b"}; !slices.Equal(command, want) {
		t.Errorf("command %q, want %q", command, want)
	}
	if want := []string{"$(HOME)", "$(UNSET)", "$HOME"}; !slices.Equal(args, want) {
		t.Errorf("args %q, want %q", args, want)
	}
}
