package apiserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// PKI is the lab's certificate authority and the API server's serving
// certificate, kept in <data-dir>/pki like kubeadm keeps /etc/kubernetes/pki.
type PKI struct {
	Dir    string
	CACert *x509.Certificate
	CAPEM  []byte
	caKey  *ecdsa.PrivateKey
	// Serving is the API server's certificate and key.
	Serving tls.Certificate
}

// Subject alternative names every API server certificate carries: the names
// by which pods reach the API through the `kubernetes` Service, as kubeadm's.
var defaultDNSNames = []string{
	"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
	"kubernetes.default.svc.cluster.local",
}

// EnsurePKI loads the CA and serving certificate from dir, creating them on
// first use. The serving certificate is re-issued (by the same CA, so
// kubeconfigs stay valid) when it lacks one of the wanted IPs or names, or is
// about to expire.
func EnsurePKI(dir string, ips []net.IP, dnsNames []string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &PKI{Dir: dir}
	if err := p.loadOrCreateCA(); err != nil {
		return nil, err
	}
	dnsNames = append(append([]string(nil), defaultDNSNames...), dnsNames...)
	certPath, keyPath := filepath.Join(dir, "apiserver.crt"), filepath.Join(dir, "apiserver.key")
	if cert, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && p.servingCertFits(cert, ips, dnsNames) {
		p.Serving = cert
		return p, nil
	}
	if err := p.issueServing(certPath, keyPath, ips, dnsNames); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *PKI) loadOrCreateCA() error {
	certPath, keyPath := filepath.Join(p.Dir, "ca.crt"), filepath.Join(p.Dir, "ca.key")
	certPEM, errCert := os.ReadFile(certPath)
	keyPEM, errKey := os.ReadFile(keyPath)
	if errCert == nil && errKey == nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("the lab CA in %s is unreadable (%v); remove that directory to start afresh", p.Dir, err)
		}
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok {
			return fmt.Errorf("the lab CA key in %s is not an ECDSA key", keyPath)
		}
		cert, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return err
		}
		p.CACert, p.CAPEM, p.caKey = cert, certPEM, key
		return nil
	}
	if !errors.Is(errCert, os.ErrNotExist) && errCert != nil {
		return errCert
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "minilab-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	cert, certPEM, key, err := issue(tmpl, nil, nil, certPath, keyPath)
	if err != nil {
		return err
	}
	p.CACert, p.CAPEM, p.caKey = cert, certPEM, key
	return nil
}

func (p *PKI) servingCertFits(cert tls.Certificate, ips []net.IP, dnsNames []string) bool {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || time.Until(leaf.NotAfter) < 30*24*time.Hour {
		return false
	}
	if leaf.CheckSignatureFrom(p.CACert) != nil {
		return false
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	for _, n := range dnsNames {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	return true
}

func (p *PKI) issueServing(certPath, keyPath string, ips []net.IP, dnsNames []string) error {
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips,
		DNSNames:    dnsNames,
	}
	_, certPEM, key, err := issue(tmpl, p.CACert, p.caKey, certPath, keyPath)
	if err != nil {
		return err
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	p.Serving, err = tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	return err
}

// issue creates a key and a certificate from tmpl, signed by parent (nil:
// self-signed), and writes both (the key 0600).
func issue(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, certPath, keyPath string) (*x509.Certificate, []byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl.SerialNumber = serial()
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeKey(keyPath, key); err != nil {
		return nil, nil, nil, err
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return nil, nil, nil, err
	}
	return cert, certPEM, key, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
