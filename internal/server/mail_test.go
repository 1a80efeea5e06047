package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/server/store"
)

// mailPub is the key an operator would print with admin mail-key.
func (e *env) mailPub() ed25519.PublicKey {
	e.t.Helper()
	pub, err := MailPublicKey(context.Background(), e.st)
	if err != nil {
		e.t.Fatal(err)
	}
	// Through its text form, as the mailer's configuration holds it.
	pub, err = mailticket.ParsePublicKey(mailticket.FormatPublicKey(pub))
	if err != nil {
		e.t.Fatal(err)
	}
	return pub
}

// plainTicketRequest is a request body for a ticket for an unencrypted kit.
var plainTicketRequest, _ = json.Marshal(api.MailTicketRequest{To: "alice@example.org", Kind: "plain", PayloadSHA256: make([]byte, 32)})

// The sealed payload and OpenPGP fingerprint the tests ask tickets for.
var (
	testPayloadHash = sha256.Sum256([]byte("an OpenPGP message"))
	testFingerprint = bytes.Repeat([]byte{0xab}, 20)
)

// ticket asks for a ticket with token, after giving its session a fresh
// proof straight in the store (TestMailTicketNeedsProof goes through the
// real reauth login; going through it here would count a login start per
// ticket against the test's one address).
func (e *env) ticket(token, to string) *resp {
	e.t.Helper()
	e.stampProof(token)
	return e.tokenTicket(token, to)
}

// stampProof gives token's session a fresh proof, if it has a session.
func (e *env) stampProof(token string) {
	e.t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || token == "" {
		return
	}
	// An ended session has nothing to stamp; the request then says so.
	e.st.SetReauth(context.Background(), sha256.Sum256(b), e.clock.Now().Add(ReauthTTL))
}

// tokenTicket asks for a ticket with token alone.
func (e *env) tokenTicket(token, to string) *resp {
	e.t.Helper()
	return e.do("POST", "/v1/mail/ticket", token, api.MailTicketRequest{To: to, Kind: "pgp",
		PayloadSHA256: testPayloadHash[:], RecipientKey: testFingerprint})
}

// mustTicket gets a ticket and checks it as the mailer would, now.
func (e *env) mustTicket(token, to string) (*api.MailTicketResponse, *mailticket.Ticket) {
	e.t.Helper()
	var mt api.MailTicketResponse
	e.ticket(token, to).ok(e.t, 200, &mt)
	t, err := mailticket.Verify(e.mailPub(), mt.Ticket, e.clock.Now())
	if err != nil {
		e.t.Fatalf("the ticket does not verify with the server's public key: %v", err)
	}
	return &mt, t
}

// kitEvents returns u's kit_email_requested events, newest first.
func (e *env) kitEvents(u *user) []api.Event {
	e.t.Helper()
	var evs []api.Event
	e.do("GET", "/v1/account/log?limit=1000", u.token, nil).ok(e.t, 200, &evs)
	var out []api.Event
	for _, ev := range evs {
		if ev.Kind == api.EventKitEmailed {
			out = append(out, ev)
		}
	}
	return out
}

