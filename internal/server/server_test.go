package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/buildinfo"
	"github.com/keyhold/keyhold/internal/pake"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc/svctest"
)

// authenticated lists every endpoint that needs a session, with a body
// that would be valid for it.
func authenticated(deviceID string) []struct{ method, path string } {
	return []struct{ method, path string }{
		{"POST", "/v1/logout"},
		{"GET", "/v1/account"},
		{"GET", "/v1/account/keys"},
		{"PUT", "/v1/account/password"},
		{"POST", "/v1/account/rotate"},
		{"GET", "/v1/account/log"},
		{"GET", "/v1/account/sync-settings"},
		{"PUT", "/v1/account/sync-settings"},
		{"GET", "/v1/devices"},
		{"DELETE", "/v1/devices/" + deviceID},
		{"GET", "/v1/sync/changes"},
		{"POST", "/v1/sync/push"},
		{"GET", "/v1/sync/events"},
		{"POST", "/v1/mail/ticket"},
	}
}

func TestAuthRequired(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		// A well-formed token nobody was given, and garbage.
		unknown := strings.Repeat("A", 43)
		for _, ep := range authenticated(u.device.ID) {
			for _, tok := range []struct{ name, header string }{
				{"none", ""},
				{"garbage", "Bearer not-a-token"},
				{"unknown", "Bearer " + unknown},
				{"basic", "Basic " + u.token},
				{"padded", "Bearer " + u.token + "="},
			} {
				req, _ := http.NewRequest(ep.method, e.hs.URL+ep.path, strings.NewReader(`{}`))
				if tok.header != "" {
					req.Header.Set("Authorization", tok.header)
				}
				res, err := e.hs.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s with %s token: %d, want 401", ep.method, ep.path, tok.name, res.StatusCode)
				}
			}
		}
		// Nothing above touched the account: the device is active and the
		// session works.
		var devs []api.Device
		e.do("GET", "/v1/devices", u.token, nil).ok(t, 200, &devs)
		if len(devs) != 1 || devs[0].Revoked != nil || !devs[0].Current {
			t.Fatalf("devices = %+v", devs)
		}
	})
}

// TestAccountIsolation: one account's token never reaches another
// account's data, whatever the request names.
func TestAccountIsolation(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		a, b := e.newUser(), e.newUser()
		// B has items, settings and a second device; a device id that A
		// also uses stays B's own.
		itemB := api.FormatID(newID())
		var pr api.PushResponse
		e.do("POST", "/v1/sync/push", b.token, api.PushRequest{Items: []api.PushItem{pushItem(itemB, 0, "B's secret box")}}).ok(t, 200, &pr)
		e.do("PUT", "/v1/account/sync-settings", b.token, api.SyncSettings{Method: "folder", Settings: map[string]string{"path": "/b"}}).ok(t, 204, nil)
		shared := newDevice("shared id")
		e.mustLogin(b, shared)
		aShared := e.mustLogin(a, shared)

		var ch api.ChangesResponse
		e.do("GET", "/v1/sync/changes", a.token, nil).ok(t, 200, &ch)
		if len(ch.Changes) != 0 || ch.Head != 0 {
			t.Errorf("A's changes show B's: %+v", ch)
		}
		var acct api.Account
		e.do("GET", "/v1/account", a.token, nil).ok(t, 200, &acct)
		if acct.AccountID != a.idStr || acct.Items != 0 || acct.SyncSettings != nil || acct.Devices != 2 {
			t.Errorf("A's account = %+v", acct)
		}
		e.do("GET", "/v1/account/sync-settings", a.token, nil).fails(t, 404, api.CodeNotFound)
		var devs []api.Device
		e.do("GET", "/v1/devices", a.token, nil).ok(t, 200, &devs)
		for _, d := range devs {
			if d.ID == b.device.ID {
				t.Errorf("A's devices list B's device")
			}
		}
		// A cannot revoke B's device, nor register for B's account.
		e.mustReauth(a)
		e.do("DELETE", "/v1/devices/"+b.device.ID, a.token, nil).fails(t, 404, api.CodeNotFound)
		reg, msg, _ := pake.RegisterStart(randomKey())
		reg.Discard()
		e.do("POST", "/v1/register/start", a.token, api.RegisterStartRequest{AccountID: b.idStr, Request: msg}).fails(t, 400, api.CodeBadRequest)
		// Revoking the shared id in A leaves B's device of that id alone.
		e.mustReauth(a)
		e.do("DELETE", "/v1/devices/"+shared.ID, a.token, nil).ok(t, 204, nil)
		e.do("GET", "/v1/account", aShared, nil).fails(t, 401, api.CodeUnauthorized)
		e.mustLogin(b, shared)
		// B's log holds nothing of A's.
		var evs []api.Event
		e.do("GET", "/v1/account/log", b.token, nil).ok(t, 200, &evs)
		for _, ev := range evs {
			if ev.Kind == api.EventDeviceRevoked {
				t.Errorf("B's log shows A's revocation")
			}
		}
		// B's data is intact.
		e.do("GET", "/v1/sync/changes", b.token, nil).ok(t, 200, &ch)
		if len(ch.Changes) != 1 || string(ch.Changes[0].Box) != "B's secret box" {
			t.Errorf("B's changes = %+v", ch)
		}
	})
}

