//go:build unix

package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/rogpeppe/go-internal/testscript"
)

// The scripts in testdata/mail run keyhold-server, keyhold-mailer and a
// real SMTP server (go-smtp, in the test process) that requires STARTTLS
// with a certificate from a test authority and AUTH, and check what
// arrives with independent tools: pdftoppm and zbarimg for the kit's QR
// code, gpg for PGP/MIME, age for age-encrypted attachments.

var mailerBin struct {
	once sync.Once
	path string
	err  error
}

func buildMailer(t *testing.T) string {
	mailerBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "keyhold-mailer-bin-")
		if err != nil {
			mailerBin.err = err
			return
		}
		path := filepath.Join(dir, "keyhold-mailer")
		cmd := exec.Command("go", "build", "-o", path, "github.com/keyhold/keyhold/cmd/keyhold-mailer")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			mailerBin.err = fmt.Errorf("building keyhold-mailer: %v\n%s", err, out)
			return
		}
		mailerBin.path = path
	})
	if mailerBin.err != nil {
		t.Fatal(mailerBin.err)
	}
	return mailerBin.path
}

func TestMailScripts(t *testing.T) {
	for _, tool := range []string{"gpg", "age", "pdftoppm", "zbarimg"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing (scripts/deps.sh installs it)", tool)
			}
			t.Skipf("%s is missing (scripts/deps.sh installs it)", tool)
		}
	}
	sbin := buildServer(t)
	mbin := buildMailer(t)
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(sbin)); os.RemoveAll(filepath.Dir(mbin)) })
	servers := &serverSet{procs: map[string]*serverProc{}}
	mailers := &serverSet{procs: map[string]*serverProc{}, bin: mbin, noData: true}
	smtps := &smtpSet{servers: map[string]*smtpServer{}}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/mail",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			if err := setup(env); err != nil {
				return err
			}
			env.Setenv("PATH", filepath.Dir(sbin)+string(os.PathListSeparator)+filepath.Dir(mbin)+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("BACKEND", "sqlite")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
			"capture":  cmdCapture,
			"jsonget":  cmdJSONGet,
			"streq":    cmdStrEq,
			"server":   servers.cmd,
			"mailer":   mailers.cmd,
			"smtpd":    smtps.cmd,
			"mailwait": smtps.wait,
			"mimepart": cmdMIMEPart,
			"sleep":    cmdSleep,
		},
	})
}

// smtpServer is a real SMTP server on loopback that keeps every message
// as a file NAME-mail/N.eml in the script's work directory.
type smtpServer struct {
	srv  *smtp.Server
	ln   net.Listener
	dir  string
	mu   sync.Mutex
	n    int
	user string
	pass string
}

type smtpSet struct {
	mu      sync.Mutex
	servers map[string]*smtpServer
}

// smtpd start NAME [starttls|none|implicit] [trusted|untrusted]
//
//	starts an SMTP server on 127.0.0.1 with a certificate from a new test
//	authority and sets $NAME_PORT, $NAME_CA (the authority's PEM file),
//	$NAME_USER and $NAME_PASSFILE (AUTH PLAIN credentials). "starttls"
//	(default) offers and requires STARTTLS before MAIL and AUTH; "none"
//	offers no TLS at all; "implicit" speaks TLS from the first byte.
//	"untrusted" gives $NAME_CA a different authority than the one that
//	signed the server's certificate.
func (s *smtpSet) cmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || args[0] != "start" {
		ts.Fatalf("usage: smtpd start NAME [starttls|none|implicit] [trusted|untrusted]")
	}
	name := args[1]
	mode, trust := "starttls", "trusted"
	for _, a := range args[2:] {
		switch a {
		case "starttls", "none", "implicit":
			mode = a
		case "trusted", "untrusted":
			trust = a
		default:
			ts.Fatalf("smtpd: unknown option %q", a)
		}
	}
	caPEM, cert, err := testCertificate()
	if err != nil {
		ts.Fatalf("smtpd: %v", err)
	}
	if trust == "untrusted" {
		if caPEM, _, err = testCertificate(); err != nil {
			ts.Fatalf("smtpd: %v", err)
		}
	}
	caFile := ts.MkAbs(name + "-ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		ts.Fatalf("%v", err)
	}
	passFile := ts.MkAbs(name + "-smtp-password")
	if err := os.WriteFile(passFile, []byte("relay-secret-9\n"), 0o600); err != nil {
		ts.Fatalf("%v", err)
	}
	ss := &smtpServer{dir: ts.MkAbs(name + "-mail"), user: "keyhold-mailer", pass: "relay-secret-9"}
	if err := os.MkdirAll(ss.dir, 0o700); err != nil {
		ts.Fatalf("%v", err)
	}
	srv := smtp.NewServer(&smtpBackend{ss: ss})
	srv.Domain = "localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.AllowInsecureAuth = false
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	var ln net.Listener
	switch mode {
	case "starttls":
		srv.TLSConfig = tlsConf
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	case "none":
		srv.AllowInsecureAuth = true
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	case "implicit":
		srv.TLSConfig = tlsConf
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tlsConf)
	}
	if err != nil {
		ts.Fatalf("smtpd: %v", err)
	}
	ss.srv, ss.ln = srv, ln
	go srv.Serve(ln)
	s.mu.Lock()
	s.servers[fmt.Sprintf("%p/%s", ts, name)] = ss
	s.mu.Unlock()
	key := fmt.Sprintf("%p/%s", ts, name)
	ts.Defer(func() {
		srv.Close()
		s.mu.Lock()
		delete(s.servers, key)
		s.mu.Unlock()
	})
	ts.Setenv(name+"_PORT", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	ts.Setenv(name+"_CA", caFile)
	ts.Setenv(name+"_USER", ss.user)
	ts.Setenv(name+"_PASSFILE", passFile)
}