func TestMailTicket(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		const to = "alice.liddell@example.org"
		mt, tk := e.mustTicket(u.token, to)
		if tk.AccountID != u.id || tk.To != to {
			t.Errorf("the ticket names %x and %q, want the session's account %x and %q", tk.AccountID, tk.To, u.id, to)
		}
		if tk.Kind != mailticket.KindPGP || tk.Payload != testPayloadHash || !bytes.Equal(tk.Key, testFingerprint) {
			t.Errorf("the ticket binds %v %x %x, not what the device asked for", tk.Kind, tk.Payload, tk.Key)
		}
		if want := e.clock.Now().Add(10 * time.Minute); !tk.Expires.Equal(want) || !mt.Expires.Equal(want) {
			t.Errorf("expires %v (answer says %v), want %v", tk.Expires, mt.Expires, want)
		}
		if mt.MailerURL != "https://mailer.example" {
			t.Errorf("mailer_url = %q", mt.MailerURL)
		}
		if tk.Nonce == ([16]byte{}) {
			t.Error("zero nonce")
		}
		// The mailer refuses it once it has expired.
		if _, err := mailticket.Verify(e.mailPub(), mt.Ticket, tk.Expires.Add(-time.Second)); err != nil {
			t.Errorf("a second before expiry: %v", err)
		}
		if _, err := mailticket.Verify(e.mailPub(), mt.Ticket, tk.Expires); !errors.Is(err, mailticket.ErrExpired) {
			t.Errorf("at expiry: %v, want ErrExpired", err)
		}

		// A second ticket to the same address has a fresh nonce.
		_, tk2 := e.mustTicket(u.token, to)
		if tk2.Nonce == tk.Nonce {
			t.Error("two tickets share a nonce")
		}

		// The audit log says so, with the device and a masked address.
		evs := e.kitEvents(u)
		if len(evs) != 2 {
			t.Fatalf("%d kit_email_requested events, want 2", len(evs))
		}
		for _, ev := range evs {
			if ev.Detail != "to a***@example.org, encrypted to OpenPGP key "+strings.Repeat("AB", 20) || ev.DeviceID != u.device.ID || ev.Source != "127.0.0.1" {
				t.Errorf("event %+v", ev)
			}
		}
		// Neither the audit log nor the server's log holds the address.
		var all []api.Event
		e.do("GET", "/v1/account/log?limit=1000", u.token, nil).ok(t, 200, &all)
		for _, ev := range all {
			if strings.Contains(ev.Detail, "alice") {
				t.Errorf("audit event %+v holds the address", ev)
			}
		}
		if logs := e.logs.String(); strings.Contains(logs, "alice") || strings.Contains(logs, base64.StdEncoding.EncodeToString(mt.Ticket)) {
			t.Errorf("the server log holds the address or the ticket:\n%s", logs)
		}
		m := e.do("GET", "/metrics", "", nil)
		if !bytes.Contains(m.body, []byte(`keyhold_mail_tickets_total{result="issued"} 2`)) {
			t.Error("metrics do not count the issued tickets")
		}
	})
}

// TestMailTicketNeedsProof: a session token alone gets no ticket, so a
// thief of one cannot have the mailer send a file of their own under the
// kit's subject to any address; a fresh proof of the password buys one.
func TestMailTicketNeedsProof(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		e.tokenTicket(u.token, "eve@example.org").fails(t, 403, api.CodeReauth)
		// A plain login's new session holds no proof either.
		tok2 := e.mustLogin(u, u.device)
		e.tokenTicket(tok2, "eve@example.org").fails(t, 403, api.CodeReauth)
		if n := len(e.kitEvents(u)); n != 0 {
			t.Fatalf("%d kit events after refused requests", n)
		}
		e.mustReauth(u)
		var mt api.MailTicketResponse
		e.tokenTicket(u.token, "alice@example.org").ok(t, 200, &mt)
		// The proof is used up by the ticket.
		e.tokenTicket(u.token, "eve@example.org").fails(t, 403, api.CodeReauth)
		if n := len(e.kitEvents(u)); n != 1 {
			t.Errorf("%d kit events, want 1", n)
		}
		// Refusals did not count against the account's tickets.
		for range mailTicketsFree - 1 {
			e.mustTicket(u.token, "alice@example.org")
		}
	})
}

// TestMailTicketOwnAccount: the ticket names the session's account; a
// request cannot name another, and a token is needed.
func TestMailTicketOwnAccount(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		a, b := e.newUser(), e.newUser()
		e.ticket("", "a@example.org").fails(t, 401, api.CodeUnauthorized)
		e.stampProof(a.token)
		e.do("POST", "/v1/mail/ticket", a.token, `{"to":"a@example.org","account_id":"`+b.idStr+`"}`).fails(t, 400, api.CodeBadRequest)
		_, tk := e.mustTicket(a.token, "a@example.org")
		if tk.AccountID != a.id {
			t.Errorf("A's session got a ticket for %x", tk.AccountID)
		}
		_, tk = e.mustTicket(b.token, "b@example.org")
		if tk.AccountID != b.id {
			t.Errorf("B's session got a ticket for %x", tk.AccountID)
		}
		if len(e.kitEvents(a)) != 1 || len(e.kitEvents(b)) != 1 {
			t.Errorf("each account's log should hold its one request: A %d, B %d", len(e.kitEvents(a)), len(e.kitEvents(b)))
		}
		// A logged-out session gets nothing.
		e.do("POST", "/v1/logout", b.token, nil).ok(t, 204, nil)
		e.ticket(b.token, "b@example.org").fails(t, 401, api.CodeUnauthorized)
	})
}

