package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
)

const (
	defaultPageSize = 500
	// maxPageBytes bounds the boxes in one page of changes, so a page of
	// large items does not become a response of a gigabyte; the page then
	// holds fewer than limit changes and says more. Devices refuse a
	// longer page (api.MaxPageBytes).
	maxPageBytes = api.MaxPageBytes
	// streamWriteTimeout bounds each write to an event stream: a client
	// that stops reading is dropped rather than held forever.
	streamWriteTimeout = 30 * time.Second
)

// extendDeadlines gives a request with a large body or a long response
// more time than the server-wide timeouts.
func extendDeadlines(w http.ResponseWriter, d time.Duration) {
	rc := http.NewResponseController(w)
	t := time.Now().Add(d)
	rc.SetReadDeadline(t)
	rc.SetWriteDeadline(t)
}

func (s *Server) changes(w http.ResponseWriter, r *http.Request, a *authed) {
	var since uint64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			badRequest(w, "since must be a non-negative integer")
			return
		}
		since = n
	}
	limit, ok := intParam(w, r, "limit", defaultPageSize, api.MaxPageSize)
	if !ok {
		return
	}
	extendDeadlines(w, 5*time.Minute)
	revs, head, m, err := s.st.Changes(r.Context(), a.account.ID, since, limit)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	resp := api.ChangesResponse{Changes: make([]api.Change, 0, len(revs)), Head: head, KeyVersion: a.account.KeyVersion}
	size := 0
	for i, rv := range revs {
		if i > 0 && size+len(rv.Box) > maxPageBytes {
			break
		}
		size += len(rv.Box)
		resp.Changes = append(resp.Changes, api.Change{ItemID: api.FormatID(rv.ItemID), Seq: rv.Seq, Rev: rv.Rev, Box: rv.Box, Deleted: rv.Deleted})
	}
	if n := len(resp.Changes); n > 0 && resp.Changes[n-1].Seq < head {
		resp.More = n < len(revs) || len(revs) == limit
	}
	if m != nil {
		resp.Manifest, resp.ManifestSeq = m.Blob, m.Seq
	}
	svc.WriteJSON(w, http.StatusOK, resp)
}

func (s *Server) push(w http.ResponseWriter, r *http.Request, a *authed) {
	extendDeadlines(w, 5*time.Minute)
	var req api.PushRequest
	if !decode(s, w, r, api.MaxPushBody, &req) {
		return
	}
	if req.KeyVersion != 0 && req.KeyVersion != a.account.KeyVersion {
		svc.WriteError(w, http.StatusConflict, api.CodeStale, "the account key was rotated; pull first", 0)
		return
	}
	res, err := s.st.Push(r.Context(), a.account.ID, req.Cursor, pushItems(req.Items), req.Manifest)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	s.metrics.pushes.Inc()
	s.metrics.pushItems.WithLabelValues("accepted").Add(float64(len(res.Accepted)))
	s.metrics.pushItems.WithLabelValues("rejected").Add(float64(len(res.Rejected)))
	resp := api.PushResponse{
		Head:           res.Head,
		Accepted:       make([]api.Accepted, 0, len(res.Accepted)),
		Rejected:       make([]api.Rejected, 0, len(res.Rejected)),
		ManifestStored: res.ManifestStored,
	}
	for _, x := range res.Accepted {
		resp.Accepted = append(resp.Accepted, api.Accepted{ItemID: api.FormatID(x.ItemID), Rev: x.Rev, Seq: x.Seq})
	}
	for _, x := range res.Rejected {
		resp.Rejected = append(resp.Rejected, api.Rejected{ItemID: api.FormatID(x.ItemID), CurrentRev: x.CurrentRev})
	}
	svc.WriteJSON(w, http.StatusOK, resp)
}

// events streams the account's head as Server-Sent Events: the current
// head at once, then after every change from any replica, with a comment
// every heartbeat. The session is checked again before every message, so a
// stream ends soon after its session does; on this replica, logout and
// revocation end it at once.
func (s *Server) events(w http.ResponseWriter, r *http.Request, a *authed) {
	rc := http.NewResponseController(w)
	// The stream outlives the server's read and write timeouts: no read
	// deadline (the request has been read), and a write deadline per
	// message.
	rc.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer s.streams.remove(s.streams.add(a.hash, a.session.AccountID, a.session.DeviceID, cancel))
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()

	// Subscribe before reading the head, so no change falls in between.
	sub, err := s.st.Subscribe(ctx, a.account.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	acct, err := s.st.Account(ctx, a.account.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if !s.sendHead(w, rc, acct) {
		return
	}
	tick := time.NewTicker(s.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case _, ok := <-sub:
			if !ok {
				return
			}
			a2, err := s.session(r, a.hash)
			if err != nil {
				return
			}
			if !s.sendHead(w, rc, a2.account) {
				return
			}
		case <-tick.C:
			if _, err := s.session(r, a.hash); err != nil {
				return
			}
			if !s.send(w, rc, ": keep-alive\n\n") {
				return
			}
		}
	}
}

// sendHead sends the account's head as read from the store (not the
// subscription's value, which may be older than a later change).
func (s *Server) sendHead(w http.ResponseWriter, rc *http.ResponseController, acct *store.Account) bool {
	b, err := json.Marshal(api.HeadEvent{Head: acct.Head, KeyVersion: acct.KeyVersion})
	if err != nil {
		return false
	}
	return s.send(w, rc, fmt.Sprintf("event: head\ndata: %s\n\n", b))
}

func (s *Server) send(w http.ResponseWriter, rc *http.ResponseController, msg string) bool {
	rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := w.Write([]byte(msg)); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// streams are the event streams this replica serves, so that a logout or
// a revocation here can end them at once.
type streams struct {
	mu sync.Mutex
	m  map[[32]byte]map[*stream]struct{}
}

type stream struct {
	hash            [32]byte
	account, device store.ID
	cancel          context.CancelFunc
}

func (ss *streams) init() { ss.m = make(map[[32]byte]map[*stream]struct{}) }

func (ss *streams) add(hash [32]byte, account, device store.ID, cancel context.CancelFunc) *stream {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	set := ss.m[hash]
	if set == nil {
		set = make(map[*stream]struct{})
		ss.m[hash] = set
	}
	st := &stream{hash: hash, account: account, device: device, cancel: cancel}
	set[st] = struct{}{}
	return st
}

func (ss *streams) remove(st *stream) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m[st.hash], st)
	if len(ss.m[st.hash]) == 0 {
		delete(ss.m, st.hash)
	}
}

func (ss *streams) endSession(hash [32]byte) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for st := range ss.m[hash] {
		st.cancel()
	}
}

func (ss *streams) endDevice(account, device store.ID) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, set := range ss.m {
		for st := range set {
			if st.account == account && st.device == device {
				st.cancel()
			}
		}
	}
}
