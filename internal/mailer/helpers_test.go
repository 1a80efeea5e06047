package mailer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/kitmail"
	"github.com/keyhold/keyhold/internal/mailer/mailertest"
	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/svc/svctest"
)

// --- the mailer under test ---------------------------------------------------

// fixture is a mailer served over HTTP on loopback, its relay, the
// server's ticket key and a kit.
type fixture struct {
	t      *testing.T
	s      *Server
	url    string
	relay  *mailertest.Relay
	priv   ed25519.PrivateKey
	logs   *svctest.LockedBuffer
	kit    kit.Kit
	text   string // the kit's text
	secret string // the Secret Key's display form
	pdf    []byte // the kit PDF and QR code PNG the device makes
	png    []byte
	now    time.Time
}

const testTo = "alice@example.org"

// newFixture starts a mailer on relay r (a new STARTTLS relay if nil),
// with cfg's zero fields filled in for the test. It runs in a temporary
// working directory, which leakCheck searches.
func newFixture(t *testing.T, r *mailertest.Relay, cfg Config, run bool) *fixture {
	t.Helper()
	t.Chdir(t.TempDir())
	if r == nil {
		r = mailertest.Start(t, mailertest.STARTTLS)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, relay: r, priv: priv, logs: &svctest.LockedBuffer{}, now: time.Now().UTC().Truncate(time.Second)}
	rand.Read(f.kit.AccountID[:])
	rand.Read(f.kit.SecretKey[:])
	f.kit.SyncLocation = "https://sync.example.org"
	f.text = f.kit.Text()
	f.secret = f.kit.Sheet("", f.now, secretKeyDisplay(f.kit.SecretKey)).SecretKey
	if f.pdf, err = kit.PDF(f.kit.Sheet(testTo, f.now, f.secret)); err != nil {
		t.Fatal(err)
	}
	if f.png, err = kit.QRPNG(f.text, kit.QRImageSize); err != nil {
		t.Fatal(err)
	}

	cfg.ServerKey = pub
	if cfg.From == "" {
		cfg.From = "kit@mailer.example.org"
	}
	if cfg.SMTP.Host == "" {
		cfg.SMTP.Host = "127.0.0.1"
		cfg.SMTP.Port = r.Port
		cfg.SMTP.RootCAs = r.CA
		cfg.SMTP.User = mailertest.User
		cfg.SMTP.Password = []byte(mailertest.Password)
	}
	if cfg.SMTP.Timeout == 0 {
		cfg.SMTP.Timeout = 10 * time.Second
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 10 * time.Millisecond
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	now := f.now
	cfg.Now = func() time.Time { return now }
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	f.url = hs.URL
	if run {
		f.run()
	}
	t.Cleanup(f.leakCheck)
	return f
}

// run starts delivering; the test's end shuts the queue down.
func (f *fixture) run() {
	done := make(chan struct{})
	go func() { f.s.Run(f.t.Context()); close(done) }()
	f.t.Cleanup(func() { <-done })
}

// ticket signs a ticket for account to to for the fixture's plain kit
// PDF, valid for d from the fixture's clock.
func (f *fixture) ticket(account [16]byte, to string, d time.Duration) []byte {
	f.t.Helper()
	return f.ticketFor(account, to, kitmail.KindPlain, f.pdf, nil, d)
}

// ticketFor signs a ticket for account to to binding payload of kind
// sealed to key.
func (f *fixture) ticketFor(account [16]byte, to, kind string, payload, key []byte, d time.Duration) []byte {
	f.t.Helper()
	k, err := mailticket.ParseKind(kind)
	if err != nil {
		f.t.Fatal(err)
	}
	tk, err := mailticket.New(account, to, k, sha256.Sum256(payload), key, f.now.Add(d))
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := mailticket.Sign(f.priv, tk)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// request is a send request for the fixture's kit, unencrypted (the kit
// PDF as the payload), with a fresh ticket.
func (f *fixture) request() *api.MailSendRequest {
	return &api.MailSendRequest{Ticket: f.ticket(f.kit.AccountID, testTo, 10*time.Minute), To: testTo, Kind: kitmail.KindPlain, Payload: f.pdf}
}

// sealed is a send request for payload of kind, sealed to key, with a
// fresh ticket binding them, as the device sends it.
func (f *fixture) sealed(kind string, payload, key []byte) *api.MailSendRequest {
	return &api.MailSendRequest{Ticket: f.ticketFor(f.kit.AccountID, testTo, kind, payload, key, 10*time.Minute), To: testTo, Kind: kind, Payload: payload}
}

// sealPGP seals the fixture's kit to e as the device does.
func (f *fixture) sealPGP(e *openpgp.Entity) *api.MailSendRequest {
	f.t.Helper()
	p, err := kitmail.SealPGP(e, f.pdf, f.png)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.sealed(kitmail.KindPGP, p, kitmail.Fingerprint(e))
}

// sealAge seals the fixture's kit PDF to r as the device does.
func (f *fixture) sealAge(r *age.X25519Recipient) *api.MailSendRequest {
	f.t.Helper()
	p, err := kitmail.SealAge(r, f.pdf)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.sealed(kitmail.KindAge, p, mailticket.AgeRecipientID(r.String()))
}

// noKitIn fails if b holds the kit text or the Secret Key in any form:
// what an encrypted kind hands the mailer, or what the mailer sends.
func (f *fixture) noKitIn(what string, b []byte) {
	f.t.Helper()
	for name, s := range map[string]string{
		"kit text":         f.text,
		"kit text body":    strings.ReplaceAll(strings.TrimPrefix(f.text, "KH1-"), "-", ""),
		"Secret Key":       f.secret,
		"Secret Key (hex)": hex.EncodeToString(f.kit.SecretKey[:]),
		"PDF (base64)":     "JVBERi0",
		"PDF":              "%PDF-",
	} {
		if bytes.Contains(b, []byte(s)) {
			f.t.Errorf("%s holds the %s", what, name)
		}
	}
}

// secretKeyDisplay is the Secret Key's human form, as the printed kit
// shows it.
func secretKeyDisplay(b [16]byte) string {
	sk := keys.SecretKey(b)
	defer sk.Wipe()
	return sk.Display()
}

// post sends body to POST /v1/send and returns the status, the decoded
// error code (if any) and the response.
func (f *fixture) post(body any) (int, string, *http.Response) {
	f.t.Helper()
	var b []byte
	switch v := body.(type) {
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			f.t.Fatal(err)
		}
	}
	resp, err := http.Post(f.url+"/v1/send", "application/json", bytes.NewReader(b))
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	var e api.Error
	json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error.Code, resp
}

// leakCheck asserts that neither the kit text nor the Secret Key (in any
// form the mailer holds it) is in the logs or in any file under the
// working directory.
func (f *fixture) leakCheck() {
	t := f.t
	secrets := map[string]string{
		"kit text":          f.text,
		"kit text body":     strings.ReplaceAll(strings.TrimPrefix(f.text, "KH1-"), "-", ""),
		"Secret Key":        f.secret,
		"Secret Key (hex)":  hex.EncodeToString(f.kit.SecretKey[:]),
		"SMTP password":     mailertest.Password,
		"recipient address": testTo,
	}
	logs := f.logs.String()
	for name, s := range secrets {
		if strings.Contains(strings.ToLower(logs), strings.ToLower(s)) {
			t.Errorf("the log holds the %s", name)
		}
	}
	wd, _ := os.Getwd()
	filepath.WalkDir(wd, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for name, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the %s", p, name)
			}
		}
		return nil
	})
}

// waitLog waits until the log holds s.
func (f *fixture) waitLog(s string, d time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(f.logs.String(), s) {
		if time.Now().After(deadline) {
			f.t.Fatalf("the log has no %q within %s:\n%s", s, d, f.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func ed25519GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

func mustTicket(t *testing.T, f *fixture, b []byte) *mailticket.Ticket {
	t.Helper()
	tk, _, _, err := mailticket.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func metricsText(t *testing.T, f *fixture) string {
	t.Helper()
	resp, err := http.Get(f.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	return string(b)
}
