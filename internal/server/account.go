package server

import (
	"errors"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/pake"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
)

const (
	defaultLogLimit = 100
	maxLogLimit     = 1000
)

func (s *Server) account(w http.ResponseWriter, r *http.Request, a *authed) {
	ctx := r.Context()
	acct := a.account
	devs, err := s.st.Devices(ctx, acct.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	active := 0
	for _, d := range devs {
		if d.Revoked.IsZero() {
			active++
		}
	}
	items, err := s.st.CountItems(ctx, acct.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	ss, err := s.st.SyncSettings(ctx, acct.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, r, err)
		return
	}
	svc.WriteJSON(w, http.StatusOK, api.Account{
		AccountID:    api.FormatID(acct.ID),
		Email:        acct.Email,
		Plan:         s.apiPlan(acct, s.now()),
		Created:      acct.Created.UTC(),
		KeyVersion:   acct.KeyVersion,
		Devices:      active,
		Items:        items,
		Head:         acct.Head,
		SyncSettings: apiSyncSettings(ss),
		MailerURL:    s.cfg.MailerURL,
	})
}

// keys returns what a device needs to unwrap the account key. The PAKE
// record stays on the server.
func (s *Server) keys(w http.ResponseWriter, r *http.Request, a *authed) {
	k, err := s.st.Keys(r.Context(), a.account.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	svc.WriteJSON(w, http.StatusOK, api.Keys{Envelope: k.Envelope, KeyCheck: k.KeyCheck, KeyVersion: k.KeyVersion, Transition: k.Transition})
}

func (s *Server) password(w http.ResponseWriter, r *http.Request, a *authed) {
	if !s.needProof(w, a) {
		return
	}
	var req api.PasswordRequest
	if !decode(s, w, r, api.MaxBody, &req) {
		return
	}
	if err := pake.ValidateRecord(req.Record); err != nil {
		badRequest(w, "record is not a valid login record")
		return
	}
	if !s.epochRises(w, r, a.account.ID, req.Envelope) {
		return
	}
	if !s.useProof(w, r, a) {
		return
	}
	err := s.st.SetPassword(r.Context(), a.account.ID, req.KeyVersion, req.Envelope, req.Record, a.session.DeviceID)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	s.endOtherSessions(r, a)
	noContent(w)
}

// rotate replaces the account's keys and every revision in one
// transaction. The body may be large, so the connection's deadlines are
// extended for it.
func (s *Server) rotate(w http.ResponseWriter, r *http.Request, a *authed) {
	if !s.needProof(w, a) {
		return
	}
	extendDeadlines(w, 30*time.Minute)
	var req api.RotateRequest
	if !decode(s, w, r, api.MaxRotateBody, &req) {
		return
	}
	if req.KeyVersion != a.account.KeyVersion+1 {
		svc.WriteError(w, http.StatusConflict, api.CodeStale, "key_version must be the account's current key version plus one; pull first", 0)
		return
	}
	if err := pake.ValidateRecord(req.Record); err != nil {
		badRequest(w, "record is not a valid login record")
		return
	}
	if !s.epochRises(w, r, a.account.ID, req.Envelope) {
		return
	}
	if !s.useProof(w, r, a) {
		return
	}
	k := &store.Keys{Envelope: req.Envelope, KeyCheck: req.KeyCheck, KeyVersion: req.KeyVersion, Record: req.Record, Transition: req.Transition}
	head, err := s.st.Rotate(r.Context(), a.account.ID, req.Cursor, k, pushItems(req.Items), req.Manifest, a.session.DeviceID)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	s.narrowOtherSessions(r, a)
	svc.WriteJSON(w, http.StatusOK, api.PushResponse{Head: head, Accepted: []api.Accepted{}, Rejected: []api.Rejected{}, ManifestStored: true})
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request, a *authed) {
	limit, ok := intParam(w, r, "limit", defaultLogLimit, maxLogLimit)
	if !ok {
		return
	}
	evs, err := s.st.Events(r.Context(), a.account.ID, limit)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := make([]api.Event, 0, len(evs))
	for _, e := range evs {
		ev := api.Event{Time: e.Time.UTC(), Kind: e.Kind, Source: e.Source, Detail: e.Detail}
		if e.DeviceID != (store.ID{}) {
			ev.DeviceID = api.FormatID(e.DeviceID)
		}
		out = append(out, ev)
	}
	svc.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) getSyncSettings(w http.ResponseWriter, r *http.Request, a *authed) {
	ss, err := s.st.SyncSettings(r.Context(), a.account.ID)
	if errors.Is(err, store.ErrNotFound) {
		svc.WriteError(w, http.StatusNotFound, api.CodeNotFound, "this account has no sync settings yet", 0)
		return
	} else if err != nil {
		s.internal(w, r, err)
		return
	}
	svc.WriteJSON(w, http.StatusOK, apiSyncSettings(ss))
}

func (s *Server) putSyncSettings(w http.ResponseWriter, r *http.Request, a *authed) {
	var req api.SyncSettings
	if !decode(s, w, r, api.MaxBody, &req) {
		return
	}
	if err := s.st.PutSyncSettings(r.Context(), a.account.ID, syncSettingsFrom(&req, s.now())); err != nil {
		s.internal(w, r, err)
		return
	}
	noContent(w)
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request, a *authed) {
	devs, err := s.st.Devices(r.Context(), a.account.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := make([]api.Device, 0, len(devs))
	for _, d := range devs {
		ad := api.Device{
			ID:       api.FormatID(d.ID),
			Name:     d.Name,
			Platform: d.Platform,
			Added:    d.Added.UTC(),
			LastSeen: d.LastSeen.UTC(),
			Current:  d.ID == a.session.DeviceID,
		}
		if !d.Revoked.IsZero() {
			t := d.Revoked.UTC()
			ad.Revoked = &t
		}
		out = append(out, ad)
	}
	svc.WriteJSON(w, http.StatusOK, out)
}

// revokeDevice revokes one of the session's account's devices; its
// sessions end at once, and so do its event streams on this replica (on
// others at their next heartbeat). Revoking another device needs a fresh
// proof of the password (docs/LOGIN.md "Fresh proof"): otherwise a stolen
// token could shut the owner's devices out. Revoking the session's own
// device needs only the token, since all it does is end that token.
func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request, a *authed) {
	id, err := api.ParseID(r.PathValue("id"))
	if err != nil {
		badRequest(w, "the device id is not a lower-case UUID")
		return
	}
	dev := store.ID(id)
	other := dev != a.session.DeviceID
	if other && !s.needProof(w, a) {
		return
	}
	devs, err := s.st.Devices(r.Context(), a.account.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	var found *store.Device
	for _, d := range devs {
		if d.ID == dev {
			found = d
		}
	}
	if found == nil {
		svc.WriteError(w, http.StatusNotFound, api.CodeNotFound, "this account has no such device", 0)
		return
	}
	if other && !s.useProof(w, r, a) {
		return
	}
	if err := s.st.RevokeDevice(r.Context(), a.account.ID, dev); err != nil {
		s.storeError(w, r, err)
		return
	}
	s.streams.endDevice(a.account.ID, dev)
	if !found.Revoked.IsZero() { // revoked before: nothing new to record
		noContent(w)
		return
	}
	s.audit(r.Context(), a.account.ID, &store.Event{
		Kind:     api.EventDeviceRevoked,
		DeviceID: dev,
		Source:   s.source(r),
		Detail:   "by device " + api.FormatID(a.session.DeviceID),
	})
	noContent(w)
}

// intParam reads an optional non-negative integer query parameter: absent
// or 0 gives def, above max gives max.
func intParam(w http.ResponseWriter, r *http.Request, name string, def, max int) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		badRequest(w, name+" must be a non-negative integer")
		return 0, false
	}
	if n == 0 {
		return def, true
	}
	return min(n, max), true
}

// mustID converts an id the request's Validate already checked.
func mustID(s string) store.ID {
	id, err := api.ParseID(s)
	if err != nil {
		panic("server: id not validated: " + err.Error())
	}
	return store.ID(id)
}

func deviceFrom(account store.ID, d api.DeviceInfo, now time.Time) *store.Device {
	return &store.Device{
		ID:        mustID(d.ID),
		AccountID: account,
		Name:      d.Name,
		Platform:  d.Platform,
		Added:     now,
		LastSeen:  now,
	}
}

func syncSettingsFrom(s *api.SyncSettings, now time.Time) *store.SyncSettings {
	return &store.SyncSettings{Method: s.Method, Settings: maps.Clone(s.Settings), Secret: s.Secret, Updated: now}
}

func apiSyncSettings(s *store.SyncSettings) *api.SyncSettings {
	if s == nil {
		return nil
	}
	return &api.SyncSettings{Method: s.Method, Settings: s.Settings, Secret: s.Secret}
}

func pushItems(items []api.PushItem) []store.PushItem {
	out := make([]store.PushItem, len(items))
	for i, it := range items {
		id := mustID(it.ItemID)
		revs := make([]store.Revision, len(it.Revs))
		for j, rv := range it.Revs {
			revs[j] = store.Revision{ItemID: id, Rev: rv.Rev, Box: rv.Box, Deleted: rv.Deleted}
		}
		out[i] = store.PushItem{ItemID: id, BaseRev: it.BaseRev, Revs: revs}
	}
	return out
}