// TestBadBodies: malformed, unknown-field and oversized bodies get 4xx and
// change nothing.
func TestBadBodies(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		e.mustReauth(u) // so that the account changes get as far as their bodies
		item := api.FormatID(newID())
		newAcct := api.FormatID(newID())
		huge := func(n int) string { return `{"cursor":0,"items":[]}` + strings.Repeat(" ", n) }
		for _, tc := range []struct {
			name, method, path, body string
			token                    bool
			status                   int
		}{
			{"push malformed", "POST", "/v1/sync/push", `{"cursor":0,"items":[`, true, 400},
			{"push unknown field", "POST", "/v1/sync/push", `{"cursor":0,"items":[{"item_id":"` + item + `","base_rev":0,"revs":[{"rev":1,"box":"AA=="}]}],"force":true}`, true, 400},
			{"push bad revs", "POST", "/v1/sync/push", `{"cursor":0,"items":[{"item_id":"` + item + `","base_rev":0,"revs":[{"rev":2,"box":"AA=="}]}]}`, true, 400},
			{"push too large", "POST", "/v1/sync/push", huge(api.MaxPushBody), true, 413},
			{"create unknown field", "POST", "/v1/accounts", `{"account_id":"` + newAcct + `","plan":"premium"}`, false, 400},
			{"create too large", "POST", "/v1/accounts", huge(api.MaxBody), false, 413},
			{"settings malformed", "PUT", "/v1/account/sync-settings", `{"method":"folder",}`, true, 400},
			{"settings two values", "PUT", "/v1/account/sync-settings", `{"method":"folder"}{"method":"none"}`, true, 400},
			{"password junk record", "PUT", "/v1/account/password", `{"key_version":1,"envelope":"AA==","record":"AA=="}`, true, 400},
			{"login start malformed", "POST", "/v1/login/start", `{`, false, 400},
			{"login finish too large", "POST", "/v1/login/finish", huge(api.MaxBody), false, 413},
			{"rotate unknown field", "POST", "/v1/account/rotate", `{"cursor":0,"key_version":2,"admin":1}`, true, 400},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tok := ""
				if tc.token {
					tok = u.token
				}
				r := e.do(tc.method, tc.path, tok, tc.body)
				if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
				}
				if bytes.Contains(r.body, []byte("premium")) || bytes.Contains(r.body, []byte("force")) {
					t.Errorf("the answer repeats the request: %s", r.body)
				}
			})
		}
		// Nothing changed: no items, no settings, the old login key works,
		// and the account the bad create named does not exist.
		var ch api.ChangesResponse
		e.do("GET", "/v1/sync/changes", u.token, nil).ok(t, 200, &ch)
		if len(ch.Changes) != 0 || ch.Head != 0 {
			t.Errorf("changes after bad pushes: %+v", ch)
		}
		e.do("GET", "/v1/account/sync-settings", u.token, nil).fails(t, 404, api.CodeNotFound)
		e.mustLogin(u, u.device)
		e.register(mustID(newAcct), randomKey(), "") // refused if the account existed
	})
}

func TestLoginFinishReplay(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		l, r := e.loginStart(u, u.device, u.loginKey)
		var ls api.LoginStartResponse
		r.ok(t, 200, &ls)
		ke3, err := l.Finish(u.id, ls.Message)
		if err != nil {
			t.Fatal(err)
		}
		req := api.LoginFinishRequest{LoginID: ls.LoginID, Message: ke3}
		e.do("POST", "/v1/login/finish", "", req).ok(t, 200, nil)
		e.do("POST", "/v1/login/finish", "", req).fails(t, 401, api.CodeLoginFailed)

		// An expired pending login cannot be finished either.
		l, r = e.loginStart(u, u.device, u.loginKey)
		r.ok(t, 200, &ls)
		ke3, _ = l.Finish(u.id, ls.Message)
		e.clock.Add(loginTTL + time.Second)
		e.do("POST", "/v1/login/finish", "", api.LoginFinishRequest{LoginID: ls.LoginID, Message: ke3}).fails(t, 401, api.CodeLoginFailed)
	})
}

func TestSessionExpiry(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), func(c *Config) { c.SessionTTL = time.Hour })
		u := e.newUser()
		var lf api.LoginFinishResponse
		e.login(u, u.device, u.loginKey).ok(t, 200, &lf)
		if want := e.clock.Now().Add(time.Hour); !lf.Expires.Equal(want) {
			t.Errorf("expires %v, want %v", lf.Expires, want)
		}
		e.clock.Add(time.Hour - time.Second)
		e.do("GET", "/v1/account", lf.Token, nil).ok(t, 200, nil)
		e.clock.Add(time.Second)
		e.do("GET", "/v1/account", lf.Token, nil).fails(t, 401, api.CodeUnauthorized)
	})
}

func TestLogout(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		other := e.mustLogin(u, u.device) // a second session of the same device
		e.do("POST", "/v1/logout", u.token, nil).ok(t, 204, nil)
		e.do("GET", "/v1/account", u.token, nil).fails(t, 401, api.CodeUnauthorized)
		e.do("GET", "/v1/account", other, nil).ok(t, 200, nil)
	})
}

