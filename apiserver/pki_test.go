package apiserver

import (
	"bytes"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestPKIIsKeptAndReissuedForNewAddresses(t *testing.T) {
	dir := t.TempDir()
	first, err := EnsurePKI(dir, []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(first.Serving.Certificate[0])
	if err := leaf.VerifyHostname("kubernetes.default.svc"); err != nil {
		t.Errorf("serving certificate lacks the in-cluster names: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "ca.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %v", st.Mode())
	}
	again, _ := EnsurePKI(dir, []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if !bytes.Equal(again.Serving.Certificate[0], first.Serving.Certificate[0]) || !bytes.Equal(again.CAPEM, first.CAPEM) {
		t.Error("a second start re-issued certificates it did not need to")
	}
	wider, _ := EnsurePKI(dir, []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("172.30.0.2")}, nil)
	if !bytes.Equal(wider.CAPEM, first.CAPEM) {
		t.Fatal("the CA changed: existing kubeconfigs would stop working")
	}
	leaf, _ = x509.ParseCertificate(wider.Serving.Certificate[0])
	pool := x509.NewCertPool()
	pool.AddCert(first.CACert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool}); err != nil || leaf.VerifyHostname("172.30.0.2") != nil {
		t.Fatalf("re-issued certificate: %v / %v", err, leaf.VerifyHostname("172.30.0.2"))
	}
}