// TestMailTicketSealed: a ticket binds the kind, payload hash and key the
// device sent, and the server refuses a request that cannot be bound.
func TestMailTicketSealed(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		req := func(kind string, hash, key []byte) *resp {
			e.stampProof(u.token)
			return e.do("POST", "/v1/mail/ticket", u.token, api.MailTicketRequest{To: "u@example.org", Kind: kind, PayloadSHA256: hash, RecipientKey: key})
		}
		h := testPayloadHash[:]
		ageID := mailticket.AgeRecipientID("age1example")
		for _, tc := range []struct {
			name      string
			kind      string
			hash, key []byte
		}{
			{"no kind", "", h, nil},
			{"unknown kind", "none", h, nil},
			{"no hash", "plain", nil, nil},
			{"short hash", "plain", h[:31], nil},
			{"plain with a key", "plain", h, testFingerprint},
			{"pgp without a key", "pgp", h, nil},
			{"pgp with a 21-byte key", "pgp", h, make([]byte, 21)},
			{"age with a fingerprint", "age", h, testFingerprint},
		} {
			req(tc.kind, tc.hash, tc.key).fails(t, 400, api.CodeBadRequest)
		}
		if n := len(e.kitEvents(u)); n != 0 {
			t.Fatalf("%d kit events after refused requests", n)
		}
		for _, tc := range []struct {
			kind string
			want mailticket.Kind
			key  []byte
			log  string
		}{
			{"plain", mailticket.KindPlain, nil, "NOT encrypted"},
			{"age", mailticket.KindAge, ageID, "encrypted to an age recipient (SHA-256 " + hex.EncodeToString(ageID[:8]) + "…)"},
		} {
			var mt api.MailTicketResponse
			req(tc.kind, h, tc.key).ok(t, 200, &mt)
			tk, err := mailticket.Verify(e.mailPub(), mt.Ticket, e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			if tk.Kind != tc.want || !bytes.Equal(tk.Key, tc.key) || !tk.Matches([]byte("an OpenPGP message")) {
				t.Errorf("%s: the ticket binds %v %x", tc.kind, tk.Kind, tk.Key)
			}
			if ev := e.kitEvents(u)[0]; ev.Detail != "to u***@example.org, "+tc.log {
				t.Errorf("%s: audit detail %q", tc.kind, ev.Detail)
			}
		}
	})
}

func TestMailTicketBadAddress(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		for _, to := range []string{
			"",
			"alice",
			"alice@",
			"@example.org",
			"alice@example",
			"alice@@example.org",
			"alice@bob@example.org",
			"Alice <alice@example.org>",
			"alice@example.org, bob@example.org",
			"alice@example.org\r\nBcc: eve@example.org",
			"alice @example.org",
			"alice\u00a0x@example.org",
			"alice\u0085x@example.org",
			"alice@exa\u202emple.org",
			"\"alice\"@example.org",
			"alice@example.org.",
			strings.Repeat("a", 250) + "@example.org",
		} {
			r := e.ticket(u.token, to)
			r.fails(t, 400, api.CodeBadRequest)
			if bytes.Contains(r.body, []byte("alice")) || bytes.Contains(r.body, []byte("example.org")) {
				t.Errorf("%q: the answer repeats the address: %s", to, r.body)
			}
		}
		// Invalid UTF-8 cannot even be sent as JSON text; the strict
		// decoder refuses the raw bytes.
		e.do("POST", "/v1/mail/ticket", u.token, []byte("{\"to\":\"a\xff@example.org\"}")).fails(t, 400, api.CodeBadRequest)
		e.do("POST", "/v1/mail/ticket", u.token, `{"to":"a@example.org"`).fails(t, 400, api.CodeBadRequest)
		e.do("POST", "/v1/mail/ticket", u.token, `{"to":"`+strings.Repeat("a", api.MaxBody)+`"}`).fails(t, 413, api.CodeTooLarge)
		if n := len(e.kitEvents(u)); n != 0 {
			t.Errorf("%d kit events after refused requests", n)
		}
		// Refused requests did not use up the account's tickets.
		for range mailTicketsFree {
			e.mustTicket(u.token, "alice@example.org")
		}
	})
}

func TestMailTicketLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u, other := e.newUser(), e.newUser()
		for i := range mailTicketsFree {
			e.mustTicket(u.token, "alice"+strconv.Itoa(i)+"@example.org")
			e.clock.Add(time.Minute)
		}
		// The sixth within the hour is refused until an hour after the
		// fifth, and the refusal is neither recorded nor counted.
		r := e.ticket(u.token, "alice@example.org")
		r.fails(t, 429, api.CodeThrottled)
		if got := r.header.Get("Retry-After"); got != "3540" {
			t.Errorf("Retry-After %q, want 3540 (an hour after the last ticket)", got)
		}
		e.clock.Add(58 * time.Minute)
		r = e.ticket(u.token, "alice@example.org")
		r.fails(t, 429, api.CodeThrottled)
		if got := r.header.Get("Retry-After"); got != "60" {
			t.Errorf("Retry-After %q, want 60", got)
		}
		if n := len(e.kitEvents(u)); n != mailTicketsFree {
			t.Errorf("%d kit events, want %d", n, mailTicketsFree)
		}
		// Another account is not affected.
		e.mustTicket(other.token, "bob@example.org")

		// After a quiet hour the count starts again: five more, not six.
		e.clock.Add(time.Minute)
		for range mailTicketsFree {
			e.mustTicket(u.token, "alice@example.org")
		}
		e.ticket(u.token, "alice@example.org").fails(t, 429, api.CodeThrottled)
		m := e.do("GET", "/metrics", "", nil)
		if !bytes.Contains(m.body, []byte(`keyhold_mail_tickets_total{result="throttled"} 3`)) {
			t.Errorf("metrics do not count the refusals")
		}
	})
}

