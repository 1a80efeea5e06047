package server

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/pake"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
)

// registerStart answers the first registration message. With a session it
// serves a password change or key rotation of the session's own account
// (registerProof); without one, account creation. Either way it is counted
// like a login start, against the account and the source address, since
// each answer is an OPRF evaluation that, with one KE2, tests one guess of
// the account's login key.
//
// Without a session, an account id that exists is answered exactly as a
// new one: from the OPRF key of that id, the same key that answers its
// login starts (a real account's, or for an unknown id the one the fake
// login answers use). So the answer tells nothing a counted login start
// would not, and nothing about whether the account exists; the account's
// creation then fails at POST /v1/accounts (docs/LOGIN.md "Registration").
// A decoy key for existing accounts would itself tell them apart: its
// evaluation differs from the login start's.
func (s *Server) registerStart(w http.ResponseWriter, r *http.Request) {
	var req api.RegisterStartRequest
	if !decode(s, w, r, api.MaxBody, &req) {
		return
	}
	id := mustID(req.AccountID)
	if r.Header.Get("Authorization") != "" {
		a, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		if a.account.ID != id {
			badRequest(w, "account_id is not the account of this session")
			return
		}
		if !s.registerProof(w, r, a) {
			return
		}
	} else {
		acct, err := s.st.Account(r.Context(), id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.internal(w, r, err)
			return
		}
		if !s.countRegisterStart(w, r, acct, id) {
			return
		}
	}
	resp, err := s.pk.RegisterResponse(id, req.Request)
	if err != nil {
		s.pakeError(w, r, err)
		return
	}
	svc.WriteJSON(w, http.StatusOK, api.RegisterStartResponse{Response: resp})
}

// countRegisterStart counts a register/start like a login start: against
// the source address's starts and the account's attempts, answering 429
// itself on a lockout (acct, nil for an unknown account, gets the audit
// event a lockout of a login would give). It reports whether the request
// may go on.
func (s *Server) countRegisterStart(w http.ResponseWriter, r *http.Request, acct *store.Account, id store.ID) bool {
	if s.refuseThrottled(w, r, acct, addrKey(svc.ClientAddr(r, s.cfg.TrustProxy))) {
		return false
	}
	if !s.countStart(w, r) {
		return false
	}
	wait, until, err := s.attempt(r.Context(), accountKey(id))
	if err != nil {
		s.internal(w, r, err)
		return false
	}
	if wait > 0 {
		s.refuse(w, r, acct, wait, until)
		return false
	}
	return true
}

