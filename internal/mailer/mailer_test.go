package mailer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/buildinfo"
	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/kitmail"
	"github.com/keyhold/keyhold/internal/mailer/mailertest"
	"github.com/keyhold/keyhold/internal/svc/svctest"
)

// checkKitFiles checks that a mailed PDF (and PNG, if any) are the ones
// the device made and that their QR codes read back as the kit.
func (f *fixture) checkKitFiles(pdf, png []byte) {
	f.t.Helper()
	if !bytes.Equal(pdf, f.pdf) {
		f.t.Error("the mailed PDF is not the PDF the device made of this kit")
	}
	got, err := kit.DecodePDF(pdf)
	if err != nil || got != f.text {
		f.t.Errorf("the mailed PDF's QR code reads %v (err %v), not the kit", got != "", err)
	}
	if png == nil {
		return
	}
	if !bytes.Equal(png, f.png) {
		f.t.Error("the mailed PNG is not the QR code the device made of this kit")
	}
	got, err = kit.DecodePNG(png)
	if err != nil || got != f.text {
		f.t.Errorf("the mailed PNG's QR code does not read as the kit (err %v)", err)
	}
}

func checkBodies(t *testing.T, leaves []mailertest.Part, want ...string) {
	t.Helper()
	for _, ct := range []string{"text/plain", "text/html"} {
		var p *mailertest.Part
		for i := range leaves {
			if leaves[i].Type == ct {
				p = &leaves[i]
			}
		}
		if p == nil {
			t.Fatalf("no %s body", ct)
		}
		if p.Params["charset"] != "utf-8" {
			t.Errorf("%s charset %q", ct, p.Params["charset"])
		}
		text := string(p.Body)
		if ct == "text/html" {
			text = strings.ReplaceAll(text, "&#39;", "'")
		}
		for _, w := range append([]string{
			"Your password is NOT in this kit",
			"If you do not use Keyhold, or this is not your account",
			"If it is your account and you did not ask for this email",
			"keyhold devices revoke", "keyhold rotate-key",
		}, want...) {
			if !strings.Contains(text, w) {
				t.Errorf("the %s body does not say %q", ct, w)
			}
		}
	}
}

