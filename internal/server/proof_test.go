package server

import (
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/pake"
)

// reauth finishes a login of u in reauth mode with token, from device d
// and with loginKey (a wrong key sends junk KE3, as a guesser would).
func (e *env) reauth(u *user, d api.DeviceInfo, token string, loginKey []byte) *resp {
	e.t.Helper()
	return e.runLogin(u, d, token, loginKey, true)
}

// mustReauth gives u's session a fresh proof.
func (e *env) mustReauth(u *user) {
	e.t.Helper()
	var lf api.LoginFinishResponse
	e.reauth(u, u.device, u.token, u.loginKey).ok(e.t, 200, &lf)
	if lf.Token != "" || lf.DeviceID != u.device.ID || !lf.ReauthUntil.Equal(e.clock.Now().Add(ReauthTTL)) {
		e.t.Fatalf("reauth answer %+v", lf)
	}
}

// TestAccountChangesNeedProof: a session token alone can neither change
// the password, rotate the key nor register a login record; a fresh proof
// allows one change, once.
func TestAccountChangesNeedProof(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		_, msg, _ := pake.RegisterStart(randomKey())
		regStart := api.RegisterStartRequest{AccountID: u.idStr, Request: msg}
		newKey := randomKey()
		// A valid record, registered earlier by the honest device.
		e.mustReauth(u)
		record := e.register(u.id, newKey, u.token)
		e.do("POST", "/v1/logout", u.token, nil).ok(t, 204, nil)
		u.token = e.mustLogin(u, u.device)

		pw := api.PasswordRequest{KeyVersion: 1, Envelope: envelopeAt(u.id, 1, 2, 'X'), Record: record}
		rot := api.RotateRequest{KeyVersion: 2, Envelope: envelopeAt(u.id, 2, 3, '2'), KeyCheck: []byte("kc2"), Record: record,
			Transition: []byte("t"), Items: []api.PushItem{}, Manifest: []byte("m")}
		e.do("POST", "/v1/register/start", u.token, regStart).fails(t, 403, api.CodeReauth)
		e.do("PUT", "/v1/account/password", u.token, pw).fails(t, 403, api.CodeReauth)
		e.do("POST", "/v1/account/rotate", u.token, rot).fails(t, 403, api.CodeReauth)
		// A plain login's new session holds no proof either.
		tok2 := e.mustLogin(u, u.device)
		e.do("PUT", "/v1/account/password", tok2, pw).fails(t, 403, api.CodeReauth)
		var k api.Keys
		e.do("GET", "/v1/account/keys", u.token, nil).ok(t, 200, &k)
		if k.Envelope[len(k.Envelope)-1] != 'E' {
			t.Fatal("a refused password change changed the envelope")
		}

		// A wrong login key gives no proof.
		e.reauth(u, u.device, u.token, randomKey()).fails(t, 401, api.CodeLoginFailed)
		e.do("PUT", "/v1/account/password", u.token, pw).fails(t, 403, api.CodeReauth)
		// Nor does a login of another device, finished with this token.
		e.reauth(u, newDevice("other"), u.token, u.loginKey).fails(t, 401, api.CodeLoginFailed)
		e.do("PUT", "/v1/account/password", u.token, pw).fails(t, 403, api.CodeReauth)
		// A reauth login without a session is refused.
		e.reauth(u, u.device, "", u.loginKey).fails(t, 401, api.CodeUnauthorized)

		// With a fresh proof: register/start, then one change.
		e.mustReauth(u)
		record = e.register(u.id, newKey, u.token)
		pw.Record = record
		e.do("PUT", "/v1/account/password", u.token, pw).ok(t, 204, nil)
		// The proof is used up.
		e.do("PUT", "/v1/account/password", u.token, pw).fails(t, 403, api.CodeReauth)
		e.do("POST", "/v1/register/start", u.token, regStart).fails(t, 403, api.CodeReauth)
		u.loginKey = newKey
		e.mustReauth(u)
		rot.Record = e.register(u.id, randomKey(), u.token)
		e.do("POST", "/v1/account/rotate", u.token, rot).ok(t, 200, nil)
		e.do("POST", "/v1/account/rotate", u.token, rot).fails(t, 403, api.CodeReauth)
		if count(e.eventKinds(u), api.EventReauth) != 3 {
			t.Errorf("reauth events: %v", e.eventKinds(u))
		}
	})
}

// TestReauthExpires: a fresh proof lasts ReauthTTL.
func TestReauthExpires(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		e.mustReauth(u)
		record := e.register(u.id, randomKey(), u.token)
		e.clock.Add(ReauthTTL)
		_, msg, _ := pake.RegisterStart(randomKey())
		e.do("POST", "/v1/register/start", u.token, api.RegisterStartRequest{AccountID: u.idStr, Request: msg}).fails(t, 403, api.CodeReauth)
		e.do("PUT", "/v1/account/password", u.token, api.PasswordRequest{KeyVersion: 1, Envelope: envelope(u.id, 1, 'X'), Record: record}).fails(t, 403, api.CodeReauth)
	})
}

// TestRegisterStartThrottled: register/start with a session counts
// against the account's login throttle like a login start.
func TestRegisterStartThrottled(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		e.mustReauth(u)
		_, msg, _ := pake.RegisterStart(randomKey())
		req := api.RegisterStartRequest{AccountID: u.idStr, Request: msg}
		throttled := false
		for range freeAccountFailures + 3 {
			r := e.do("POST", "/v1/register/start", u.token, req)
			if r.status == 429 {
				throttled = true
				break
			}
			r.ok(t, 200, nil)
		}
		if !throttled {
			t.Fatal("register/start with a session was never throttled")
		}
		// The lockout covers logins of the account too.
		_, r := e.loginStart(u, u.device, u.loginKey)
		r.fails(t, 429, api.CodeThrottled)
	})
}

