package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/kitmail"
	"github.com/keyhold/keyhold/internal/mailer/mailertest"
	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/svc"
	"github.com/keyhold/keyhold/internal/svc/svctest"
)

// bin is the keyhold-mailer binary built for these tests.
var bin string

func TestMain(m *testing.M) {
	b, cleanup, err := svctest.Build("keyhold-mailer")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = b
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// proc is a running keyhold-mailer serve.
type proc = svctest.Proc

// start runs serve in dir with args and waits for its "listening on" line.
func start(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Dir = dir
	return svctest.Start(t, cmd)
}

// env is a working directory with what a mailer needs: the server's key
// (and the private half, to sign tickets), a relay with its authority and
// password files, and a kit.
type env struct {
	t       *testing.T
	dir     string
	priv    ed25519.PrivateKey
	keyFile string
	relay   *mailertest.Relay
	caFile  string
	pwFile  string
	kit     kit.Kit
	text    string
	secret  string
	pdf     []byte   // the kit PDF the device makes
	tickets []string // every ticket sent, base64 as on the wire
}

const testTo = "bob@example.org"

func newEnv(t *testing.T, mode mailertest.Mode) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e.priv = priv
	e.keyFile = e.write("server-mail-key.pub", mailticket.FormatPublicKey(pub)+"\n")
	e.relay = mailertest.Start(t, mode)
	e.caFile = e.write("relay-ca.pem", string(e.relay.CAPEM))
	e.pwFile = e.write("smtp-password", mailertest.Password+"\n")
	rand.Read(e.kit.AccountID[:])
	rand.Read(e.kit.SecretKey[:])
	e.kit.SyncLocation = "https://sync.example.org"
	e.text = e.kit.Text()
	sk := keys.SecretKey(e.kit.SecretKey)
	e.secret = sk.Display()
	if e.pdf, err = kit.PDF(e.kit.Sheet(testTo, time.Now(), e.secret)); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) write(name, content string) string {
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// args are the serve flags for this environment's relay.
func (e *env) args(extra ...string) []string {
	return append([]string{"--listen", "127.0.0.1:0", "--server-key", e.keyFile,
		"--smtp-host", "localhost", "--smtp-port", strconv.Itoa(e.relay.Port),
		"--smtp-user", mailertest.User, "--smtp-password-file", e.pwFile, "--smtp-ca-file", e.caFile,
		"--from", "kit@mailer.example.org", "--retry-backoff", "20ms"}, extra...)
}

// request is a send request for the unencrypted kit PDF with a fresh
// ticket binding it.
func (e *env) request() *api.MailSendRequest {
	return e.sealed(mailticket.KindPlain, e.pdf, nil)
}

// sealed is a send request for payload of kind with a fresh ticket
// binding it and key.
func (e *env) sealed(kind mailticket.Kind, payload, key []byte) *api.MailSendRequest {
	tk, err := mailticket.New(e.kit.AccountID, testTo, kind, sha256.Sum256(payload), key, time.Now().Add(10*time.Minute))
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := mailticket.Sign(e.priv, tk)
	if err != nil {
		e.t.Fatal(err)
	}
	e.tickets = append(e.tickets, base64.StdEncoding.EncodeToString(b))
	return &api.MailSendRequest{Ticket: b, To: testTo, Kind: kind.String(), Payload: payload}
}

func post(t *testing.T, c *http.Client, url string, req *api.MailSendRequest) (int, string) {
	t.Helper()
	b, _ := json.Marshal(req)
	resp, err := c.Post(url+"/v1/send", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error.Code
}

// leakCheck asserts that the kit, the Secret Key, the full address, the
// tickets and the SMTP password are in neither the process's output nor
// any file it could have written under its working directory.
func (e *env) leakCheck(p *proc) {
	t := e.t
	secrets := map[string]string{
		"kit text":         e.text,
		"Secret Key":       e.secret,
		"Secret Key (hex)": hex.EncodeToString(e.kit.SecretKey[:]),
		"address":          testTo,
	}
	for i, tk := range e.tickets {
		secrets["ticket "+strconv.Itoa(i)] = tk
	}
	out := strings.ToLower(p.Stderr.String())
	for name, s := range secrets {
		if strings.Contains(out, strings.ToLower(s)) {
			t.Errorf("the mailer's output holds the %s", name)
		}
	}
	if strings.Contains(out, mailertest.Password) {
		t.Error("the mailer's output holds the SMTP password")
	}
	filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(path)
		for name, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the %s", path, name)
			}
		}
		return nil
	})
	entries, _ := os.ReadDir(e.dir)
	if len(entries) != 3 {
		var names []string
		for _, en := range entries {
			names = append(names, en.Name())
		}
		t.Errorf("the working directory holds %v; the mailer must write nothing", names)
	}
	// Every line after the listening line is a JSON log record.
	lines := strings.Split(strings.TrimSpace(p.Stderr.String()), "\n")
	for _, l := range lines {
		if svctest.ListenRE.MatchString(l) || svctest.FingerprintRE.MatchString(l) {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("stderr line is not JSON: %q", l)
		}
	}
}