// TestSendPlain: an unencrypted kit (keyhold kit --unencrypted) is the
// device's PDF with the mailer's fixed text.
func TestSendPlain(t *testing.T) {
	f := newFixture(t, nil, Config{}, true)
	status, code, resp := f.post(f.request())
	if status != http.StatusAccepted {
		t.Fatalf("status %d %s", status, code)
	}
	var sr api.MailSendResponse
	if err := jsonDecode(resp.Body, &sr); err != nil || !sr.Queued || len(sr.ID) != 16 {
		t.Fatalf("response %+v, %v", sr, err)
	}
	m := f.relay.Wait(t, 10*time.Second)
	if m.From != "kit@mailer.example.org" || len(m.To) != 1 || m.To[0] != testTo {
		t.Fatalf("envelope from %q to %q; want the ticket's address only", m.From, m.To)
	}
	h, multis, leaves := mailertest.Parse(t, m.Data)
	if h.Get("Subject") != Subject || h.Get("To") != testTo || h.Get("From") != "kit@mailer.example.org" {
		t.Errorf("headers: %v", h)
	}
	if got := strings.Join(multis, ","); got != "multipart/mixed,multipart/alternative" {
		t.Errorf("structure %s", got)
	}
	var types, names []string
	for _, p := range leaves {
		types = append(types, p.Type)
		names = append(names, p.Filename)
	}
	if got := strings.Join(types, ","); got != "text/plain,text/html,application/pdf" {
		t.Fatalf("parts %s", got)
	}
	if got := strings.Join(names, ","); got != ",,kit.pdf" {
		t.Errorf("attachment names %s", got)
	}
	checkBodies(t, leaves, "keyhold setup --kit kit.pdf", "delete this email", "NOT encrypted")
	f.checkKitFiles(leaves[2].Body, nil)
	// The kit is in the attachment only, never in the text.
	for _, p := range leaves[:2] {
		if bytes.Contains(p.Body, []byte(f.text)) || bytes.Contains(p.Body, []byte(f.secret)) {
			t.Errorf("the %s body holds the kit", p.Type)
		}
	}
	f.waitLog(`"msg":"mail delivered"`, 5*time.Second)
	if !strings.Contains(f.logs.String(), `"to":"…@example.org"`) || !strings.Contains(f.logs.String(), `"kind":"plain"`) {
		t.Errorf("the log does not name the domain and kind:\n%s", f.logs)
	}
	if tls := f.relay.MailTLS(); len(tls) != 1 || !tls[0] {
		t.Errorf("MAIL was not sent under TLS: %v", tls)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	r := mailertest.Start(t, mailertest.Implicit)
	f := newFixture(t, r, Config{SMTP: SMTP{Host: "localhost", Port: r.Port, ImplicitTLS: true, RootCAs: r.CA,
		User: mailertest.User, Password: []byte(mailertest.Password)}}, true)
	if status, code, _ := f.post(f.request()); status != http.StatusAccepted {
		t.Fatalf("status %d %s", status, code)
	}
	m := f.relay.Wait(t, 10*time.Second)
	_, _, leaves := mailertest.Parse(t, m.Data)
	if len(leaves) != 3 {
		t.Fatalf("%d parts", len(leaves))
	}
	f.checkKitFiles(leaves[2].Body, nil)
}

// testPGPKey makes an OpenPGP key (Ed25519 with a Curve25519 encryption
// subkey) and returns it with its armored public part.
func testPGPKey(t *testing.T) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity("Alice", "", testTo, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, b.String()
}

// TestSendPGP: the device's PGP/MIME payload is relayed as the encrypted
// part of RFC 3156 unchanged; neither what the mailer received nor what
// it sent holds the kit, and the text the user reads is the device's.
func TestSendPGP(t *testing.T) {
	f := newFixture(t, nil, Config{}, true)
	key, _ := testPGPKey(t)
	req := f.sealPGP(key)
	body, _ := json.Marshal(req)
	f.noKitIn("the request the mailer received", body)
	f.noKitIn("the payload", req.Payload)
	if status, code, _ := f.post(body); status != http.StatusAccepted {
		t.Fatalf("status %d %s", status, code)
	}
	m := f.relay.Wait(t, 10*time.Second)
	f.noKitIn("the mail the relay received", m.Data)
	h, multis, leaves := mailertest.Parse(t, m.Data)
	if h.Get("Subject") != Subject {
		t.Errorf("subject %q", h.Get("Subject"))
	}
	ct := h.Get("Content-Type")
	if !strings.HasPrefix(ct, "multipart/encrypted;") || !strings.Contains(ct, `protocol="application/pgp-encrypted"`) {
		t.Fatalf("Content-Type %s", ct)
	}
	if len(multis) != 1 || len(leaves) != 2 || leaves[0].Type != "application/pgp-encrypted" || leaves[1].Type != "application/octet-stream" {
		t.Fatalf("not the RFC 3156 structure: %v %v", multis, leaves)
	}
	if strings.TrimSpace(string(leaves[0].Body)) != "Version: 1" {
		t.Errorf("version part %q", leaves[0].Body)
	}
	if got := bytes.ReplaceAll(leaves[1].Body, []byte("\r\n"), []byte("\n")); !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(req.Payload)) {
		t.Error("the encrypted part is not the payload the device sealed")
	}
	for _, s := range []string{"password is NOT", "application/pdf"} {
		if bytes.Contains(m.Data, []byte(s)) {
			t.Errorf("the outer message holds %q", s)
		}
	}
	block, err := armor.Decode(bytes.NewReader(leaves[1].Body))
	if err != nil || block.Type != "PGP MESSAGE" {
		t.Fatalf("not an armored PGP message: %v", err)
	}
	md, err := openpgp.ReadMessage(block.Body, openpgp.EntityList{key}, nil, nil)
	if err != nil {
		t.Fatalf("does not decrypt with the recipient's key: %v", err)
	}
	inner, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatal(err)
	}
	if md.SignatureError != nil {
		t.Fatal(md.SignatureError)
	}
	_, multis, leaves = mailertest.Parse(t, inner)
	if got := strings.Join(multis, ","); got != "multipart/mixed,multipart/alternative" {
		t.Errorf("inner structure %s", got)
	}
	if len(leaves) != 4 || leaves[2].Type != "application/pdf" || leaves[3].Type != "image/png" {
		t.Fatalf("inner parts %v", leaves)
	}
	checkBodies(t, leaves, "encrypted to your OpenPGP key on your device")
	f.checkKitFiles(leaves[2].Body, leaves[3].Body)
	f.waitLog(`"msg":"mail delivered"`, 5*time.Second)
	if !strings.Contains(f.logs.String(), `"kind":"pgp"`) {
		t.Error("the log does not say the mail was PGP-encrypted")
	}
}