// createAccount stores a new account, its keys and its first device.
func (s *Server) createAccount(w http.ResponseWriter, r *http.Request) {
	var req api.CreateAccountRequest
	if !decode(s, w, r, api.MaxBody, &req) {
		return
	}
	if err := pake.ValidateRecord(req.Record); err != nil {
		badRequest(w, "record is not a valid login record")
		return
	}
	ctx := r.Context()
	ck := createKey(svc.ClientAddr(r, s.cfg.TrustProxy))
	if wait, _, err := s.throttled(ctx, ck); err != nil {
		s.internal(w, r, err)
		return
	} else if wait > 0 {
		secs := retryAfter(wait)
		svc.WriteError(w, http.StatusTooManyRequests, api.CodeThrottled, "too many accounts were created from this address; wait before creating another", secs)
		return
	}
	now := s.now().UTC()
	id := mustID(req.AccountID)
	plan := store.Plan{Name: s.cfg.NewAccountPlan}
	if plan.Name == store.PlanTrial {
		plan.TrialEnds = day(now).AddDate(0, 0, s.cfg.TrialDays)
	}
	acct := &store.Account{ID: id, Email: req.Email, Plan: plan, Created: now, KeyVersion: req.KeyVersion}
	keys := &store.Keys{Envelope: req.Envelope, KeyCheck: req.KeyCheck, KeyVersion: req.KeyVersion, Record: req.Record}
	dev := deviceFrom(id, req.Device, now)
	if err := s.st.CreateAccount(ctx, acct, keys, dev); err != nil {
		if errors.Is(err, store.ErrExists) {
			// Unavoidably, this tells that the id is taken. Account ids
			// are random (128 bits), so only someone who knows an id
			// already can learn this; counting it like a creation bounds
			// how many ids one address can try.
			if err := s.fail(ctx, ck); err != nil {
				s.internal(w, r, err)
				return
			}
		}
		s.storeError(w, r, err)
		return
	}
	s.metrics.accountsCreated.Inc()
	if err := s.fail(ctx, ck); err != nil {
		s.internal(w, r, err)
		return
	}
	if req.SyncSettings != nil {
		if err := s.st.PutSyncSettings(ctx, id, syncSettingsFrom(req.SyncSettings, now)); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	svc.WriteJSON(w, http.StatusCreated, struct{}{})
}

// loginStart answers KE1 with KE2 and stores the pending login. An unknown
// account is answered from a fake record, in the same shape and with the
// same database reads, so the answer does not tell whether it exists; a
// disabled account is refused only at finish, for the same reason.
func (s *Server) loginStart(w http.ResponseWriter, r *http.Request) {
	var req api.LoginStartRequest
	if !decode(s, w, r, api.MaxBody, &req) {
		return
	}
	ctx := r.Context()
	id := mustID(req.AccountID)
	acct, err := s.st.Account(ctx, id)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, r, err)
		return
	}
	if s.refuseThrottled(w, r, acct, addrKey(svc.ClientAddr(r, s.cfg.TrustProxy))) {
		return
	}
	if !s.countStart(w, r) {
		return
	}
	wait, until, err := s.attempt(ctx, accountKey(id))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if wait > 0 {
		s.refuse(w, r, acct, wait, until)
		return
	}
	var record []byte
	keys, err := s.st.Keys(ctx, id)
	switch {
	case err == nil && known:
		record = keys.Record
	case err == nil, errors.Is(err, store.ErrNotFound):
		known = false
	default:
		s.internal(w, r, err)
		return
	}
	ke2, state, err := s.pk.LoginStart(id, record, req.Message)
	if err != nil {
		s.pakeError(w, r, err)
		return
	}
	var lid store.ID
	rand.Read(lid[:])
	now := s.now()
	ls := &store.LoginState{
		ID:        lid,
		AccountID: id,
		Known:     known,
		Device:    *deviceFrom(id, req.Device, now),
		State:     state,
		Expires:   now.Add(loginTTL),
	}
	if err := s.st.PutLoginState(ctx, ls); err != nil {
		s.internal(w, r, err)
		return
	}
	svc.WriteJSON(w, http.StatusOK, api.LoginStartResponse{LoginID: api.FormatID(lid), Message: ke2})
}