func TestRevokeDevice(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		phone := newDevice("phone")
		phoneTok := e.mustLogin(u, phone)
		stream := e.openEvents(phoneTok)
		stream.next(t)

		// Revoking another device needs a fresh proof of the password:
		// a stolen token alone cannot shut the owner's devices out.
		e.do("DELETE", "/v1/devices/"+phone.ID, u.token, nil).fails(t, 403, api.CodeReauth)
		e.do("GET", "/v1/account", phoneTok, nil).ok(t, 200, nil)
		e.mustReauth(u)
		e.do("DELETE", "/v1/devices/"+phone.ID, u.token, nil).ok(t, 204, nil)
		e.do("GET", "/v1/account", phoneTok, nil).fails(t, 401, api.CodeUnauthorized)
		stream.ends(t)
		e.login(u, phone, u.loginKey).fails(t, 403, api.CodeRevoked)
		// The proof was used up; revoking again needs another, and then
		// changes nothing and records nothing new.
		e.do("DELETE", "/v1/devices/"+phone.ID, u.token, nil).fails(t, 403, api.CodeReauth)
		e.mustReauth(u)
		e.do("DELETE", "/v1/devices/"+phone.ID, u.token, nil).ok(t, 204, nil)

		var devs []api.Device
		e.do("GET", "/v1/devices", u.token, nil).ok(t, 200, &devs)
		if len(devs) != 2 {
			t.Fatalf("devices = %+v", devs)
		}
		for _, d := range devs {
			if (d.ID == phone.ID) != (d.Revoked != nil) || (d.ID == u.device.ID) != d.Current {
				t.Errorf("device %+v", d)
			}
		}
		kinds := e.eventKinds(u)
		if count(kinds, api.EventDeviceRevoked) != 1 || count(kinds, api.EventDeviceAdded) != 2 {
			t.Errorf("log = %v", kinds)
		}
		e.do("DELETE", "/v1/devices/not-a-uuid", u.token, nil).fails(t, 400, api.CodeBadRequest)
		e.mustReauth(u)
		e.do("DELETE", "/v1/devices/"+api.FormatID(newID()), u.token, nil).fails(t, 404, api.CodeNotFound)
		// A device may revoke itself with its token alone: that only ends
		// the token.
		laptop := newDevice("laptop")
		laptopTok := e.mustLogin(u, laptop)
		e.do("DELETE", "/v1/devices/"+laptop.ID, laptopTok, nil).ok(t, 204, nil)
		e.do("GET", "/v1/account", laptopTok, nil).fails(t, 401, api.CodeUnauthorized)
	})
}

func TestThrottle(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		wrong := randomKey()
		for i := 0; i < freeAccountFailures; i++ {
			e.login(u, u.device, wrong).fails(t, 401, api.CodeLoginFailed)
		}
		// The next failure is let through and starts a lockout…
		e.login(u, u.device, wrong).fails(t, 401, api.CodeLoginFailed)
		// …during which even the right key is refused before any work.
		r := e.login(u, u.device, u.loginKey)
		r.fails(t, 429, api.CodeThrottled)
		e.login(u, u.device, wrong).fails(t, 429, api.CodeThrottled) // recorded once per lockout
		if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
		}
		// Each failure doubles the lockout.
		var waits []time.Duration
		for range 4 {
			wait, _, _ := e.srv.throttled(context.Background(), accountKey(u.id))
			waits = append(waits, wait)
			e.clock.Add(wait)
			e.login(u, u.device, wrong).fails(t, 401, api.CodeLoginFailed)
		}
		for i := 1; i < len(waits); i++ {
			if waits[i] != 2*waits[i-1] {
				t.Errorf("lockouts %v do not double", waits)
			}
		}
		kinds := e.eventKinds(u)
		if count(kinds, api.EventLoginFailed) != freeAccountFailures+5 || count(kinds, api.EventLoginThrottled) != 1 {
			t.Errorf("log = %v", kinds)
		}
		// After the lockout the right key works and clears the count.
		wait, _, _ := e.srv.throttled(context.Background(), accountKey(u.id))
		e.clock.Add(wait)
		e.mustLogin(u, u.device)
		for i := 0; i < freeAccountFailures; i++ {
			e.login(u, u.device, wrong).fails(t, 401, api.CodeLoginFailed)
		}
	})
}

// TestThrottleCountsStarts: with OPAQUE a client learns from KE2 alone
// whether its guess was right, so login starts are counted even if never
// finished, and a burst of parallel starts gets no more through than a
// sequence.
func TestThrottleCountsStarts(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		for range freeAccountFailures + 1 {
			_, r := e.loginStart(u, u.device, randomKey())
			r.ok(t, 200, nil)
		}
		_, r := e.loginStart(u, u.device, randomKey())
		r.fails(t, 429, api.CodeThrottled)

		v := e.newUser()
		const n = 4 * freeAccountFailures
		codes := make(chan int, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, r := e.loginStart(v, v.device, randomKey())
				codes <- r.status
			})
		}
		wg.Wait()
		close(codes)
		ok := 0
		for c := range codes {
			switch c {
			case 200:
				ok++
			case 429:
			default:
				t.Errorf("status %d", c)
			}
		}
		if ok > freeAccountFailures+1 {
			t.Errorf("%d of %d parallel starts got through", ok, n)
		}
	})
}

// TestThrottleGuessRate: however fast an attacker tries, about ten guesses
// a minute reach the password check.
func TestThrottleGuessRate(t *testing.T) {
	c := newClock()
	var guesses int
	until := time.Time{}
	count := 0
	for now := c.Now(); now.Before(c.Now().Add(time.Minute)); now = now.Add(100 * time.Millisecond) {
		if now.Before(until) {
			continue
		}
		guesses++
		count++
		until = now.Add(lockout(count, freeAccountFailures))
	}
	if guesses > 12 {
		t.Errorf("%d guesses in the first minute", guesses)
	}
	if l := lockout(100, freeAccountFailures); l != maxLockout {
		t.Errorf("lockout after 100 failures = %v", l)
	}
}

