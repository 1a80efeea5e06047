package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/pake"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
)

// Fresh proof for account changes (docs/LOGIN.md "Fresh proof").
//
// A session token alone may read and sync, but not replace what the
// account's login rests on: a password change, a key rotation and a new
// login record each need a fresh proof of the current login key. A
// device gets one by finishing an OPAQUE login in reauth mode with its
// session's token: no new session is opened, the session is stamped with
// a proof good for ReauthTTL, and the change that uses it clears it, so a
// proof buys one change. A token stolen from a device's disk, a log or a
// proxy therefore cannot change the password, rotate the key or register
// a login record of the thief's choosing without the password as well.
//
// A password change then ends every other session of the account (and
// their event streams): other devices log in again with the new password.
// A key rotation narrows every other session to what following the
// rotation needs (followsRotation); they log in again once they hold the new
// Secret Key.

// ReauthTTL is how long a fresh proof lasts: long enough to type a new
// password and upload a rotated vault's first bytes, short enough that a
// token stolen afterwards is worth nothing more than before.
const ReauthTTL = 5 * time.Minute

// followsRotation reports whether the route pattern is one a narrowed
// session may still use: fetching the keys with the transition and the
// re-encrypted items, and logging out.
func followsRotation(pattern string) bool {
	switch pattern {
	case "GET /v1/account/keys", "GET /v1/sync/changes", "POST /v1/logout":
		return true
	}
	return false
}

// errNarrowed means the session was narrowed by a key rotation and the
// request is not one that following the rotation needs.
var errNarrowed = errors.New("session narrowed by a key rotation")

// narrowedError answers a narrowed session's refused request.
func narrowedError(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="keyhold", error="invalid_token"`)
	svc.WriteError(w, http.StatusUnauthorized, api.CodeUnauthorized,
		"the account key was rotated on another device: this session may only follow the rotation; sync, then log in again with the password", 0)
}

// hasProof reports whether a's session holds an unused fresh proof. It is
// checked before a change's body is read, so that a token alone cannot
// make the server read a large rotation.
func (s *Server) hasProof(a *authed) bool {
	return !a.session.Narrowed && a.session.ReauthUntil.After(s.now())
}

// needProof answers 403 reauth_required unless a's session holds a fresh
// proof; it reports whether the request may go on.
func (s *Server) needProof(w http.ResponseWriter, a *authed) bool {
	if s.hasProof(a) {
		return true
	}
	svc.WriteError(w, http.StatusForbidden, api.CodeReauth,
		"this change needs a fresh proof of the current password: log in again in reauth mode (POST /v1/login/finish with reauth), then repeat it", 0)
	return false
}

// useProof uses up a's fresh proof just before the change it allows; two
// concurrent changes cannot both use one proof.
func (s *Server) useProof(w http.ResponseWriter, r *http.Request, a *authed) bool {
	err := s.st.TakeReauth(r.Context(), a.hash, s.now())
	if errors.Is(err, store.ErrNotFound) {
		svc.WriteError(w, http.StatusForbidden, api.CodeReauth,
			"the fresh proof of the password was used or has expired: log in again in reauth mode, then repeat the change", 0)
		return false
	}
	if err != nil {
		s.internal(w, r, err)
		return false
	}
	return true
}

// registerProof guards register/start with a session: it needs a fresh
// proof, and it counts against the login throttle like a login start
// (the account's attempts and the address's starts), since each answer
// helps test one guess of a login key.
func (s *Server) registerProof(w http.ResponseWriter, r *http.Request, a *authed) bool {
	if !s.needProof(w, a) {
		return false
	}
	return s.countRegisterStart(w, r, a.account, a.account.ID)
}

// endOtherSessions ends, after a password change, every session of the
// account but a's, and their event streams on this replica. Other
// replicas' streams wake on the head the store announces again, re-check
// their session and end (or at their next heartbeat, if the notification
// is lost). The change itself has happened: a failure is logged.
func (s *Server) endOtherSessions(r *http.Request, a *authed) {
	if err := s.st.EndOtherSessions(r.Context(), a.account.ID, a.hash); err != nil {
		s.log.Error("ending the other sessions after a password change failed", "error", err.Error())
	}
	s.streams.endAccountExcept(a.account.ID, a.hash)
}

// narrowOtherSessions narrows, after a key rotation, every session of the
// account but a's, and ends their event streams on this replica.
func (s *Server) narrowOtherSessions(r *http.Request, a *authed) {
	if err := s.st.NarrowOtherSessions(r.Context(), a.account.ID, a.hash); err != nil {
		s.log.Error("narrowing the other sessions after a key rotation failed", "error", err.Error())
	}
	s.streams.endAccountExcept(a.account.ID, a.hash)
}

func (ss *streams) endAccountExcept(account store.ID, keep [32]byte) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for hash, set := range ss.m {
		if hash == keep {
			continue
		}
		for st := range set {
			if st.account == account {
				st.cancel()
			}
		}
	}
}

// reauth finishes a login in reauth mode: the pending login must be of
// the session's own account and device, and a verified KE3 stamps the
// session with a fresh proof instead of opening a new session.
func (s *Server) reauth(w http.ResponseWriter, r *http.Request, req *api.LoginFinishRequest) {
	a, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	addr := addrKey(svc.ClientAddr(r, s.cfg.TrustProxy))
	ls, err := s.st.TakeLoginState(ctx, mustID(req.LoginID), s.now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, r, err)
		return
	}
	mine := err == nil && ls.Known && ls.AccountID == a.account.ID && ls.Device.ID == a.session.DeviceID
	if mine {
		err = s.pk.LoginFinish(ls.State, req.Message)
		if err != nil && !errors.Is(err, pake.ErrLoginFailed) && !errors.Is(err, pake.ErrMalformed) {
			s.internal(w, r, err)
			return
		}
	}
	if !mine || err != nil {
		if err := s.fail(ctx, addr); err != nil {
			s.internal(w, r, err)
			return
		}
		s.audit(ctx, a.account.ID, &store.Event{Kind: api.EventLoginFailed, DeviceID: a.session.DeviceID, Source: s.source(r), Detail: "reauth"})
		s.loginFailed(w)
		return
	}
	until := s.now().Add(ReauthTTL)
	if err := s.st.SetReauth(ctx, a.hash, until); err != nil {
		s.authError(w, r, err) // the session ended meanwhile
		return
	}
	if err := s.st.ClearFailures(ctx, accountKey(a.account.ID).key); err != nil {
		s.internal(w, r, err)
		return
	}
	s.audit(ctx, a.account.ID, &store.Event{Kind: api.EventReauth, DeviceID: a.session.DeviceID, Source: s.source(r)})
	s.metrics.logins.WithLabelValues("ok").Inc()
	svc.WriteJSON(w, http.StatusOK, api.LoginFinishResponse{Expires: a.session.Expires.UTC(), DeviceID: api.FormatID(a.session.DeviceID), ReauthUntil: until.UTC()})
}