// TestSendAge: the device's age file is attached unchanged, with the
// mailer's fixed text; nothing of the kit passes the mailer in the clear.
func TestSendAge(t *testing.T) {
	f := newFixture(t, nil, Config{}, true)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	req := f.sealAge(id.Recipient())
	body, _ := json.Marshal(req)
	f.noKitIn("the request the mailer received", body)
	if status, code, _ := f.post(body); status != http.StatusAccepted {
		t.Fatalf("status %d %s", status, code)
	}
	m := f.relay.Wait(t, 10*time.Second)
	f.noKitIn("the mail the relay received", m.Data)
	_, _, leaves := mailertest.Parse(t, m.Data)
	if len(leaves) != 3 {
		t.Fatalf("%d parts", len(leaves))
	}
	checkBodies(t, leaves, "age --decrypt -i YOUR-IDENTITY-FILE -o kit.pdf kit.pdf.age")
	p := leaves[2]
	if p.Filename != "kit.pdf.age" || p.Type != "application/octet-stream" || !bytes.Equal(p.Body, req.Payload) {
		t.Fatalf("attachment %q (%s) is not the device's age file", p.Filename, p.Type)
	}
	r, err := age.Decrypt(bytes.NewReader(p.Body), id)
	if err != nil {
		t.Fatalf("%s does not decrypt with the identity: %v", p.Filename, err)
	}
	pdf, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	f.checkKitFiles(pdf, nil)
}