// TestThrottleAcrossReplicas: failures counted on one replica lock the
// account out on another.
func TestThrottleAcrossReplicas(t *testing.T) {
	url := pgURL(t)
	e1 := newEnv(t, openPG(t, url))
	e2 := newEnv(t, openPG(t, url), func(c *Config) { c.Now = e1.clock.Now })
	u := e1.newUser()
	for i := 0; i <= freeAccountFailures; i++ {
		e1.login(u, u.device, randomKey()).fails(t, 401, api.CodeLoginFailed)
	}
	e2.login(u, u.device, u.loginKey).fails(t, 429, api.CodeThrottled)
	// A login started on one replica finishes on the other.
	e1.clock.Add(time.Hour)
	l, r := e1.loginStart(u, u.device, u.loginKey)
	var ls api.LoginStartResponse
	r.ok(t, 200, &ls)
	ke3, err := l.Finish(u.id, ls.Message)
	if err != nil {
		t.Fatal(err)
	}
	e2.do("POST", "/v1/login/finish", "", api.LoginFinishRequest{LoginID: ls.LoginID, Message: ke3}).ok(t, 200, nil)
}

// TestUnknownAccountLogin: a login for an account that does not exist gets
// the same answer as one that does, and then fails like a wrong password.
func TestUnknownAccountLogin(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		ghost := &user{id: newID(), loginKey: randomKey()}
		ghost.idStr = api.FormatID(ghost.id)

		shape := func(r *resp) string {
			var m map[string]any
			r.ok(t, 200, &m)
			var keys []string
			for k, v := range m {
				s, _ := v.(string)
				keys = append(keys, fmt.Sprintf("%s:%d", k, len(s)))
			}
			slices.Sort(keys)
			return strings.Join(keys, ",")
		}
		_, known := e.loginStart(u, u.device, randomKey())
		_, unknown := e.loginStart(ghost, newDevice("x"), ghost.loginKey)
		if a, b := shape(known), shape(unknown); a != b {
			t.Errorf("known account answers %s, unknown %s", a, b)
		}
		if known.header.Get("Content-Type") != unknown.header.Get("Content-Type") {
			t.Error("headers differ")
		}
		e.login(ghost, newDevice("x"), ghost.loginKey).fails(t, 401, api.CodeLoginFailed)
	})
}

func TestDisabledAccount(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		if err := e.st.SetDisabled(context.Background(), store.ID(u.id), true); err != nil {
			t.Fatal(err)
		}
		e.do("GET", "/v1/account", u.token, nil).fails(t, 403, api.CodeDisabled)
		// The login start does not tell; the finish does, to the holder of
		// the right key only.
		e.login(u, u.device, randomKey()).fails(t, 401, api.CodeLoginFailed)
		e.login(u, u.device, u.loginKey).fails(t, 403, api.CodeDisabled)
		e.st.SetDisabled(context.Background(), store.ID(u.id), false)
		e.do("GET", "/v1/account", u.token, nil).ok(t, 200, nil)
	})
}

func TestRegisterStart(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		_, msg, _ := pake.RegisterStart(randomKey())
		req := api.RegisterStartRequest{AccountID: u.idStr, Request: msg}
		// Without a session, every id is answered from the OPRF key its
		// login starts use, existing or not: the answer carries the same
		// evaluation as a login start's KE2 (its first 32 bytes), so it
		// tells nothing a counted login start would not, and cannot tell an
		// existing account from a new one.
		var anon, again, fresh, real api.RegisterStartResponse
		e.do("POST", "/v1/register/start", "", req).ok(t, 200, &anon)
		e.do("POST", "/v1/register/start", "", req).ok(t, 200, &again)
		e.do("POST", "/v1/register/start", "", api.RegisterStartRequest{AccountID: api.FormatID(newID()), Request: msg}).ok(t, 200, &fresh)
		e.mustReauth(u)
		e.do("POST", "/v1/register/start", u.token, req).ok(t, 200, &real)
		if !bytes.Equal(anon.Response, again.Response) || len(anon.Response) != len(fresh.Response) {
			t.Errorf("answers for an existing account are not like a new one's: %x, %x, new %x", anon.Response, again.Response, fresh.Response)
		}
		if !bytes.Equal(anon.Response, real.Response) {
			t.Error("an anonymous register/start for an existing account was not answered from its own OPRF key")
		}
		// The same for a known and an unknown id: the register answer's
		// evaluation is the login start's.
		for _, id := range []string{u.idStr, api.FormatID(newID())} {
			_, ke1, _ := pake.LoginStart(randomKey())
			var reg api.RegisterStartResponse
			e.do("POST", "/v1/register/start", "", api.RegisterStartRequest{AccountID: id, Request: ke1[:32]}).ok(t, 200, &reg)
			var ls api.LoginStartResponse
			e.do("POST", "/v1/login/start", "", api.LoginStartRequest{AccountID: id, Device: newDevice("probe"), Message: ke1}).ok(t, 200, &ls)
			if !bytes.Equal(reg.Response[:32], ls.Message[:32]) {
				t.Errorf("id %s: the register answer's evaluation differs from the login start's, which tells existing accounts apart", id)
			}
		}
		// With a bad session, nothing falls back to the anonymous path.
		e.do("POST", "/v1/register/start", strings.Repeat("A", 43), api.RegisterStartRequest{AccountID: api.FormatID(newID()), Request: msg}).fails(t, 401, api.CodeUnauthorized)
		e.do("POST", "/v1/register/start", "", api.RegisterStartRequest{AccountID: api.FormatID(newID()), Request: make([]byte, 31)}).fails(t, 400, api.CodeBadRequest)
		// Creating the same account twice is refused.
		record := e.register(newID(), randomKey(), "")
		create := api.CreateAccountRequest{AccountID: u.idStr, Record: record, Envelope: envelope(u.id, 1, 'e'), KeyCheck: []byte("k"), KeyVersion: 1, Device: newDevice("d")}
		e.do("POST", "/v1/accounts", "", create).fails(t, 409, api.CodeExists)
		// …and counted like a creation, so one address cannot probe for
		// account ids without bound.
		for i := 0; ; i++ {
			r := e.do("POST", "/v1/accounts", "", create)
			if r.status == 429 {
				break
			}
			r.fails(t, 409, api.CodeExists)
			if i > freeCreates {
				t.Fatal("creating an existing account is never throttled")
			}
		}
	})
}

