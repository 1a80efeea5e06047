//go:build unix

package exttest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"embed"
	"encoding/json"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyhold/keyhold/internal/browsertest"
)

//go:embed pages
var pagesFS embed.FS

// Hosts are the names the test pages are served under; the test
// certificate covers them all, and Chromium resolves every one to
// 127.0.0.1.
func Hosts() []string {
	return []string{
		"bank.test", "login.bank.test", "other.bank.test", // a site and two of its subdomains
		"bank-test.test", "xn--bnk-6cd.test", // lookalikes of bank.test (the second is bаnk.test with a Cyrillic а)
		"evil.test",                  // a page that is up to no good
		"a.github.io", "b.github.io", // two sites under a public suffix
		"new.test", "shop.test", "nosave.test", "synced.test", // save on submit, update on submit
		// One site per test, so that the fill shortcut's best candidate is
		// the test's own login.
		"plain.test", "steps.test", "shadow.test", "otp.test", "hidden.test",
		"click.test", "locked.test", "copy.test", "keys.test", "kbd.test", "signup.test", "bench.test",
	}
}

// Report is one thing a test page saw: an event on a field, a value read
// by polling, an attribute change, or a page's own note.
type Report struct {
	Kind    string  `json:"kind"`    // input, change, keydown, poll, attr, ready, note …
	Field   string  `json:"field"`   // the field's id or name
	Value   string  `json:"value"`   // the value seen
	Trusted bool    `json:"trusted"` // the event's isTrusted
	Origin  string  `json:"origin"`  // location.origin of the reporting document
	Path    string  `json:"path"`    // location.pathname
	T       float64 `json:"t"`       // the page's clock (ms since the epoch)
	// Received is when the test server got the report.
	Received time.Time `json:"-"`
}

// Server serves the test pages over HTTPS, and over plain HTTP on the
// same port (an http:// page has the very same host and port as its
// https:// twin, so only the scheme differs), and collects their reports.
type Server struct {
	Port int
	SPKI string // browsertest.SPKIHash of its certificate
	ln   net.Listener
	srv  *http.Server
	tls  *tls.Config

	mu      sync.Mutex
	reports []Report
	notify  chan struct{}
}

// StartServer listens on a free loopback port.
func StartServer() (*Server, error) {
	cert, spki, err := testCertificate()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Port: ln.Addr().(*net.TCPAddr).Port, SPKI: spki, ln: ln, notify: make(chan struct{})}
	s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	mux := http.NewServeMux()
	sub, _ := fs.Sub(pagesFS, "pages")
	files := http.FileServer(http.FS(sub))
	mux.HandleFunc("POST /report", s.report)
	mux.HandleFunc("POST /done", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>Signed in</title><script src="/rec.js"></script><h1>Signed in</h1>`)
	})
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	}))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go s.srv.Serve(&sniffListener{Listener: ln, tls: s.tls})
	return s, nil
}

// URL is https://host:port/path.
func (s *Server) URL(host, path string) string {
	return "https://" + host + ":" + strconv.Itoa(s.Port) + path
}

// HTTPURL is http://host:port/path: the same server, no TLS.
func (s *Server) HTTPURL(host, path string) string {
	return "http://" + host + ":" + strconv.Itoa(s.Port) + path
}

// Origin is https://host:port, as saved in a login's URL.
func (s *Server) Origin(host string) string { return s.URL(host, "") }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	var batch []Report
	if err := json.Unmarshal(body, &batch); err != nil {
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for i := range batch {
		batch[i].Received = now
	}
	s.reports = append(s.reports, batch...)
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Mark is the number of reports so far: Since(Mark()) are the later ones.
func (s *Server) Mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reports)
}

// Since are the reports after mark.
func (s *Server) Since(mark int) []Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Report(nil), s.reports[mark:]...)
}

// WaitFor waits until a report after mark satisfies ok and returns it.
func (s *Server) WaitFor(mark int, timeout time.Duration, ok func(Report) bool) (Report, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := mark
	for {
		s.mu.Lock()
		for ; seen < len(s.reports); seen++ {
			if ok(s.reports[seen]) {
				r := s.reports[seen]
				s.mu.Unlock()
				return r, true
			}
		}
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return Report{}, false
		}
	}
}

// Containing are the reports after mark whose value contains any of
// secrets (empty secrets are ignored).
func (s *Server) Containing(mark int, secrets ...string) []Report {
	var out []Report
	for _, r := range s.Since(mark) {
		for _, sec := range secrets {
			if sec != "" && strings.Contains(r.Value, sec) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// testCertificate makes a self-signed certificate for every test host.
func testCertificate() (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "keyhold extension tests"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     Hosts(),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, browsertest.SPKIHash(cert), nil
}

// sniffListener hands out TLS connections for clients that start with a
// TLS handshake and plain ones for the others.
type sniffListener struct {
	net.Listener
	tls *tls.Config
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, cfg: l.tls}, nil
}

// sniffConn decides on its first Read whether it speaks TLS.
type sniffConn struct {
	net.Conn
	cfg  *tls.Config
	once sync.Once
	r    io.Reader
	tls  *tls.Conn
	err  error
}

func (c *sniffConn) init() {
	c.once.Do(func() {
		br := bufio.NewReader(c.Conn)
		c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		first, err := br.Peek(1)
		c.Conn.SetReadDeadline(time.Time{})
		if err != nil {
			c.err = err
			return
		}
		pc := &peekedConn{Conn: c.Conn, r: br}
		if first[0] == 0x16 { // a TLS handshake record
			c.tls = tls.Server(pc, c.cfg)
			c.r = c.tls
			return
		}
		c.r = pc
	})
}

func (c *sniffConn) Read(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	return c.r.Read(p)
}

func (c *sniffConn) Write(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	if c.tls != nil {
		return c.tls.Write(p)
	}
	return c.Conn.Write(p)
}

func (c *sniffConn) Close() error {
	if c.tls != nil {
		return c.tls.Close()
	}
	return c.Conn.Close()
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
