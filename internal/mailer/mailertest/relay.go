// Package mailertest runs a real SMTP relay on loopback for tests of the
// kit mailer: go-smtp with a certificate from a test authority made at
// test time, requiring TLS (STARTTLS or implicit) and AUTH PLAIN before
// it takes mail, or, to test refusals, offering no TLS at all.
package mailertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mode is how a relay speaks TLS.
type Mode int

const (
	STARTTLS Mode = iota // offers STARTTLS and requires it before AUTH and MAIL
	NoTLS                // offers no TLS at all, and AUTH in the clear
	Implicit             // TLS from the first byte (like port 465)
)

// The credentials every relay accepts.
const (
	User     = "keyhold-mailer"
	Password = "relay-secret-7"
)

// Relay is a running SMTP server on 127.0.0.1.
type Relay struct {
	Port  int
	CA    *x509.CertPool // the authority that signed its certificate
	CAPEM []byte         // the same, PEM

	srv     *smtp.Server
	mu      sync.Mutex
	msgs    []Message
	auths   int
	tls     []bool
	arrived chan struct{}
}

// Message is one mail the relay accepted.
type Message struct {
	From string
	To   []string
	Data []byte
	TLS  bool // whether it came over TLS
}

// Start runs a relay until the test ends.
func Start(t testing.TB, mode Mode) *Relay {
	t.Helper()
	caPEM, pool, cert := Certificate(t)
	r := &Relay{CA: pool, CAPEM: caPEM, arrived: make(chan struct{}, 1000)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{r: r, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.ErrorLog = nopLogger{}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	var ln net.Listener
	var err error
	switch mode {
	case STARTTLS:
		srv.TLSConfig = tlsConf
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	case NoTLS:
		srv.AllowInsecureAuth = true
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	case Implicit:
		srv.TLSConfig = tlsConf
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tlsConf)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.srv, r.Port = srv, ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r
}

// Wait returns the next mail to arrive, failing the test after d.
func (r *Relay) Wait(t testing.TB, d time.Duration) Message {
	t.Helper()
	select {
	case <-r.arrived:
	case <-time.After(d):
		t.Fatalf("no mail arrived within %s", d)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs[len(r.msgs)-1]
}

// Count is how many mails the relay has accepted.
func (r *Relay) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// Auths is how many AUTH attempts the relay has seen, right or wrong.
func (r *Relay) Auths() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.auths
}

// MailTLS says, for each MAIL command received, whether it came over TLS.
func (r *Relay) MailTLS() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.tls...)
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

type session struct {
	r      *Relay
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	s.r.mu.Lock()
	s.r.auths++
	s.r.mu.Unlock()
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != User || pass != Password {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	_, isTLS := s.conn.TLSConnectionState()
	s.r.mu.Lock()
	s.r.tls = append(s.r.tls, isTLS)
	s.r.mu.Unlock()
	if s.r.srv.TLSConfig != nil && !isTLS {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	}
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(rd io.Reader) error {
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, Message{From: s.from, To: s.to, Data: b, TLS: isTLS})
	s.r.mu.Unlock()
	s.r.arrived <- struct{}{}
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// Certificate makes a test authority and a certificate it signs for
// 127.0.0.1 and localhost. It returns the authority (PEM and as a pool)
// and the certificate with its key.
func Certificate(t testing.TB) ([]byte, *x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyhold mailer test authority"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Messages returns every mail the relay has accepted, oldest first.
func (r *Relay) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}