// Each refusal is answered with its status and code, sends nothing, and
// (leakCheck) leaves the kit out of the log and the disk. The ticket
// binds the payload, address and kind: a caller holding a ticket for one
// sealed kit (a hostile mailer client, or one who stole a ticket) cannot
// have another blob sent, nor send it elsewhere.
func TestRefusals(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	tests := []struct {
		name   string
		mod    func(f *fixture, r *api.MailSendRequest)
		body   func(f *fixture) []byte
		status int
		code   string
	}{
		{name: "forged ticket", status: 403, code: CodeTicketInvalid, mod: func(f *fixture, r *api.MailSendRequest) {
			other := *f
			_, other.priv, _ = ed25519GenerateKey()
			r.Ticket = other.ticket(f.kit.AccountID, testTo, 10*time.Minute)
		}},
		{name: "expired ticket", status: 403, code: CodeTicketExpired, mod: func(f *fixture, r *api.MailSendRequest) {
			r.Ticket = f.ticket(f.kit.AccountID, testTo, -time.Second)
		}},
		{name: "ticket valid too long", status: 403, code: CodeTicketInvalid, mod: func(f *fixture, r *api.MailSendRequest) {
			r.Ticket = f.ticket(f.kit.AccountID, testTo, 2*time.Hour)
		}},
		{name: "malformed ticket", status: 400, code: CodeTicketInvalid, mod: func(f *fixture, r *api.MailSendRequest) {
			r.Ticket = r.Ticket[:len(r.Ticket)-1]
		}},
		{name: "payload swapped", status: 403, code: CodeTicketMismatch, mod: func(f *fixture, r *api.MailSendRequest) {
			// A ticket for payload A used with payload B.
			r.Payload = append([]byte("%PDF-1.4 a kit of the caller's choosing "), r.Payload...)
		}},
		{name: "payload of another kind", status: 403, code: CodeTicketMismatch, mod: func(f *fixture, r *api.MailSendRequest) {
			sealed := f.sealAge(id.Recipient())
			r.Payload, r.Kind = sealed.Payload, sealed.Kind
		}},
		{name: "another recipient", status: 403, code: CodeTicketMismatch, mod: func(f *fixture, r *api.MailSendRequest) {
			r.To = "mallory@example.org"
		}},
		{name: "another kind", status: 403, code: CodeTicketMismatch, mod: func(f *fixture, r *api.MailSendRequest) {
			r.Kind = kitmail.KindAge
		}},
		{name: "plain payload that is not a PDF", status: 400, code: CodeBadPayload, mod: func(f *fixture, r *api.MailSendRequest) {
			*r = *f.sealed(kitmail.KindPlain, []byte("<html>click here</html>"), nil)
		}},
		{name: "pgp payload that is not armored", status: 400, code: CodeBadPayload, mod: func(f *fixture, r *api.MailSendRequest) {
			*r = *f.sealed(kitmail.KindPGP, []byte("-----BEGIN PGP MESSAGE-----\n\x1b[2J\n-----END PGP MESSAGE-----\n"), bytes.Repeat([]byte{1}, 20))
		}},
		{name: "age payload that is not an age file", status: 400, code: CodeBadPayload, mod: func(f *fixture, r *api.MailSendRequest) {
			*r = *f.sealed(kitmail.KindAge, f.pdf, bytes.Repeat([]byte{1}, 32))
		}},
		{name: "no ticket", status: 400, code: api.CodeBadRequest, mod: func(f *fixture, r *api.MailSendRequest) { r.Ticket = nil }},
		{name: "no payload", status: 400, code: api.CodeBadRequest, mod: func(f *fixture, r *api.MailSendRequest) { r.Payload = nil }},
		{name: "no address", status: 400, code: api.CodeBadRequest, mod: func(f *fixture, r *api.MailSendRequest) { r.To = "" }},
		{name: "address with a header", status: 400, code: api.CodeBadRequest, mod: func(f *fixture, r *api.MailSendRequest) {
			r.To = testTo + "\r\nBcc: mallory@example.org"
		}},
		{name: "unknown kind", status: 400, code: api.CodeBadRequest, mod: func(f *fixture, r *api.MailSendRequest) { r.Kind = "none" }},
		{name: "unknown field", status: 400, code: api.CodeBadRequest, body: func(f *fixture) []byte {
			return []byte(`{"ticket":"AAAA","kind":"plain","to":"a@example.org","payload":"AAAA","pgp_key":"x"}`)
		}},
		{name: "duplicate field", status: 400, code: api.CodeBadRequest, body: func(f *fixture) []byte {
			return []byte(`{"ticket":"AAAA","to":"a@example.org","to":"b@example.org"}`)
		}},
		{name: "oversized body", status: 413, code: api.CodeTooLarge, body: func(f *fixture) []byte {
			return []byte(`{"ticket":"AAAA","payload":"` + strings.Repeat("A", api.MaxMailBody) + `"}`)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, Config{}, true)
			var body any
			if tc.body != nil {
				body = tc.body(f)
			} else {
				req := f.request()
				tc.mod(f, req)
				body = req
			}
			status, code, resp := f.post(body)
			if status != tc.status || code != tc.code {
				t.Fatalf("got %d %s, want %d %s", status, code, tc.status, tc.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %s", ct)
			}
			if f.s.Queued() != 0 {
				t.Error("a refused request was queued")
			}
			time.Sleep(20 * time.Millisecond)
			if f.relay.Count() != 0 {
				t.Error("a refused request was mailed")
			}
			if !strings.Contains(f.logs.String(), `"msg":"mail refused"`) {
				t.Errorf("the refusal is not logged:\n%s", f.logs)
			}
		})
	}
}

// TestMismatchKeepsTicket: a request refused because its payload is not
// the ticket's does not use the ticket up: the device's own payload still
// goes through.
func TestMismatchKeepsTicket(t *testing.T) {
	f := newFixture(t, nil, Config{}, true)
	req := f.request()
	swapped := *req
	swapped.Payload = append([]byte("%PDF-1.7 "), req.Payload...)
	if status, code, _ := f.post(&swapped); status != http.StatusForbidden || code != CodeTicketMismatch {
		t.Fatalf("swapped payload: %d %s", status, code)
	}
	if status, code, _ := f.post(req); status != http.StatusAccepted {
		t.Fatalf("the device's payload after a refused swap: %d %s", status, code)
	}
	f.relay.Wait(t, 10*time.Second)
}

