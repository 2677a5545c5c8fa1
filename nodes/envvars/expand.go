package envvars

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Expand replaces $(NAME) references in s with the values lookup knows, by
// Kubernetes' rules for env values, command and args:
//
//   - $(NAME) becomes NAME's value; a NAME lookup does not know stays
//     $(NAME), as written;
//   - $$ is an escaped $: "$$(NAME)" becomes the literal "$(NAME)";
//   - anything else stays as written: a lone $, $NAME, ${NAME}, and a
//     $( that is never closed.
//
// A value is not expanded again, so a variable whose value contains $(X)
// brings that text along.
func Expand(s string, lookup func(name string) (string, bool)) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		rest := s[i+1:]
		switch rest[0] {
		case '$':
			b.WriteByte('$')
			s = rest[1:]
		case '(':
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				// Never closed: keep "$(" and go on after it.
				b.WriteString("$(")
				s = rest[1:]
				continue
			}
			name := rest[1:end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			s = rest[end+1:]
		default:
			b.WriteByte('$')
			s = rest
		}
	}
}

// ExpandCommandAndArgs expands $(NAME) references in a container's command
// and args with its final environment (KEY=VALUE entries, as Resolve
// returns), as the kubelet does before starting the container.
func ExpandCommandAndArgs(c *corev1.Container, env []string) (command, args []string) {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	lookup := func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
	for _, s := range c.Command {
		command = append(command, Expand(s, lookup))
	}
	for _, s := range c.Args {
		args = append(args, Expand(s, lookup))
	}
	return command, args
}