func TestPasswordChange(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		newKey := randomKey()
		e.mustReauth(u)
		record := e.register(u.id, newKey, u.token)
		e.do("PUT", "/v1/account/password", u.token, api.PasswordRequest{KeyVersion: 2, Envelope: envelopeAt(u.id, 1, 2, 'N'), Record: record}).fails(t, 409, api.CodeStale)
		e.mustReauth(u) // the stale attempt used the proof
		// The password epoch must rise: the account's own envelope again,
		// or another at its epoch, is refused and changes nothing.
		e.do("PUT", "/v1/account/password", u.token, api.PasswordRequest{KeyVersion: 1, Envelope: envelope(u.id, 1, 'E'), Record: record}).fails(t, 409, api.CodeOldEpoch)
		e.do("PUT", "/v1/account/password", u.token, api.PasswordRequest{KeyVersion: 1, Envelope: envelopeAt(u.id, 1, 1, 'N'), Record: record}).fails(t, 409, api.CodeOldEpoch)
		e.do("PUT", "/v1/account/password", u.token, api.PasswordRequest{KeyVersion: 1, Envelope: envelopeAt(u.id, 1, 2, 'N'), Record: record}).ok(t, 204, nil)
		e.login(u, u.device, u.loginKey).fails(t, 401, api.CodeLoginFailed)
		u.loginKey = newKey
		e.mustLogin(u, u.device)
		var k api.Keys
		e.do("GET", "/v1/account/keys", u.token, nil).ok(t, 200, &k)
		if !bytes.Equal(k.Envelope, envelopeAt(u.id, 1, 2, 'N')) || string(k.KeyCheck) != "sealed key check" || k.KeyVersion != 1 {
			t.Errorf("keys = %+v", k)
		}
		if count(e.eventKinds(u), api.EventPasswordChanged) != 1 {
			t.Error("password change not logged")
		}
	})
}

func TestPushAndChanges(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		a, b := api.FormatID(newID()), api.FormatID(newID())
		var pr api.PushResponse
		e.do("POST", "/v1/sync/push", u.token, api.PushRequest{
			Cursor:   0,
			Items:    []api.PushItem{pushItem(a, 0, "a1", "a2"), pushItem(b, 0, "b1")},
			Manifest: []byte("manifest 1"),
		}).ok(t, 200, &pr)
		if pr.Head != 3 || len(pr.Accepted) != 2 || len(pr.Rejected) != 0 || !pr.ManifestStored {
			t.Fatalf("push = %+v", pr)
		}
		// Another device edits a on top of rev 2; this one's edit on rev 1
		// is refused item by item, and its manifest is not stored.
		e.do("POST", "/v1/sync/push", u.token, api.PushRequest{Cursor: 3, Items: []api.PushItem{pushItem(a, 2, "")}}).ok(t, 200, &pr)
		e.do("POST", "/v1/sync/push", u.token, api.PushRequest{
			Cursor:   3,
			Items:    []api.PushItem{pushItem(a, 1, "a2'"), pushItem(b, 1, "b2")},
			Manifest: []byte("manifest 2"),
		}).ok(t, 200, &pr)
		if len(pr.Rejected) != 1 || pr.Rejected[0].ItemID != a || pr.Rejected[0].CurrentRev != 3 ||
			len(pr.Accepted) != 1 || pr.Accepted[0].ItemID != b || pr.Accepted[0].Rev != 2 || pr.ManifestStored {
			t.Fatalf("push = %+v", pr)
		}

		var ch api.ChangesResponse
		e.do("GET", "/v1/sync/changes?since=0", u.token, nil).ok(t, 200, &ch)
		if ch.Head != 5 || len(ch.Changes) != 5 || ch.More || string(ch.Manifest) != "manifest 1" || ch.ManifestSeq != 3 || ch.KeyVersion != 1 {
			t.Fatalf("changes = %+v", ch)
		}
		if c := ch.Changes[3]; c.ItemID != a || c.Rev != 3 || !c.Deleted || c.Box != nil || c.Seq != 4 {
			t.Errorf("tombstone = %+v", c)
		}
		// Paging.
		var seqs []uint64
		since := uint64(0)
		for {
			e.do("GET", fmt.Sprintf("/v1/sync/changes?since=%d&limit=2", since), u.token, nil).ok(t, 200, &ch)
			for _, c := range ch.Changes {
				seqs = append(seqs, c.Seq)
				since = c.Seq
			}
			if !ch.More {
				break
			}
		}
		if !slices.Equal(seqs, []uint64{1, 2, 3, 4, 5}) {
			t.Errorf("paged seqs = %v", seqs)
		}
		for _, q := range []string{"since=-1", "since=x", "limit=-2", "limit=x"} {
			e.do("GET", "/v1/sync/changes?"+q, u.token, nil).fails(t, 400, api.CodeBadRequest)
		}
		var acct api.Account
		e.do("GET", "/v1/account", u.token, nil).ok(t, 200, &acct)
		if acct.Items != 1 || acct.Head != 5 {
			t.Errorf("account = %+v", acct)
		}
	})
}