// TestMailTicketLimitSlidesWithUse: tickets spread out but never an hour
// apart still meet the limit, so no hour holds more than five.
func TestMailTicketLimitSlidesWithUse(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	u := e.newUser()
	for range mailTicketsFree {
		e.mustTicket(u.token, "alice@example.org")
		e.clock.Add(50 * time.Minute)
	}
	e.ticket(u.token, "alice@example.org").fails(t, 429, api.CodeThrottled)
}

// TestMailTicketAcrossReplicas: replicas sharing a database sign with one
// key and share each account's count, and a burst of parallel requests
// gets no more tickets than a sequence.
func TestMailTicketAcrossReplicas(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e1 := newEnv(t, open(t))
		e2 := newEnv(t, open(t), func(c *Config) { c.Now = e1.clock.Now })
		e2.clock = e1.clock
		if !e1.mailPub().Equal(e2.mailPub()) {
			t.Fatal("two replicas have different mail keys")
		}
		u := e1.newUser()
		const used = 2
		e1.mustTicket(u.token, "alice@example.org")
		if _, tk := e2.mustTicket(u.token, "alice@example.org"); tk.AccountID != u.id {
			t.Fatalf("replica 2's ticket names %x", tk.AccountID)
		}
		// A burst of 20 across both replicas, from 20 sessions of the
		// account that each hold a fresh proof, gets only what is left.
		toks := make([]string, 20)
		for i := range toks {
			tok, hash, err := newToken()
			if err != nil {
				t.Fatal(err)
			}
			now := e1.clock.Now()
			if err := e1.st.CreateSession(context.Background(), &store.Session{TokenHash: hash, AccountID: u.id, DeviceID: mustID(u.device.ID),
				Created: now, Expires: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			e1.stampProof(tok)
			toks[i] = tok
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[int]int{}
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := e1
				if i%2 == 1 {
					e = e2
				}
				req, _ := http.NewRequest("POST", e.hs.URL+"/v1/mail/ticket", bytes.NewReader(plainTicketRequest))
				req.Header.Set("Authorization", "Bearer "+toks[i])
				res, err := e.hs.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				mu.Lock()
				codes[res.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[200] != mailTicketsFree-used || codes[429] != 20-(mailTicketsFree-used) {
			t.Errorf("burst answers %v, want %d × 200 and the rest 429", codes, mailTicketsFree-used)
		}
		if n := len(e1.kitEvents(u)); n != mailTicketsFree {
			t.Errorf("%d kit events, want %d", n, mailTicketsFree)
		}
	})
}

// TestMailKeyPersists: a restarted server signs with the key it had, and
// the key is not one of the other server secrets.
func TestMailKeyPersists(t *testing.T) {
	st := openSQLite(t)
	e1 := newEnv(t, st)
	e2 := newEnv(t, st)
	if !e1.srv.mailKey.Equal(e2.srv.mailKey) {
		t.Fatal("the mail key changed when the server restarted")
	}
	pub := e1.mailPub()
	if !pub.Equal(e1.srv.mailKey.Public()) {
		t.Fatal("MailPublicKey is not the public half of the signing key")
	}
	if bytes.Equal(e1.srv.mailKey.Seed(), e1.srv.fakeHeaderKey) {
		t.Fatal("the mail key is the fake header key")
	}
	other := openSQLite(t)
	e3 := newEnv(t, other)
	if e3.mailPub().Equal(pub) {
		t.Fatal("two databases have the same mail key")
	}
}

func TestMaskAddress(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice@example.org", "a***@example.org"},
		{"a@example.org", "a***@example.org"},
		{"élodie@exemple.fr", "é***@exemple.fr"},
		{"bob.smith+kit@mail.example.com", "b***@mail.example.com"},
	} {
		if got := maskAddress(tc.in); got != tc.want {
			t.Errorf("maskAddress(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