func TestServeMailsKit(t *testing.T) {
	e := newEnv(t, mailertest.STARTTLS)
	p := start(t, e.dir, e.args("--insecure-http")...)
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") || strings.HasSuffix(p.URL, ":0") {
		t.Fatalf("listening line names %s", p.URL)
	}
	c := http.DefaultClient

	if status, code := post(t, c, p.URL, e.request()); status != http.StatusAccepted {
		t.Fatalf("plain: %d %s", status, code)
	}
	m := e.relay.Wait(t, 15*time.Second)
	if len(m.To) != 1 || m.To[0] != testTo || !m.TLS {
		t.Fatalf("delivered to %v, TLS %v", m.To, m.TLS)
	}
	_, _, parts := mailertest.Parse(t, m.Data)
	if len(parts) != 3 || parts[2].Type != "application/pdf" {
		t.Fatalf("parts: %d", len(parts))
	}
	if got, err := kit.DecodePDF(parts[2].Body); err != nil || got != e.text {
		t.Fatalf("the mailed PDF does not read back as the kit (%v)", err)
	}

	id, _ := age.GenerateX25519Identity()
	sealedPDF, err := kitmail.SealAge(id.Recipient(), e.pdf)
	if err != nil {
		t.Fatal(err)
	}
	req := e.sealed(mailticket.KindAge, sealedPDF, mailticket.AgeRecipientID(id.Recipient().String()))
	if status, code := post(t, c, p.URL, req); status != http.StatusAccepted {
		t.Fatalf("age: %d %s", status, code)
	}
	m = e.relay.Wait(t, 15*time.Second)
	_, _, parts = mailertest.Parse(t, m.Data)
	r, err := age.Decrypt(bytes.NewReader(parts[2].Body), id)
	if err != nil {
		t.Fatalf("kit.pdf.age: %v", err)
	}
	pdf, _ := io.ReadAll(r)
	if got, err := kit.DecodePDF(pdf); err != nil || got != e.text {
		t.Fatalf("the decrypted PDF does not read back as the kit (%v)", err)
	}

	// Refusals.
	if status, code := post(t, c, p.URL, req); status != http.StatusConflict || code != "ticket_used" {
		t.Errorf("reused ticket: %d %s", status, code)
	}
	swapped := e.request()
	swapped.Payload = append([]byte("%PDF-1.7 "), swapped.Payload...)
	if status, code := post(t, c, p.URL, swapped); status != http.StatusForbidden || code != "ticket_mismatch" {
		t.Errorf("a payload the ticket does not bind: %d %s", status, code)
	}
	elsewhere := e.request()
	elsewhere.To = "mallory@example.org"
	if status, code := post(t, c, p.URL, elsewhere); status != http.StatusForbidden || code != "ticket_mismatch" {
		t.Errorf("an address the ticket does not name: %d %s", status, code)
	}
	forged := e.request()
	forged.Ticket[len(forged.Ticket)-1] ^= 1
	if status, code := post(t, c, p.URL, forged); status != http.StatusForbidden || code != "ticket_invalid" {
		t.Errorf("forged ticket: %d %s", status, code)
	}

	res, err := c.Get(p.URL + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
	// The relay has the mail a moment before the mailer hears it accepted.
	var metrics []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		res, err = c.Get(p.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ = io.ReadAll(res.Body)
		res.Body.Close()
		if bytes.Contains(metrics, []byte("keyhold_mailer_sent_total 2")) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{"keyhold_mailer_sent_total 2", `keyhold_mailer_requests_total{result="ticket_used"} 1`, "keyhold_mailer_queued 0",
		svctest.BuildInfoMetric(svctest.BinInfo(t, bin))} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
	p.Stop(t, 10*time.Second)
	if e.relay.Count() != 2 {
		t.Errorf("%d mails delivered, want 2", e.relay.Count())
	}
	e.leakCheck(p)
}

func TestServeImplicitTLS(t *testing.T) {
	e := newEnv(t, mailertest.Implicit)
	p := start(t, e.dir, e.args("--insecure-http", "--smtp-implicit-tls")...)
	if status, code := post(t, http.DefaultClient, p.URL, e.request()); status != http.StatusAccepted {
		t.Fatalf("%d %s", status, code)
	}
	e.relay.Wait(t, 15*time.Second)
	p.Stop(t, 10*time.Second)
	e.leakCheck(p)
}

func TestServeDevTLS(t *testing.T) {
	e := newEnv(t, mailertest.STARTTLS)
	p := start(t, e.dir, e.args("--dev-tls")...)
	if p.FP == "" || !strings.HasPrefix(p.URL, "https://127.0.0.1:") {
		t.Fatalf("no fingerprint or not https (%s):\n%s", p.URL, p.Stderr)
	}
	pinned := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(sum[:]) != p.FP {
				return errors.New("fingerprint mismatch")
			}
			return cs.PeerCertificates[0].VerifyHostname("127.0.0.1")
		},
	}}}
	if status, code := post(t, pinned, p.URL, e.request()); status != http.StatusAccepted {
		t.Fatalf("%d %s", status, code)
	}
	e.relay.Wait(t, 15*time.Second)
	p.Stop(t, 10*time.Second)
	e.leakCheck(p)
}

