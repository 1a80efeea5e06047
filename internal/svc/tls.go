package svc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keyhold/keyhold/internal/atomicfile"
)

// The development certificate's files in DevCert.Dir.
const (
	DevCertFile = "dev-tls-cert.pem"
	DevKeyFile  = "dev-tls-key.pem"
)

// DevCert says how a service makes its development certificate (--dev-tls).
type DevCert struct {
	// Dir keeps the certificate across restarts, so that clients that
	// pinned its fingerprint keep working. "": it is made in memory at
	// each start and never written anywhere.
	Dir string
	// Name is the certificate's subject common name.
	Name string
	// Validity is how long a new certificate lasts. One kept in Dir is
	// replaced (with a new fingerprint) when less than a week is left.
	Validity time.Duration
}

// Certificate loads the development certificate from d.Dir, or makes one:
// ECDSA P-256, self-signed, for localhost, 127.0.0.1 and ::1. fp is the
// lowercase hex SHA-256 of the certificate's DER.
func (d DevCert) Certificate() (cert tls.Certificate, fp string, err error) {
	if d.Dir == "" {
		certPEM, keyPEM, err := d.make()
		if err != nil {
			return tls.Certificate{}, "", err
		}
		cert, err = tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return tls.Certificate{}, "", err
		}
		return cert, fingerprint(cert), nil
	}
	dir := d.Dir
	certPath, keyPath := filepath.Join(dir, DevCertFile), filepath.Join(dir, DevKeyFile)
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	switch {
	case err == nil && usableDevCert(cert):
		return cert, fingerprint(cert), nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return tls.Certificate{}, "", fmt.Errorf("development certificate in %s: %w (delete %s and %s to make a new one)", dir, err, DevCertFile, DevKeyFile)
	}
	certPEM, keyPEM, err := d.make()
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if err := atomicfile.Replace(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, "", err
	}
	if err := atomicfile.Replace(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, "", err
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	return cert, fingerprint(cert), nil
}

func usableDevCert(c tls.Certificate) bool {
	if len(c.Certificate) == 0 {
		return false
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return false
	}
	return time.Now().Add(7*24*time.Hour).Before(leaf.NotAfter) && leaf.VerifyHostname("localhost") == nil
}

func fingerprint(c tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return hex.EncodeToString(sum[:])
}

func (d DevCert) make() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: d.Name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(d.Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// TLSConfig is the server TLS configuration the transport flags ask for:
// nil for --insecure-http; with --dev-tls, dev's certificate, whose
// fingerprint is printed to stderr as "fingerprint: sha256:HEX" (clients
// pin it); with --tls-cert/--tls-key, those files, reloaded when they
// change.
func (t *Transport) TLSConfig(dev DevCert, stderr io.Writer) (*tls.Config, error) {
	switch {
	case t.DevTLS:
		cert, fp, err := dev.Certificate()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "fingerprint: sha256:%s\n", fp)
		return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
	case t.TLSCert != "":
		r, err := newCertReloader(t.TLSCert, t.TLSKey)
		if err != nil {
			return nil, err
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.get}, nil
	}
	return nil, nil
}

// certReloader serves the certificate in certFile/keyFile and loads it
// again when either file changes (checked at most once a minute), so a
// renewed certificate is used without a restart. If the new files do not
// load (say, the key is not written yet), the old certificate is kept and
// loading is tried again a minute later.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	mod     time.Time // newest modification time of the two files when loaded
	checked time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) modTime() (time.Time, error) {
	var newest time.Time
	for _, p := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return time.Time{}, err
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	return newest, nil
}

func (r *certReloader) load() error {
	mod, err := r.modTime()
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s with key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.mod = &c, mod
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) > time.Minute {
		r.checked = now
		if mod, err := r.modTime(); err == nil && mod.After(r.mod) {
			r.load() // on failure r.cert is unchanged
		}
	}
	return r.cert, nil
}