// loginFinish checks KE3 and, if it verifies, registers the device and
// opens a session.
func (s *Server) loginFinish(w http.ResponseWriter, r *http.Request) {
	var req api.LoginFinishRequest
	if !decode(s, w, r, api.MaxBody, &req) {
		return
	}
	if req.Reauth {
		s.reauth(w, r, &req)
		return
	}
	ctx := r.Context()
	addr := addrKey(svc.ClientAddr(r, s.cfg.TrustProxy))
	ls, err := s.st.TakeLoginState(ctx, mustID(req.LoginID), s.now())
	if errors.Is(err, store.ErrNotFound) {
		// Expired, finished already, or never started: count it against
		// the address only, since the account is unknown.
		if err := s.fail(ctx, addr); err != nil {
			s.internal(w, r, err)
			return
		}
		s.loginFailed(w)
		return
	} else if err != nil {
		s.internal(w, r, err)
		return
	}
	var acct *store.Account
	if ls.Known {
		acct, err = s.st.Account(ctx, ls.AccountID)
		if errors.Is(err, store.ErrNotFound) { // deleted meanwhile
			acct, ls.Known = nil, false
		} else if err != nil {
			s.internal(w, r, err)
			return
		}
	}
	acctKey := accountKey(ls.AccountID)
	// The account's lockout is not checked here: the start that made this
	// pending login was counted and let through.
	err = s.pk.LoginFinish(ls.State, req.Message)
	if err != nil && !errors.Is(err, pake.ErrLoginFailed) && !errors.Is(err, pake.ErrMalformed) {
		s.internal(w, r, err)
		return
	}
	if err != nil || !ls.Known {
		if err := s.fail(ctx, addr); err != nil {
			s.internal(w, r, err)
			return
		}
		if acct != nil {
			s.audit(ctx, acct.ID, &store.Event{Kind: api.EventLoginFailed, DeviceID: ls.Device.ID, Source: s.source(r)})
		}
		s.loginFailed(w)
		return
	}
	if acct.Disabled {
		s.metrics.logins.WithLabelValues("failed").Inc()
		svc.WriteError(w, http.StatusForbidden, api.CodeDisabled, "this account is disabled; contact the server's operator", 0)
		return
	}
	now := s.now()
	dev := ls.Device
	dev.AccountID = acct.ID
	dev.LastSeen = now
	added, err := s.st.PutDevice(ctx, &dev, s.maxDevices(acct, now))
	if err != nil {
		s.metrics.logins.WithLabelValues("failed").Inc()
		s.storeError(w, r, err)
		return
	}
	if err := s.st.ClearFailures(ctx, acctKey.key); err != nil {
		s.internal(w, r, err)
		return
	}
	if added {
		s.audit(ctx, acct.ID, &store.Event{Kind: api.EventDeviceAdded, DeviceID: dev.ID, Source: s.source(r), Detail: dev.Name})
	}
	tok, hash, err := newToken()
	if err != nil {
		s.internal(w, r, err)
		return
	}
	sess := &store.Session{TokenHash: hash, AccountID: acct.ID, DeviceID: dev.ID, Created: now, Expires: now.Add(s.cfg.SessionTTL)}
	if err := s.st.CreateSession(ctx, sess); err != nil {
		s.internal(w, r, err)
		return
	}
	s.touches.due(dev.ID, now) // PutDevice just wrote last-seen
	setLogAccount(r, acct.ID)
	s.audit(ctx, acct.ID, &store.Event{Kind: api.EventLogin, DeviceID: dev.ID, Source: s.source(r)})
	s.metrics.logins.WithLabelValues("ok").Inc()
	svc.WriteJSON(w, http.StatusOK, api.LoginFinishResponse{Token: tok, Expires: sess.Expires.UTC(), DeviceID: api.FormatID(dev.ID)})
}

func (s *Server) loginFailed(w http.ResponseWriter) {
	s.metrics.logins.WithLabelValues("failed").Inc()
	svc.WriteError(w, http.StatusUnauthorized, api.CodeLoginFailed, "login failed: the password or Secret Key is wrong, or the login expired; start again", 0)
}

// refuseThrottled answers 429 if any of keys is locked out, and records
// the first refusal of each lockout in acct's audit log (acct nil: unknown
// account). It reports whether it answered.
func (s *Server) refuseThrottled(w http.ResponseWriter, r *http.Request, acct *store.Account, keys ...throttleKey) bool {
	wait, until, err := s.throttled(r.Context(), keys...)
	if err != nil {
		s.internal(w, r, err)
		return true
	}
	if wait <= 0 {
		return false
	}
	s.refuse(w, r, acct, wait, until)
	return true
}

// refuse answers 429 for a lockout until until.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, acct *store.Account, wait time.Duration, until time.Time) {
	s.metrics.logins.WithLabelValues("throttled").Inc()
	if acct != nil && s.lockouts.first(acct.ID, until) {
		s.audit(r.Context(), acct.ID, &store.Event{Kind: api.EventLoginThrottled, Source: s.source(r)})
	}
	secs := retryAfter(wait)
	svc.WriteError(w, http.StatusTooManyRequests, api.CodeThrottled, "too many failed logins; wait before trying again", secs)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, a *authed) {
	if err := s.st.DeleteSession(r.Context(), a.hash); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, r, err)
		return
	}
	s.streams.endSession(a.hash)
	noContent(w)
}

// pakeError answers a PAKE failure: a malformed message is the client's
// fault, damaged stored data the server's.
func (s *Server) pakeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, pake.ErrMalformed) {
		badRequest(w, "the login message is malformed")
		return
	}
	s.internal(w, r, err)
}

// audit records an event; a failure is logged, not returned, since the
// action it records has already happened.
func (s *Server) audit(ctx context.Context, account store.ID, e *store.Event) {
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	if err := s.st.AddEvent(ctx, account, e); err != nil {
		s.log.Error("recording an audit event failed", "kind", e.Kind, "error", err.Error())
	}
}