func TestTicketUsedOnce(t *testing.T) {
	f := newFixture(t, nil, Config{}, true)
	req := f.request()
	if status, code, _ := f.post(req); status != http.StatusAccepted {
		t.Fatalf("first use: %d %s", status, code)
	}
	status, code, _ := f.post(req)
	if status != http.StatusConflict || code != CodeTicketUsed {
		t.Fatalf("second use: %d %s, want 409 %s", status, code, CodeTicketUsed)
	}
	f.relay.Wait(t, 10*time.Second)
	time.Sleep(50 * time.Millisecond)
	if n := f.relay.Count(); n != 1 {
		t.Fatalf("%d mails for one ticket", n)
	}
}

func TestRateLimits(t *testing.T) {
	t.Run("account", func(t *testing.T) {
		f := newFixture(t, nil, Config{RatePerAccount: 2}, true)
		for i := range 2 {
			if status, code, _ := f.post(f.request()); status != http.StatusAccepted {
				t.Fatalf("request %d: %d %s", i+1, status, code)
			}
		}
		req := f.request()
		status, code, resp := f.post(req)
		if status != http.StatusTooManyRequests || code != api.CodeThrottled {
			t.Fatalf("third request: %d %s", status, code)
		}
		if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 60 || ra > 1800 {
			t.Errorf("Retry-After %q, want about half an hour", resp.Header.Get("Retry-After"))
		}
		// Another account is not held back, and the refused ticket was
		// not used up.
		g := *f
		rand.Read(g.kit.AccountID[:])
		g.text = g.kit.Text()
		if status, code, _ := g.post(g.request()); status != http.StatusAccepted {
			t.Fatalf("another account: %d %s", status, code)
		}
		if _, err := f.s.nonces.use(mustTicket(t, f, req.Ticket).Nonce, f.now.Add(time.Minute), f.now); err != nil {
			t.Error("a throttled request used up its ticket")
		}
		for range 3 {
			f.relay.Wait(t, 10*time.Second)
		}
	})
	t.Run("address", func(t *testing.T) {
		f := newFixture(t, nil, Config{RatePerAddress: 3}, true)
		bad := f.request()
		bad.Ticket = []byte("KHMT")
		for i := range 3 {
			if status, _, _ := f.post(bad); status != http.StatusBadRequest {
				t.Fatalf("request %d: %d", i+1, status)
			}
		}
		status, code, resp := f.post(f.request())
		if status != http.StatusTooManyRequests || code != api.CodeThrottled || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("fourth request: %d %s", status, code)
		}
	})
}

// A full queue refuses with 503 and leaves the ticket usable.
func TestQueueFull(t *testing.T) {
	f := newFixture(t, nil, Config{QueueSize: 1}, false)
	if status, code, _ := f.post(f.request()); status != http.StatusAccepted {
		t.Fatalf("first: %d %s", status, code)
	}
	req := f.request()
	status, code, resp := f.post(req)
	if status != http.StatusServiceUnavailable || code != CodeUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second: %d %s", status, code)
	}
	f.run()
	f.relay.Wait(t, 10*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for f.s.Queued() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if status, code, _ := f.post(req); status != http.StatusAccepted {
		t.Fatalf("the refused ticket again: %d %s", status, code)
	}
	f.relay.Wait(t, 10*time.Second)
}

