package apiserver

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// LoadOrCreateToken returns the lab's admin bearer token, kept in a 0600 file
// in the data dir so that kubeconfigs written earlier keep working.
func LoadOrCreateToken(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(buf)
	return tok, os.WriteFile(path, []byte(tok+"\n"), 0o600)
}

// publicPaths may be read without credentials, as the system:public-info-viewer
// role allows on a kubeadm cluster: health checks and the version (which the
// kubectl dispatcher asks before it has chosen a client).
var publicPaths = map[string]bool{
	"/healthz": true, "/livez": true, "/readyz": true, "/version": true,
}

// authenticate lets a request through when it carries the lab's bearer token
// (or, for the in-process clients, arrives on the trusted local listener), and
// answers 401 Unauthorized, as kube-apiserver does, otherwise.
func (s *Server) authenticate(trusted bool, next http.Handler) http.Handler {
	want := []byte("Bearer " + s.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if trusted || publicPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		got := []byte(r.Header.Get("Authorization"))
		if len(got) == len(want) && subtle.ConstantTimeCompare(got, want) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
	})
}