// On SIGTERM a mail that cannot be delivered within --drain-timeout is
// dropped, logged without content, and the process still exits 0.
func TestServeDrainTimeout(t *testing.T) {
	e := newEnv(t, mailertest.NoTLS)
	p := start(t, e.dir, e.args("--insecure-http", "--retry-backoff", "1h", "--drain-timeout", "300ms")...)
	if status, code := post(t, http.DefaultClient, p.URL, e.request()); status != http.StatusAccepted {
		t.Fatalf("%d %s", status, code)
	}
	p.WaitLog(t, "does not offer STARTTLS", 10*time.Second)
	start := time.Now()
	p.Stop(t, 10*time.Second)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopping took %s with a 300ms drain timeout", d)
	}
	out := p.Stderr.String()
	for _, want := range []string{"mail dropped undelivered at shutdown", `"dropped":1`} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	if e.relay.Count() != 0 || e.relay.Auths() != 0 {
		t.Error("the relay without TLS got the mail or the password")
	}
	e.leakCheck(p)
}

// A relay whose certificate is not from --smtp-ca-file never gets the
// mail; after the last retry the mail is dropped and logged.
func TestServeUntrustedRelay(t *testing.T) {
	e := newEnv(t, mailertest.STARTTLS)
	otherCA, _, _ := mailertest.Certificate(t)
	e.write("relay-ca.pem", string(otherCA))
	p := start(t, e.dir, e.args("--insecure-http", "--retries", "1")...)
	if status, code := post(t, http.DefaultClient, p.URL, e.request()); status != http.StatusAccepted {
		t.Fatalf("%d %s", status, code)
	}
	p.WaitLog(t, "mail dropped: its last delivery attempt failed", 10*time.Second)
	if !strings.Contains(p.Stderr.String(), "certificate") {
		t.Errorf("the log does not say why:\n%s", p.Stderr)
	}
	if e.relay.Count() != 0 || e.relay.Auths() != 0 {
		t.Error("the untrusted relay got the mail or the password")
	}
	p.Stop(t, 10*time.Second)
	e.leakCheck(p)
}

func TestServeUsage(t *testing.T) {
	e := newEnv(t, mailertest.STARTTLS)
	badCA := e.write("bad-ca.pem", "not a certificate\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no transport", e.args(), "choose how clients connect"},
		{"two transports", e.args("--insecure-http", "--dev-tls"), "only one of"},
		{"plain HTTP off loopback", append(e.args("--insecure-http"), "--listen", "0.0.0.0:0"), "only on a loopback address"},
		{"missing flags", []string{"--insecure-http", "--listen", "127.0.0.1:0"}, "required flag"},
		{"password without user", []string{"--insecure-http", "--listen", "127.0.0.1:0", "--server-key", e.keyFile, "--smtp-host", "h",
			"--smtp-port", "25", "--from", "a@example.org", "--smtp-password-file", e.pwFile}, "smtp-user"},
		{"bad server key", append(e.args("--insecure-http"), "--server-key", "keyhold-mail-key-v1:AAAA"), "not a keyhold mail public key"},
		{"missing key file", append(e.args("--insecure-http"), "--server-key", filepath.Join(e.dir, "nope")), "--server-key"},
		{"bad CA file", append(e.args("--insecure-http"), "--smtp-ca-file", badCA), "no PEM certificate"},
		{"bad sender", append(e.args("--insecure-http"), "--from", "Keyhold <kit@example.org>"), "not a plain address"},
		{"negative retries", append(e.args("--insecure-http"), "--retries", "-1"), "--retries"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"serve"}, tc.args...)...)
			cmd.Dir = e.dir
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != svc.ExitUsage {
				t.Fatalf("exit %v, want %d:\n%s", err, svc.ExitUsage, out)
			}
			if !strings.Contains(string(out), tc.want) || !strings.HasPrefix(string(out), "keyhold-mailer: ") {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}