// Delivery refusals: the relay is never handed the mail (nor the
// password), the job is retried, then dropped and logged without content.
func TestDeliveryRefused(t *testing.T) {
	untrusted := mailertest.Start(t, mailertest.STARTTLS)
	_, otherCA, _ := mailertest.Certificate(t)
	plain := mailertest.Start(t, mailertest.NoTLS)
	tests := []struct {
		name  string
		relay *mailertest.Relay
		smtp  SMTP
		want  string
	}{
		{"relay without STARTTLS", plain, SMTP{Host: "127.0.0.1", Port: plain.Port, RootCAs: plain.CA, User: mailertest.User, Password: []byte(mailertest.Password)},
			"does not offer STARTTLS"},
		{"untrusted certificate", untrusted, SMTP{Host: "127.0.0.1", Port: untrusted.Port, RootCAs: otherCA, User: mailertest.User, Password: []byte(mailertest.Password)},
			"certificate"},
		{"implicit TLS to a plain port", plain, SMTP{Host: "127.0.0.1", Port: plain.Port, ImplicitTLS: true, RootCAs: plain.CA}, "TLS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.relay, Config{SMTP: tc.smtp, Retries: 2}, true)
			if status, code, _ := f.post(f.request()); status != http.StatusAccepted {
				t.Fatalf("status %d %s", status, code)
			}
			f.waitLog("mail dropped: its last delivery attempt failed", 10*time.Second)
			logs := f.logs.String()
			if n := strings.Count(logs, "will retry"); n != 2 {
				t.Errorf("%d retries logged, want 2", n)
			}
			if tc.want != "" && !strings.Contains(logs, tc.want) {
				t.Errorf("the log does not say %q:\n%s", tc.want, logs)
			}
			if tc.relay.Count() != 0 {
				t.Fatal("the relay received the mail")
			}
			if tc.relay.Auths() != 0 {
				t.Error("the password was offered to a relay without verified TLS")
			}
			if f.s.Queued() != 0 {
				t.Error("the job is still held")
			}
			if m := metricsText(t, f); !strings.Contains(m, "keyhold_mailer_failed_total 1") {
				t.Errorf("metrics:\n%s", m)
			}
		})
	}
}

func TestWrongPasswordDropped(t *testing.T) {
	r := mailertest.Start(t, mailertest.STARTTLS)
	f := newFixture(t, r, Config{SMTP: SMTP{Host: "localhost", Port: r.Port, RootCAs: r.CA, User: mailertest.User, Password: []byte("wrong")}, Retries: 1}, true)
	f.post(f.request())
	f.waitLog("mail dropped: its last delivery attempt failed", 10*time.Second)
	if r.Count() != 0 {
		t.Fatal("mail was sent without a successful login")
	}
	if strings.Contains(f.logs.String(), "wrong") {
		t.Error("the log holds the password")
	}
}

// Shutdown delivers what is queued, then stops.
func TestShutdownDrains(t *testing.T) {
	f := newFixture(t, nil, Config{}, false)
	for range 3 {
		if status, code, _ := f.post(f.request()); status != http.StatusAccepted {
			t.Fatalf("%d %s", status, code)
		}
	}
	done := make(chan struct{})
	go func() { f.s.Run(context.Background()); close(done) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if n := f.relay.Count(); n != 3 {
		t.Fatalf("%d of 3 mails delivered", n)
	}
	if !strings.Contains(f.logs.String(), `"msg":"mail queue stopped"`) || !strings.Contains(f.logs.String(), `"dropped":0`) {
		t.Errorf("log:\n%s", f.logs)
	}
	status, code, _ := f.post(f.request())
	if status != http.StatusServiceUnavailable || code != CodeUnavailable {
		t.Fatalf("after shutdown: %d %s", status, code)
	}
	if resp, err := http.Get(f.url + "/healthz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz after shutdown: %v %v", resp, err)
	}
}