// mailwait NAME N TIMEOUT
// waits until the SMTP server NAME has received N messages (exactly N: a
// later message fails the wait), or fails after TIMEOUT.
func (s *smtpSet) wait(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: mailwait NAME N TIMEOUT")
	}
	s.mu.Lock()
	ss := s.servers[fmt.Sprintf("%p/%s", ts, args[0])]
	s.mu.Unlock()
	if ss == nil {
		ts.Fatalf("no smtpd %s", args[0])
	}
	want, _ := strconv.Atoi(args[1])
	d, err := time.ParseDuration(args[2])
	if err != nil {
		ts.Fatalf("mailwait: %v", err)
	}
	deadline := time.Now().Add(d)
	for {
		ss.mu.Lock()
		n := ss.n
		ss.mu.Unlock()
		if n > want {
			ts.Fatalf("smtpd %s received %d messages, want %d", args[0], n, want)
		}
		if n == want {
			if neg {
				ts.Fatalf("smtpd %s received %d messages", args[0], n)
			}
			return
		}
		if time.Now().After(deadline) {
			if neg {
				return
			}
			ts.Fatalf("smtpd %s received %d messages within %s, want %d", args[0], n, d, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type smtpBackend struct{ ss *smtpServer }

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{ss: b.ss, conn: c}, nil
}

type smtpSession struct {
	ss     *smtpServer
	conn   *smtp.Conn
	authed bool
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.ss.user || password != s.ss.pass {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.ss.srv.TLSConfig != nil {
		if _, ok := s.conn.TLSConnectionState(); !ok {
			return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
		}
	}
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (s *smtpSession) Rcpt(to string, opts *smtp.RcptOptions) error { return nil }

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ss.mu.Lock()
	defer s.ss.mu.Unlock()
	s.ss.n++
	return os.WriteFile(filepath.Join(s.ss.dir, fmt.Sprintf("%d.eml", s.ss.n)), b, 0o600)
}

func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

// testCertificate makes a test authority and a certificate it signs for
// 127.0.0.1 and localhost.
func testCertificate() ([]byte, tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyhold test authority"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return caPEM, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// mimepart FILE TYPE OUT
// writes the body (transfer-decoded) of the first MIME part of message
// FILE whose Content-Type is TYPE (searching nested multiparts) to OUT.
// TYPE "file:NAME" picks the part whose file name is NAME instead.
func cmdMIMEPart(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: mimepart FILE TYPE OUT")
	}
	raw, err := os.ReadFile(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		ts.Fatalf("mimepart: %s is not a mail message: %v", args[0], err)
	}
	body, found, err := findPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Disposition"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, args[1])
	if err != nil {
		ts.Fatalf("mimepart: %v", err)
	}
	if neg {
		if found {
			ts.Fatalf("mimepart: %s has a %s part", args[0], args[1])
		}
		return
	}
	if !found {
		ts.Fatalf("mimepart: %s has no %s part", args[0], args[1])
	}
	if err := os.WriteFile(ts.MkAbs(args[2]), body, 0o600); err != nil {
		ts.Fatalf("%v", err)
	}
}

func findPart(ctype, disp, cte string, r io.Reader, want string) ([]byte, bool, error) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil, false, nil
			}
			if err != nil {
				return nil, false, err
			}
			b, found, err := findPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Disposition"), p.Header.Get("Content-Transfer-Encoding"), p, want)
			if err != nil || found {
				return b, found, err
			}
		}
	}
	if file, ok := strings.CutPrefix(want, "file:"); ok {
		_, dp, _ := mime.ParseMediaType(disp)
		if dp["filename"] != file && params["name"] != file {
			return nil, false, nil
		}
	} else if mt != want {
		return nil, false, nil
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, false, err
	}
	switch strings.ToLower(cte) {
	case "base64":
		return decodeBase64Lines(b)
	case "quoted-printable":
		q, err := io.ReadAll(newQP(b))
		return q, true, err
	}
	return b, true, nil
}

func decodeBase64Lines(b []byte) ([]byte, bool, error) {
	clean := bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, b)
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	return out[:n], true, err
}

func newQP(b []byte) io.Reader { return quotedprintable.NewReader(bytes.NewReader(b)) }
