// Package hostile is a tampering HTTPS proxy for tests: it sits between
// real keyhold devices and a real keyhold-server and plays the part of a
// server operator who lies. Each named attack rewrites what the server
// answers (or sends something no honest server would); the proxy counts
// every response it changed, so a test can tell an attack that took effect
// and was refused from one that never happened.
//
// The devices pin the proxy's self-signed certificate by its fingerprint,
// exactly as they pin a keyhold-server started with --dev-tls: to them the
// proxy is the server. Nothing here is used outside tests.
package hostile

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyhold/keyhold/internal/api"
)

// Proxy forwards every request to the upstream server and rewrites the
// answers according to the attack in force.
type Proxy struct {
	upstream *url.URL
	client   *http.Client
	srv      *http.Server
	ln       net.Listener
	url, fp  string

	mu       sync.Mutex
	attack   *attack
	args     []string
	rewrites int
	// What honest answers showed so far, for attacks that replay them.
	boxes    map[string]map[uint64][]byte // item id → revision → box
	keys     []api.Keys                   // every distinct keys answer, oldest first
	token    string                       // the last bearer token a device sent
	snapshot *snapshot
}

// snapshot is the server's state at one moment, as a device could fetch
// it: for a whole-database rollback.
type snapshot struct {
	changes api.ChangesResponse
	keys    api.Keys
}

// Start listens on a loopback port with a new self-signed certificate and
// forwards to upstream (plain http:// on loopback, as keyhold-server
// --insecure-http serves it).
func Start(upstream string) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	cert, der, err := selfSigned()
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	p := &Proxy{
		upstream: u,
		client:   &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		ln:       ln,
		url:      "https://" + ln.Addr().String(),
		fp:       api.Fingerprint(der),
		boxes:    map[string]map[uint64][]byte{},
	}
	// Devices that give up on an endless answer break connections: that
	// is expected, and not worth a log line in the test output.
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go p.srv.Serve(ln)
	return p, nil
}

func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "hostile keyhold-server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der, nil
}

// URL is the proxy's https:// URL, to give devices as their server.
func (p *Proxy) URL() string { return p.url }

// Fingerprint is the SHA-256 of the proxy's certificate, as devices pin it.
func (p *Proxy) Fingerprint() string { return p.fp }

// Close stops the proxy.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return p.srv.Shutdown(ctx)
}

// ErrUnknownAttack is returned by SetAttack for a name not in Attacks.
var ErrUnknownAttack = errors.New("unknown attack")

// SetAttack puts an attack in force ("off" or "" for none) and resets the
// count of rewrites.
func (p *Proxy) SetAttack(name string, args ...string) error {
	var a *attack
	if name != "" && name != "off" {
		var ok bool
		if a, ok = attacks[name]; !ok {
			return fmt.Errorf("%w %q (known: %s)", ErrUnknownAttack, name, strings.Join(Attacks(), ", "))
		}
		if len(args) < a.args {
			return fmt.Errorf("attack %s needs %d argument(s)", name, a.args)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attack, p.args, p.rewrites = a, args, 0
	return nil
}

// Rewrites is how many answers the attack in force has changed so far.
func (p *Proxy) Rewrites() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rewrites
}

// Attacks lists the names SetAttack accepts.
func Attacks() []string {
	var names []string
	for n := range attacks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Snapshot records the server's state now (every revision, the manifest
// and the keys), fetched with the last session token a device used, for
// the "rollback" attack to serve later.
func (p *Proxy) Snapshot(ctx context.Context) error {
	p.mu.Lock()
	tok := p.token
	p.mu.Unlock()
	if tok == "" {
		return errors.New("no device has used the proxy with a session yet")
	}
	cl, err := api.NewClient(p.upstream.String(), "")
	if err != nil {
		return err
	}
	cl.SetToken(tok)
	var s snapshot
	var since uint64
	for {
		page, err := cl.Changes(ctx, since, api.MaxPageSize)
		if err != nil {
			return err
		}
		s.changes.Changes = append(s.changes.Changes, page.Changes...)
		s.changes.Head, s.changes.KeyVersion = page.Head, page.KeyVersion
		s.changes.Manifest, s.changes.ManifestSeq = page.Manifest, page.ManifestSeq
		if !page.More || len(page.Changes) == 0 {
			break
		}
		since = page.Changes[len(page.Changes)-1].Seq
	}
	k, err := cl.Keys(ctx)
	if err != nil {
		return err
	}
	s.keys = *k
	p.mu.Lock()
	p.snapshot = &s
	p.mu.Unlock()
	return nil
}

// exchange is one request and the upstream's answer, as an attack sees
// and changes it.
type exchange struct {
	req    *http.Request
	body   []byte // the request body
	status int
	header http.Header
	resp   []byte // the answer's body
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqBody, err := io.ReadAll(io.LimitReader(r.Body, api.MaxRotateBody+1))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		p.mu.Lock()
		p.token = t
		p.mu.Unlock()
	}
	p.mu.Lock()
	a, args := p.attack, p.args
	p.mu.Unlock()
	if a != nil && a.serve != nil && a.match(r, args) {
		// Attacks that never ask the server: endless or huge answers, a
		// push swallowed (it reads the request's body).
		p.count()
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		a.serve(w, r, args)
		return
	}
	u := *p.upstream
	u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
	up, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(reqBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for _, h := range []string{"Authorization", "Content-Type", "Accept", "User-Agent", "Last-Event-ID"} {
		if v := r.Header.Get(h); v != "" {
			up.Header.Set(h, v)
		}
	}
	resp, err := p.client.Do(up)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		stream(w, resp)
		return
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	x := &exchange{req: r, body: reqBody, status: resp.StatusCode, header: resp.Header, resp: body}
	p.learn(x)
	if a != nil && a.rewrite != nil && a.match(r, args) {
		p.mu.Lock()
		changed := a.rewrite(p, x, args)
		if changed {
			p.rewrites++
		}
		p.mu.Unlock()
	}
	for k, vs := range x.header {
		if k == "Content-Length" {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(x.status)
	w.Write(x.resp)
}

func (p *Proxy) count() {
	p.mu.Lock()
	p.rewrites++
	p.mu.Unlock()
}

// stream passes a server-sent event stream through as it comes.
func stream(w http.ResponseWriter, resp *http.Response) {
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	f, _ := w.(http.Flusher)
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			if f != nil {
				f.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// learn remembers what honest answers held: every box by item and
// revision, and every distinct keys answer.
func (p *Proxy) learn(x *exchange) {
	if x.status != http.StatusOK {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch x.req.URL.Path {
	case "/v1/sync/changes":
		var c api.ChangesResponse
		if json.Unmarshal(x.resp, &c) != nil {
			return
		}
		for _, ch := range c.Changes {
			m := p.boxes[ch.ItemID]
			if m == nil {
				m = map[uint64][]byte{}
				p.boxes[ch.ItemID] = m
			}
			m[ch.Rev] = ch.Box
		}
	case "/v1/account/keys":
		var k api.Keys
		if json.Unmarshal(x.resp, &k) != nil {
			return
		}
		for _, old := range p.keys {
			if bytes.Equal(old.Envelope, k.Envelope) && bytes.Equal(old.KeyCheck, k.KeyCheck) {
				return
			}
		}
		p.keys = append(p.keys, k)
	}
}