func TestRotate(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		a := api.FormatID(newID())
		e.do("POST", "/v1/sync/push", u.token, api.PushRequest{Items: []api.PushItem{pushItem(a, 0, "old1", "old2")}}).ok(t, 200, nil)
		newKey := randomKey()
		e.mustReauth(u)
		record := e.register(u.id, newKey, u.token)
		rot := api.RotateRequest{
			Cursor: 2, KeyVersion: 2, Envelope: envelope(u.id, 2, '2'), KeyCheck: []byte("kc2"), Record: record,
			Transition: []byte("transition"), Items: []api.PushItem{pushItem(a, 0, "new1", "new2")}, Manifest: []byte("m2"),
		}
		stale := rot
		stale.Cursor = 1
		e.do("POST", "/v1/account/rotate", u.token, stale).fails(t, 409, api.CodeStale)
		e.mustReauth(u) // the stale attempt used the proof
		oldEpoch := rot
		oldEpoch.Envelope = envelopeAt(u.id, 2, 1, '2')
		e.do("POST", "/v1/account/rotate", u.token, oldEpoch).fails(t, 409, api.CodeOldEpoch)
		skip := rot
		skip.KeyVersion = 3
		// An epoch refused before the change leaves the proof unused.
		e.do("POST", "/v1/account/rotate", u.token, skip).fails(t, 409, api.CodeStale)
		var pr api.PushResponse
		e.mustReauth(u) // the refused attempts used the proof
		e.do("POST", "/v1/account/rotate", u.token, rot).ok(t, 200, &pr)
		if pr.Head != 4 {
			t.Errorf("head after rotation = %d", pr.Head)
		}
		u.loginKey = newKey
		e.mustReauth(u)
		e.do("POST", "/v1/account/rotate", u.token, rot).fails(t, 409, api.CodeStale)
		var ch api.ChangesResponse
		e.do("GET", "/v1/sync/changes", u.token, nil).ok(t, 200, &ch)
		if len(ch.Changes) != 2 || string(ch.Changes[1].Box) != "new2" || ch.KeyVersion != 2 || ch.ManifestSeq != 4 {
			t.Errorf("changes = %+v", ch)
		}
		var k api.Keys
		e.do("GET", "/v1/account/keys", u.token, nil).ok(t, 200, &k)
		if k.KeyVersion != 2 || string(k.Transition) != "transition" {
			t.Errorf("keys = %+v", k)
		}
		e.mustLogin(u, u.device)
	})
}

func TestAccountAndSettings(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), func(c *Config) { c.NewAccountPlan = store.PlanTrial; c.TrialDays = 14 })
		u := e.newUser()
		var acct api.Account
		e.do("GET", "/v1/account", u.token, nil).ok(t, 200, &acct)
		wantEnd := day(e.clock.Now()).AddDate(0, 0, 14).Format(DateLayout)
		if acct.AccountID != u.idStr || acct.Email != "user@example.com" || acct.KeyVersion != 1 || acct.Devices != 1 ||
			acct.Plan.Name != "trial" || acct.Plan.Effective != "trial" || acct.Plan.TrialEnds != wantEnd || acct.Plan.MaxDevices != 0 ||
			acct.MailerURL != "https://mailer.example" {
			t.Errorf("account = %+v", acct)
		}
		set := api.SyncSettings{Method: "server", Settings: map[string]string{"url": "https://k.example"}, Secret: []byte{1, 2, 3}}
		e.do("PUT", "/v1/account/sync-settings", u.token, set).ok(t, 204, nil)
		var got api.SyncSettings
		e.do("GET", "/v1/account/sync-settings", u.token, nil).ok(t, 200, &got)
		if got.Method != "server" || got.Settings["url"] != "https://k.example" || !bytes.Equal(got.Secret, set.Secret) {
			t.Errorf("settings = %+v", got)
		}
		// After the trial, the free plan's limits apply.
		e.clock.Add(15 * 24 * time.Hour)
		u.token = e.mustLogin(u, u.device)
		e.do("GET", "/v1/account", u.token, nil).ok(t, 200, &acct)
		if acct.Plan.Name != "trial" || acct.Plan.Effective != "free" || acct.Plan.MaxDevices != DefaultMaxDevicesFree {
			t.Errorf("plan after the trial = %+v", acct.Plan)
		}
		if acct.SyncSettings == nil || acct.SyncSettings.Method != "server" {
			t.Errorf("account settings = %+v", acct.SyncSettings)
		}
		kinds := e.eventKinds(u)
		for _, k := range []string{api.EventAccountCreated, api.EventDeviceAdded, api.EventLogin} {
			if count(kinds, k) == 0 {
				t.Errorf("log %v lacks %s", kinds, k)
			}
		}
	})
}

func TestPlanDeviceLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), func(c *Config) { c.Limits.MaxDevicesFree = 2 })
		u := e.newUser()
		e.mustLogin(u, newDevice("second"))
		third := newDevice("third")
		e.login(u, third, u.loginKey).fails(t, 403, api.CodePlanLimit)
		// Existing devices still log in.
		e.mustLogin(u, u.device)
		until := day(e.clock.Now()).AddDate(0, 1, 0)
		if err := e.st.SetPlan(context.Background(), store.ID(u.id), store.Plan{Name: store.PlanPremium, PaidUntil: until}); err != nil {
			t.Fatal(err)
		}
		e.mustLogin(u, third)
		// Past paid-until, premium falls back to free: no new devices.
		e.clock.Add(32 * 24 * time.Hour)
		e.login(u, newDevice("fourth"), u.loginKey).fails(t, 403, api.CodePlanLimit)
		e.mustLogin(u, third)
	})
}

func TestEffectivePlan(t *testing.T) {
	d := func(s string) time.Time { t, _ := time.Parse(DateLayout, s); return t }
	now := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)
	for _, tc := range []struct {
		plan store.Plan
		want string
	}{
		{store.Plan{Name: "free"}, "free"},
		{store.Plan{Name: ""}, "free"},
		{store.Plan{Name: "gold"}, "free"},
		{store.Plan{Name: "trial", TrialEnds: d("2026-03-01")}, "trial"},
		{store.Plan{Name: "trial", TrialEnds: d("2026-02-28")}, "free"},
		{store.Plan{Name: "trial"}, "trial"},
		{store.Plan{Name: "premium"}, "premium"},
		{store.Plan{Name: "premium", PaidUntil: d("2026-03-01")}, "premium"},
		{store.Plan{Name: "premium", PaidUntil: d("2026-02-28")}, "free"},
		{store.Plan{Name: "other", Label: "family", PaidUntil: d("2026-02-28")}, "free"},
		{store.Plan{Name: "other", Label: "family"}, "other"},
	} {
		if got := EffectivePlan(tc.plan, now); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.plan, got, tc.want)
		}
	}
}

// TestEvents: the stream sends the head at once, then after each push.
func TestEvents(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), func(c *Config) { c.Heartbeat = 50 * time.Millisecond })
		u := e.newUser()
		s := e.openEvents(u.token)
		if ev, ok := s.next(t); !ok || ev.Head != 0 || ev.KeyVersion != 1 {
			t.Fatalf("first event %+v %v", ev, ok)
		}
		e.do("POST", "/v1/sync/push", u.token, api.PushRequest{Items: []api.PushItem{pushItem(api.FormatID(newID()), 0, "x", "y")}}).ok(t, 200, nil)
		s.waitHead(t, 2)
		// A logout on this replica ends the stream at once.
		e.do("POST", "/v1/logout", u.token, nil).ok(t, 204, nil)
		s.ends(t)
		// Heartbeats re-check the session, so a stream also ends when its
		// session expires (or is ended on another replica).
		tok := e.mustLogin(u, u.device)
		s = e.openEvents(tok)
		s.next(t)
		e.clock.Add(DefaultSessionTTL)
		s.ends(t)
	})
}

// TestEventsAcrossReplicas: a push through one replica reaches a stream
// served by another that shares the PostgreSQL database.
func TestEventsAcrossReplicas(t *testing.T) {
	url := pgURL(t)
	e1 := newEnv(t, openPG(t, url))
	e2 := newEnv(t, openPG(t, url))
	u := e1.newUser()
	s := e1.openEvents(u.token)
	if ev, _ := s.next(t); ev.Head != 0 {
		t.Fatalf("first head %d", ev.Head)
	}
	tok2 := e2.mustLogin(u, newDevice("on replica 2"))
	e2.do("POST", "/v1/sync/push", tok2, api.PushRequest{Items: []api.PushItem{pushItem(api.FormatID(newID()), 0, "x")}}).ok(t, 200, nil)
	s.waitHead(t, 1)
}

// TestEventsEndOnShutdown: Close (called by the HTTP server's Shutdown)
// ends open streams, so a graceful shutdown does not wait for them.
func TestEventsEndOnShutdown(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		s := e.openEvents(u.token)
		s.next(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- e.hs.Config.Shutdown(ctx) }()
		s.ends(t)
		if err := <-done; err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	})
}

func TestOperationalEndpoints(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		e.login(u, u.device, randomKey())
		e.do("GET", "/healthz", "", nil).ok(t, 200, nil)
		e.do("GET", "/readyz", "", nil).ok(t, 200, nil)
		m := e.do("GET", "/metrics", "", nil)
		m.ok(t, 200, nil)
		for _, want := range []string{
			`keyhold_logins_total{result="ok"} 1`,
			`keyhold_logins_total{result="failed"} 1`,
			`keyhold_http_requests_total{code="200",route="POST /v1/login/finish"} 1`,
			`keyhold_event_streams 0`,
			`keyhold_accounts_created_total 1`,
			svctest.BuildInfoMetric(buildinfo.Read()),
		} {
			if !strings.Contains(string(m.body), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if strings.Contains(string(m.body), u.idStr) || strings.Contains(string(m.body), u.device.ID) {
			t.Error("metrics hold an id")
		}
		e.do("GET", "/v1/nowhere", "", nil).fails(t, 404, api.CodeNotFound)
		r := e.do("GET", "/v1/sync/push", u.token, nil)
		r.fails(t, 405, api.CodeBadRequest)
		if !strings.Contains(r.header.Get("Allow"), "POST") {
			t.Errorf("Allow = %q", r.header.Get("Allow"))
		}
	})
}

