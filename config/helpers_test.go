package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/attrcache/attrcache/config"
)

// writeFile writes content to name in a fresh temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// keyErrors returns every *config.KeyError in err, which may be joined.
func keyErrors(err error) []*config.KeyError {
	var out []*config.KeyError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		var ke *config.KeyError
		if errors.As(err, &ke) {
			out = append(out, ke)
		}
	}
	walk(err)
	return out
}

// errorKeys returns the keys err names, sorted, without repeats.
func errorKeys(err error) []string {
	var keys []string
	for _, ke := range keyErrors(err) {
		keys = append(keys, ke.Key)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// wantKeyError fails unless err holds a KeyError for key, and returns it.
func wantKeyError(t *testing.T, err error, key string) *config.KeyError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %s", key)
	}
	if !errors.Is(err, config.ErrInvalid) {
		t.Errorf("error %q does not wrap config.ErrInvalid", err)
	}
	for _, ke := range keyErrors(err) {
		if ke.Key == key {
			return ke
		}
	}
	t.Fatalf("error does not name %s:\n%v", key, err)
	return nil
}

// testPKI is a CA and a server/client certificate it signed, as PEM
// files in a temporary directory.
type testPKI struct {
	CAFile, CertFile, KeyFile string
	CA                        *x509.Certificate
	Leaf                      *x509.Certificate
}

// newTestPKI generates a CA and a certificate for localhost and
// 127.0.0.1, usable by a server and by a client.
func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "attrcache test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}

	p := &testPKI{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
		CA:       ca,
		Leaf:     leaf,
	}
	for path, block := range map[string]*pem.Block{
		p.CAFile:   {Type: "CERTIFICATE", Bytes: caDER},
		p.CertFile: {Type: "CERTIFICATE", Bytes: leafDER},
		p.KeyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}