// Shutdown drops what it cannot deliver in time, and wipes it.
func TestShutdownDrops(t *testing.T) {
	plain := mailertest.Start(t, mailertest.NoTLS)
	f := newFixture(t, plain, Config{SMTP: SMTP{Host: "127.0.0.1", Port: plain.Port, RootCAs: plain.CA}, Retries: 5, RetryBackoff: time.Hour}, true)
	if status, code, _ := f.post(f.request()); status != http.StatusAccepted {
		t.Fatalf("%d %s", status, code)
	}
	f.s.q.mu.Lock()
	var msg []byte
	for j := range f.s.q.held {
		msg = j.msg[:cap(j.msg)]
	}
	f.s.q.mu.Unlock()
	if !bytes.Contains(msg, []byte("application/pdf")) {
		t.Fatal("no message held")
	}
	f.waitLog("will retry", 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := f.s.Shutdown(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 mail(s) were dropped") {
		t.Fatalf("Shutdown: %v", err)
	}
	logs := f.logs.String()
	if strings.Count(logs, "will retry") != 2 {
		t.Errorf("the waiting mail was not tried again at shutdown:\n%s", logs)
	}
	if !strings.Contains(logs, "mail dropped undelivered at shutdown") || !strings.Contains(logs, `"dropped":1`) {
		t.Errorf("log:\n%s", logs)
	}
	if bytes.ContainsFunc(msg, func(r rune) bool { return r != 0 }) {
		t.Error("the dropped message was not wiped")
	}
	if m := metricsText(t, f); !strings.Contains(m, "keyhold_mailer_dropped_total 1") || !strings.Contains(m, "keyhold_mailer_queued 0") {
		t.Errorf("metrics:\n%s", m)
	}
}

// A delivered message is wiped too.
func TestDeliveredMessageWiped(t *testing.T) {
	f := newFixture(t, nil, Config{}, false)
	f.post(f.request())
	f.s.q.mu.Lock()
	var msg []byte
	for j := range f.s.q.held {
		msg = j.msg[:cap(j.msg)]
	}
	f.s.q.mu.Unlock()
	f.run()
	f.relay.Wait(t, 10*time.Second)
	f.waitLog("mail delivered", 5*time.Second)
	if len(msg) == 0 || bytes.ContainsFunc(msg, func(r rune) bool { return r != 0 }) {
		t.Error("the delivered message was not wiped")
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	f := newFixture(t, nil, Config{}, true)
	resp, err := http.Get(f.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, b)
	}
	m := metricsText(t, f)
	for _, want := range []string{"keyhold_mailer_sent_total 0", "keyhold_mailer_failed_total 0", "keyhold_mailer_queued 0",
		`keyhold_mailer_requests_total{result="ticket_used"} 0`, svctest.BuildInfoMetric(buildinfo.Read())} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	f.post(f.request())
	f.relay.Wait(t, 10*time.Second)
	f.waitLog("mail delivered", 5*time.Second)
	bad := f.request()
	bad.Ticket = f.ticket(f.kit.AccountID, testTo, -time.Minute)
	f.post(bad)
	m = metricsText(t, f)
	for _, want := range []string{"keyhold_mailer_sent_total 1", `keyhold_mailer_requests_total{result="queued"} 1`,
		`keyhold_mailer_requests_total{result="ticket_expired"} 1`, `keyhold_mailer_delivery_attempts_total{result="ok"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(m, "example.org") || strings.Contains(m, "alice") {
		t.Error("the metrics name an address")
	}
}

func TestRoutes(t *testing.T) {
	f := newFixture(t, nil, Config{}, false)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/send", 405, api.CodeBadRequest},
		{"GET", "/nowhere", 404, api.CodeNotFound},
		{"POST", "/v1/mail/ticket", 404, api.CodeNotFound},
	} {
		req, _ := http.NewRequest(tc.method, f.url+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e api.Error
		jsonDecode(resp.Body, &e)
		resp.Body.Close()
		if resp.StatusCode != tc.status || e.Error.Code != tc.code {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, e.Error.Code)
		}
	}
}

func TestNewChecksConfig(t *testing.T) {
	pub, _, _ := ed25519GenerateKey()
	good := Config{ServerKey: pub, From: "kit@example.org", SMTP: SMTP{Host: "smtp.example.org", Port: 587}}
	if _, err := New(good); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(c *Config){
		"no key":              func(c *Config) { c.ServerKey = nil },
		"display name":        func(c *Config) { c.From = "Keyhold <kit@example.org>" },
		"no from":             func(c *Config) { c.From = "" },
		"header injection":    func(c *Config) { c.From = "kit@example.org\r\nBcc: x@example.org" },
		"no host":             func(c *Config) { c.SMTP.Host = "" },
		"bad port":            func(c *Config) { c.SMTP.Port = 70000 },
		"password, no user":   func(c *Config) { c.SMTP.Password = []byte("x") },
		"negative retries":    func(c *Config) { c.Retries = -1 },
		"negative queue size": func(c *Config) { c.QueueSize = -1 },
	} {
		c := good
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
