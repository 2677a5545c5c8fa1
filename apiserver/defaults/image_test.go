package defaults

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestImagePullPolicy(t *testing.T) {
	sha := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},                     // no tag means :latest
		{"nginx:latest", corev1.PullAlways},              // written :latest
		{"nginx:1.25", corev1.PullIfNotPresent},          // any other tag
		{"registry:5000/x", corev1.PullAlways},           // a port is not a tag
		{"registry:5000/x:1.0", corev1.PullIfNotPresent}, // port and tag
		{"localhost:5000/team/app:latest", corev1.PullAlways},
		{"[::1]:5000/x", corev1.PullAlways},
		{"x@" + sha, corev1.PullIfNotPresent},     // pinned by digest only
		{"x:latest@" + sha, corev1.PullAlways},    // the tag still says latest
		{"x:1.0@" + sha, corev1.PullIfNotPresent}, // tag and digest
		{"gcr.io/google-samples/hello-app:1.0", corev1.PullIfNotPresent},
		{"quay.io/qxu/spring-boot-whoami", corev1.PullAlways},
		{"docker.io/library/busybox:latest", corev1.PullAlways},
		{"Registry.Example.com/x", corev1.PullAlways}, // upper case is fine in the domain
		// References that do not parse get IfNotPresent (validation rejects them separately).
		{"", corev1.PullIfNotPresent},
		{"NGINX", corev1.PullIfNotPresent},
		{"x:latest@sha256:abc", corev1.PullIfNotPresent},                         // digest too short
		{"x:latest@md5:" + strings.Repeat("a", 32), corev1.PullIfNotPresent},     // unknown algorithm
		{"x:latest@sha256:" + strings.Repeat("AB", 32), corev1.PullIfNotPresent}, // upper-case hex
		{strings.Repeat("a", 64), corev1.PullIfNotPresent},                       // an image ID
		{"x:" + strings.Repeat("t", 129), corev1.PullIfNotPresent},               // tag too long
		{strings.Repeat("a", 256), corev1.PullIfNotPresent},                      // name too long
		{"nginx:", corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: tt.image}}}}
			Default(pod)
			if got := pod.Spec.Containers[0].ImagePullPolicy; got != tt.want {
				t.Errorf("imagePullPolicy for %q = %s, want %s", tt.image, got, tt.want)
			}
		})
	}
}

func TestImagePullPolicyIsNotOverwritten(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "c", Image: "nginx", ImagePullPolicy: corev1.PullNever},
	}}}
	Default(pod)
	if got := pod.Spec.Containers[0].ImagePullPolicy; got != corev1.PullNever {
		t.Errorf("imagePullPolicy = %s, want the client's Never", got)
	}
}