// TestRequestLog: one JSON line per request with the route and status, and
// nothing secret: no token, no body, no box.
func TestRequestLog(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st)
	u := e.newUser()
	e.do("POST", "/v1/sync/push", u.token, api.PushRequest{Items: []api.PushItem{pushItem(api.FormatID(newID()), 0, "BOXCONTENT")}}).ok(t, 200, nil)
	e.do("POST", "/v1/sync/push", u.token, `{"cursor":0,"items":[],"secret_field":"PASTED"}`).fails(t, 400, api.CodeBadRequest)
	logs := e.logs.String()
	for _, secret := range []string{u.token, "BOXCONTENT", "PASTED", "secret_field", "Qk9YQ09OVEVOVA", "Bearer", "sealed key check", "c2VhbGVkIGtleSBjaGVjaw"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["route"] == "POST /v1/sync/push" && m["status"] == float64(200) && m["account"] == u.idStr {
			found = true
		}
	}
	if !found {
		t.Errorf("no log line for the push:\n%s", logs)
	}
}

func TestTrustProxy(t *testing.T) {
	for _, tc := range []struct {
		trust  bool
		remote string
		xff    []string
		want   string
	}{
		{false, "192.0.2.1:1234", []string{"203.0.113.9"}, "192.0.2.1"},
		{true, "192.0.2.1:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{true, "192.0.2.1:1234", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{true, "192.0.2.1:1234", []string{"1.1.1.1", "203.0.113.7"}, "203.0.113.7"},
		{true, "192.0.2.1:1234", []string{"junk"}, "192.0.2.1"},
		{true, "192.0.2.1:1234", nil, "192.0.2.1"},
		{false, "[::ffff:192.0.2.1]:1", nil, "192.0.2.1"},
	} {
		s := &Server{cfg: Config{TrustProxy: tc.trust}}
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		for _, x := range tc.xff {
			r.Header.Add("X-Forwarded-For", x)
		}
		if got := s.source(r); got != tc.want {
			t.Errorf("%+v: %s", tc, got)
		}
	}
	a := addrKey(mustAddr("2001:db8:1:2:3:4:5:6")).key
	b := addrKey(mustAddr("2001:db8:1:2:ffff::1")).key
	if a != b || a != "addr:2001:db8:1:2::/64" {
		t.Errorf("IPv6 keys %s, %s: want one /64", a, b)
	}
}

// TestCreateThrottle: one address can create a handful of accounts at
// once, then must slow down.
func TestCreateThrottle(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	for range freeCreates {
		e.newUser()
	}
	u := &user{id: newID(), loginKey: randomKey()}
	record := e.register(u.id, u.loginKey, "")
	create := api.CreateAccountRequest{AccountID: api.FormatID(u.id), Record: record, Envelope: envelope(u.id, 1, 'e'), KeyCheck: []byte("k"), KeyVersion: 1, Device: newDevice("d")}
	e.do("POST", "/v1/accounts", "", create).ok(t, 201, nil) // starts the lockout
	create.AccountID = api.FormatID(newID())
	e.do("POST", "/v1/accounts", "", create).fails(t, 429, api.CodeThrottled)
	e.clock.Add(2 * time.Second)
	e.do("POST", "/v1/accounts", "", create).ok(t, 201, nil)
}

// TestLoginParams: a known account's envelope header, and for an unknown
// one a header of the same shape, stable across requests and replicas.
func TestLoginParams(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e1 := newEnv(t, open(t))
		e2 := newEnv(t, open(t)) // a second server on the same database
		u := e1.newUser()
		params := func(e *env, id string) []byte {
			var p api.LoginParamsResponse
			e.do("POST", "/v1/login/params", "", api.LoginParamsRequest{AccountID: id}).ok(t, 200, &p)
			if len(p.Header) != api.EnvelopeHeaderSize {
				t.Fatalf("header of %d bytes", len(p.Header))
			}
			return p.Header
		}
		if got := params(e1, u.idStr); !bytes.Equal(got, envelope(u.id, 1, 'E')[:api.EnvelopeHeaderSize]) {
			t.Errorf("known account's header %x", got)
		}
		ghost, other := newID(), newID()
		h := params(e1, api.FormatID(ghost))
		if !bytes.Equal(h, params(e2, api.FormatID(ghost))) {
			t.Error("an unknown account's header changes between requests")
		}
		if string(h[:5]) != "KHEK\x02" || !bytes.Equal(h[5:21], ghost[:]) || binary.BigEndian.Uint32(h[21:]) < 1 ||
			binary.BigEndian.Uint32(h[25:]) < binary.BigEndian.Uint32(h[21:]) || h[29] != 1 ||
			binary.BigEndian.Uint32(h[30:]) != 3 || binary.BigEndian.Uint32(h[34:]) < 64<<10 || h[38] != 4 {
			t.Errorf("fake header %x", h)
		}
		if h2 := params(e1, api.FormatID(other)); bytes.Equal(h[39:], h2[39:]) {
			t.Error("two unknown accounts share salt and check")
		}
		e1.do("POST", "/v1/login/params", "", `{"account_id":"`+strings.ToUpper(u.idStr)+`"}`).fails(t, 400, api.CodeBadRequest)
	})
}