// TestPasswordChangeEndsOtherSessions: after a password change only the
// session that made it is left; other devices' sessions and event streams
// end, and they log in again with the new password.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), func(c *Config) { c.Heartbeat = time.Hour }) // only the change may end the stream
		u := e.newUser()
		b := newDevice("second")
		tokB := e.mustLogin(u, b)
		s := e.openEvents(tokB)
		s.next(t)
		e.mustReauth(u)
		newKey := randomKey()
		record := e.register(u.id, newKey, u.token)
		e.do("PUT", "/v1/account/password", u.token, api.PasswordRequest{KeyVersion: 1, Envelope: envelopeAt(u.id, 1, 2, 'N'), Record: record}).ok(t, 204, nil)
		s.ends(t)
		e.do("GET", "/v1/account", tokB, nil).fails(t, 401, api.CodeUnauthorized)
		e.do("GET", "/v1/account", u.token, nil).ok(t, 200, nil)
		e.login(u, b, u.loginKey).fails(t, 401, api.CodeLoginFailed)
		u.loginKey = newKey
		tokB = e.mustLogin(u, b)
		e.do("GET", "/v1/account", tokB, nil).ok(t, 200, nil)
	})
}

// TestPasswordChangeEndsStreamsOnOtherReplicas: a stream served by another
// replica ends at once (the change is announced through LISTEN/NOTIFY),
// not only at its next heartbeat.
func TestPasswordChangeEndsStreamsOnOtherReplicas(t *testing.T) {
	url := pgURL(t)
	e1 := newEnv(t, openPG(t, url), func(c *Config) { c.Heartbeat = time.Hour })
	e2 := newEnv(t, openPG(t, url))
	u := e1.newUser()
	tokB := e1.mustLogin(u, newDevice("second"))
	s := e1.openEvents(tokB)
	s.next(t)
	e2.clock.Add(time.Second) // a replica's clock may differ: the proof is the database's
	u.token = e2.mustLogin(u, u.device)
	e2.mustReauth(u)
	record := e2.register(u.id, randomKey(), u.token)
	e2.do("PUT", "/v1/account/password", u.token, api.PasswordRequest{KeyVersion: 1, Envelope: envelopeAt(u.id, 1, 2, 'N'), Record: record}).ok(t, 204, nil)
	s.ends(t)
}

// TestRotationNarrowsOtherSessions: after a key rotation other sessions
// may fetch the keys and the re-encrypted items (what following needs)
// and nothing else, until they log in again with the new login key.
func TestRotationNarrowsOtherSessions(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), func(c *Config) { c.Heartbeat = time.Hour })
		u := e.newUser()
		b := newDevice("second")
		tokB := e.mustLogin(u, b)
		s := e.openEvents(tokB)
		s.next(t)
		item := api.FormatID(newID())
		e.do("POST", "/v1/sync/push", u.token, api.PushRequest{Items: []api.PushItem{pushItem(item, 0, "old")}}).ok(t, 200, nil)
		e.mustReauth(u)
		newKey := randomKey()
		record := e.register(u.id, newKey, u.token)
		e.do("POST", "/v1/account/rotate", u.token, api.RotateRequest{Cursor: 1, KeyVersion: 2, Envelope: envelope(u.id, 2, '2'), KeyCheck: []byte("kc2"),
			Record: record, Transition: []byte("transition"), Items: []api.PushItem{pushItem(item, 0, "new")}, Manifest: []byte("m2")}).ok(t, 200, nil)
		s.ends(t)

		var k api.Keys
		e.do("GET", "/v1/account/keys", tokB, nil).ok(t, 200, &k)
		if k.KeyVersion != 2 || string(k.Transition) != "transition" {
			t.Errorf("keys for a narrowed session = %+v", k)
		}
		var ch api.ChangesResponse
		e.do("GET", "/v1/sync/changes", tokB, nil).ok(t, 200, &ch)
		if len(ch.Changes) != 1 || string(ch.Changes[0].Box) != "new" {
			t.Errorf("changes for a narrowed session = %+v", ch)
		}
		for _, ep := range authenticated(b.ID) {
			if followsRotation(ep.method+" "+ep.path) || ep.path == "/v1/sync/changes" {
				continue
			}
			e.do(ep.method, ep.path, tokB, "{}").fails(t, 401, api.CodeUnauthorized)
		}
		_, msg, _ := pake.RegisterStart(randomKey())
		e.do("POST", "/v1/register/start", tokB, api.RegisterStartRequest{AccountID: u.idStr, Request: msg}).fails(t, 401, api.CodeUnauthorized)
		e.reauth(u, b, tokB, newKey).fails(t, 401, api.CodeUnauthorized)
		// The rotating session keeps everything.
		e.do("GET", "/v1/devices", u.token, nil).ok(t, 200, nil)
		// Logging in again with the new login key gives a full session.
		u.loginKey = newKey
		tokB = e.mustLogin(u, b)
		e.do("POST", "/v1/sync/push", tokB, api.PushRequest{Cursor: 2, KeyVersion: 2, Items: []api.PushItem{pushItem(item, 1, "edit")}}).ok(t, 200, nil)
		e.do("POST", "/v1/logout", tokB, nil).ok(t, 204, nil)
	})
}
