package syncclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// PageSize is how many revisions one pull asks for.
const PageSize = 500

// maxPushBytes bounds the boxes in one push, below api.MaxPushBody with
// room for base64.
const maxPushBytes = 32 << 20

// Report says what one sync did.
type Report struct {
	Pulled          int // revisions received
	Pushed          int // items sent
	Added           int
	Updated         int
	Merged          int
	Conflicts       []vaultsync.MergeConflict
	Head            uint64
	Verified        bool // the server's manifest matched
	EnvelopeUpdated bool // a password change from another device was picked up
	Rotated         bool // a key rotation from another device was followed
}

func (r *Report) add(a *vaultsync.ApplyReport) {
	r.Added += a.Added
	r.Updated += a.Updated
	r.Merged += a.Merged
	r.Conflicts = append(r.Conflicts, a.Conflicts...)
}

// Syncer syncs one unlocked vault with one server.
type Syncer struct {
	C *api.Client
	S Local
	// Prove gets the session a fresh proof of the current login key
	// (Reauth); a password change and a key rotation call it just before
	// they reach the server, which refuses them without one.
	Prove func(ctx context.Context) error
}

// errRotated is internal: the server is at a newer key version.
var errRotated = errors.New("rotated")

// maxRounds bounds pull-merge-push rounds when other devices keep pushing.
const maxRounds = 8

// Sync pulls, merges, pushes and checks the server's manifest until this
// device and the server hold the same vault (or reports why not). Local
// edits are never overwritten: they are merged and pushed.
func (y *Syncer) Sync(ctx context.Context) (*Report, error) {
	unlock, err := y.S.LockSync()
	if err != nil {
		return nil, err
	}
	defer unlock()
	rep := &Report{}
	if err := y.keys(ctx, rep); err != nil {
		return rep, err
	}
	v := y.S
	for range maxRounds {
		page, err := y.pull(ctx, rep)
		if errors.Is(err, errRotated) {
			if err := y.keys(ctx, rep); err != nil {
				return rep, err
			}
			continue
		}
		if err != nil {
			return rep, err
		}
		cursor := page.Head
		switch {
		case page.ManifestSeq > cursor:
			return rep, fmt.Errorf("%w (its manifest is ahead of its head)", vaultsync.ErrServerMismatch)
		case page.Manifest != nil && page.ManifestSeq == cursor:
			if err := y.S.CheckServerManifest(ctx, page.Manifest, cursor); err != nil {
				if errors.Is(err, vaultsync.ErrServerMismatch) {
					// A revision may have been withheld or replayed in
					// what was applied: fetch again from the last
					// verified state next time.
					if st, serr := v.SyncState(ctx); serr == nil {
						_ = v.RewindCursor(ctx, st.Verified)
					}
				}
				return rep, err
			}
			rep.Verified = true
		}
		done, err := y.push(ctx, cursor, rep)
		if err != nil {
			return rep, err
		}
		if !done {
			continue // someone else pushed meanwhile: pull and merge
		}
		st, err := v.SyncState(ctx)
		if err != nil {
			return rep, err
		}
		rep.Head = st.Cursor
		if st.Verified == st.Cursor {
			rep.Verified = true
			return rep, nil
		}
		// Fully synced, but the newest manifest on the server is older
		// than its head (a device pushed without one): sign the current
		// state so the next device can check it.
		m, err := y.S.ServerManifest(ctx, st.Cursor, nil)
		if err != nil {
			return rep, err
		}
		resp, err := y.C.Push(ctx, &api.PushRequest{Cursor: st.Cursor, Items: []api.PushItem{}, Manifest: m})
		if err != nil {
			return rep, authError(err)
		}
		if resp.ManifestStored {
			if err := v.MarkVerified(ctx, st.Cursor); err != nil {
				return rep, err
			}
			rep.Verified = true
			return rep, nil
		}
	}
	return rep, fmt.Errorf("the server at %s kept refusing this device's changes for %d rounds (other devices kept changing the vault, or the server is misbehaving); run keyhold sync again", y.C.URL(), maxRounds)
}

// authError turns a refused session into ErrLoginNeeded or a revocation
// message.
func authError(err error) error {
	var ae *api.APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case api.CodeUnauthorized:
			return fmt.Errorf("%w (%s)", ErrLoginNeeded, ae.Message)
		case api.CodeRevoked:
			return ErrRevoked
		case api.CodeDisabled:
			return ErrDisabled
		case api.CodeReauth:
			return ErrNoProof
		}
	}
	return err
}

// keys picks up a password change or follows a key rotation made on
// another device.
func (y *Syncer) keys(ctx context.Context, rep *Report) error {
	k, err := y.C.Keys(ctx)
	if err != nil {
		return authError(err)
	}
	_, kv := y.S.AccountKey()
	switch {
	case k.KeyVersion < kv:
		return fmt.Errorf("%w (it has key version %d, this device %d)", vaultsync.ErrServerRollback, k.KeyVersion, kv)
	case k.KeyVersion == kv:
		changed, err := y.S.AdoptEnvelope(ctx, k.Envelope)
		if err != nil {
			return err
		}
		rep.EnvelopeUpdated = rep.EnvelopeUpdated || changed
		return nil
	}
	ar, nsk, err := y.S.FollowRotation(ctx, &vaultsync.RotatedKeys{KeyVersion: k.KeyVersion, Envelope: k.Envelope, KeyCheck: k.KeyCheck, Transition: k.Transition},
		func(check func(vaultsync.Incoming) error) ([]vaultsync.Incoming, uint64, []byte, error) {
			all, last, err := y.fetchAll(ctx, k.KeyVersion, check)
			if err != nil {
				return nil, 0, nil, err
			}
			if last.ManifestSeq != last.Head {
				return all, last.Head, nil, nil
			}
			return all, last.Head, last.Manifest, nil
		})
	if err != nil {
		return err
	}
	nsk.Wipe()
	rep.add(ar)
	rep.Rotated = true
	return nil
}

// fetchAll pulls every revision the server holds, all pages. check, if
// not nil, is called on every revision as its page arrives, so a download
// that goes wrong stops at the page where it does, not at the end.
//
// The next page is asked for as soon as a page's cursor is known, before
// its revisions are checked, so that the server and the network work
// while this device opens boxes; an error cancels the request ahead.
func (y *Syncer) fetchAll(ctx context.Context, kv uint32, check func(vaultsync.Incoming) error) ([]vaultsync.Incoming, *api.ChangesResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	type fetched struct {
		page *api.ChangesResponse
		err  error
	}
	ask := func(since uint64) <-chan fetched {
		ch := make(chan fetched, 1)
		go func() {
			p, err := y.C.Changes(ctx, since, PageSize)
			ch <- fetched{p, err}
		}()
		return ch
	}
	var all []vaultsync.Incoming
	var since, first uint64
	ahead := ask(0)
	defer func() {
		// A request still ahead is cancelled and waited for: nothing
		// uses the client after fetchAll returned.
		cancel()
		if ahead != nil {
			<-ahead
		}
	}()
	for {
		f := <-ahead
		ahead = nil
		page, err := f.page, f.err
		if err != nil {
			return nil, nil, authError(err)
		}
		if first == 0 {
			first = page.Head
		}
		if uint64(len(all)+len(page.Changes)) > first {
			// Every change has its own sequence number up to the head:
			// more changes than that is the server's doing.
			return nil, nil, fmt.Errorf("%w (the server at %s sent more changes than its head, %d, allows)", vaultsync.ErrServerMismatch, y.C.URL(), first)
		}
		if page.Head != first {
			return nil, nil, fmt.Errorf("the vault changed on the server at %s while it was downloaded (its head moved from %d to %d); run the command again", y.C.URL(), first, page.Head)
		}
		if page.KeyVersion != kv {
			return nil, nil, fmt.Errorf("the server at %s now reports key version %d, not %d as when the download started: the account key was rotated again meanwhile, or the server is inconsistent; run the command again", y.C.URL(), page.KeyVersion, kv)
		}
		in, next, err := incoming(page, since)
		if err != nil {
			return nil, nil, err
		}
		if page.More {
			ahead = ask(next)
		}
		if check != nil {
			for _, c := range in {
				if err := check(c); err != nil {
					return nil, nil, err
				}
			}
		}
		all = append(all, in...)
		since = next
		if !page.More {
			return all, page, nil
		}
	}
}

// incoming converts a page and returns the cursor after it.
func incoming(page *api.ChangesResponse, since uint64) ([]vaultsync.Incoming, uint64, error) {
	in := make([]vaultsync.Incoming, 0, len(page.Changes))
	next := since
	for _, c := range page.Changes {
		u, err := uuid.Parse(c.ItemID)
		if err != nil || c.Seq <= next || c.Rev == 0 {
			return nil, 0, fmt.Errorf("%w (a malformed change in its feed)", vaultsync.ErrServerMismatch)
		}
		if c.Deleted {
			return nil, 0, fmt.Errorf("%w (it sent a purge; items are deleted by moving them to the trash)", vaultsync.ErrServerMismatch)
		}
		in = append(in, vaultsync.Incoming{ID: vaultsync.ItemID(u), Rev: c.Rev, Box: c.Box})
		next = c.Seq
	}
	if page.More {
		if len(page.Changes) == 0 {
			return nil, 0, fmt.Errorf("%w (an empty page with more to come)", vaultsync.ErrServerMismatch)
		}
		return in, next, nil
	}
	if page.Head < next {
		return nil, 0, fmt.Errorf("%w (a change beyond its head)", vaultsync.ErrServerMismatch)
	}
	return in, page.Head, nil
}

// pull applies every page of changes since the cursor and returns the
// last page.
func (y *Syncer) pull(ctx context.Context, rep *Report) (*api.ChangesResponse, error) {
	v := y.S
	st, err := v.SyncState(ctx)
	if err != nil {
		return nil, err
	}
	_, kv := y.S.AccountKey()
	cursor := st.Cursor
	var first uint64
	for {
		page, err := y.C.Changes(ctx, cursor, PageSize)
		if err != nil {
			return nil, authError(err)
		}
		if page.Head < st.Cursor || page.Head < st.Verified {
			return nil, fmt.Errorf("%w: it is at sequence %d, this device had seen %d. Nothing was changed here; tell the server's operator", vaultsync.ErrServerRollback, page.Head, max(st.Cursor, st.Verified))
		}
		if page.KeyVersion != kv {
			return nil, errRotated
		}
		in, next, err := incoming(page, cursor)
		if err != nil {
			return nil, err
		}
		ar, err := y.S.ApplyIncoming(ctx, in, next)
		if err != nil {
			return nil, err
		}
		rep.Pulled += len(in)
		rep.add(ar)
		cursor = next
		if first == 0 {
			first = page.Head
		}
		if !page.More {
			return page, nil
		}
		if cursor >= first {
			// Changes made since this pull began wait for the next
			// round: a server cannot keep a pull going forever.
			page.More = false
			page.Head = cursor
			page.Manifest, page.ManifestSeq = nil, 0
			return page, nil
		}
	}
}

// push sends every local revision the server has not seen, in batches. It
// reports false if the server refused items or others pushed in between:
// the caller pulls (merging) and pushes again.
func (y *Syncer) push(ctx context.Context, cursor uint64, rep *Report) (bool, error) {
	v := y.S
	for {
		out, err := y.S.Outgoing(ctx, api.MaxPushItems)
		if err != nil {
			return false, err
		}
		if len(out) == 0 {
			return true, nil
		}
		more := len(out) == api.MaxPushItems
		var size int
		for i := range out {
			for _, r := range out[i].Revs {
				size += len(r.Box)
			}
			if size > maxPushBytes && i > 0 {
				out, more = out[:i], true
				break
			}
		}
		_, kv := y.S.AccountKey()
		req := &api.PushRequest{Cursor: cursor, KeyVersion: kv, Items: make([]api.PushItem, len(out))}
		var nrevs uint64
		for i, o := range out {
			pi := api.PushItem{ItemID: uuid.UUID(o.ID).String(), BaseRev: o.BaseRev, Revs: make([]api.Revision, len(o.Revs))}
			for j, r := range o.Revs {
				pi.Revs[j] = api.Revision{Rev: r.Rev, Box: r.Box}
			}
			nrevs += uint64(len(o.Revs))
			req.Items[i] = pi
		}
		if !more {
			if req.Manifest, err = y.S.ServerManifest(ctx, cursor+nrevs, out); err != nil {
				return false, err
			}
		}
		resp, err := y.C.Push(ctx, req)
		if api.IsCode(err, api.CodeStale) {
			return false, nil // rotated meanwhile: the next pull follows
		}
		if err != nil {
			return false, authError(err)
		}
		// The answer must account for exactly the items sent: each
		// accepted at the revision sent, or refused at a revision not
		// below the one this push was based on.
		sent := make(map[vaultsync.ItemID]*vaultsync.Outgoing, len(out))
		for i := range out {
			sent[out[i].ID] = &out[i]
		}
		bad := fmt.Errorf("%w (its answer to a push does not match what was sent)", vaultsync.ErrServerMismatch)
		done := make([]vaultsync.Pushed, 0, len(resp.Accepted))
		for _, a := range resp.Accepted {
			u, err := uuid.Parse(a.ItemID)
			o := sent[vaultsync.ItemID(u)]
			if err != nil || o == nil || a.Rev != o.Last() {
				return false, bad
			}
			delete(sent, o.ID)
			done = append(done, vaultsync.Pushed{ID: vaultsync.ItemID(u), Rev: a.Rev})
		}
		for _, rj := range resp.Rejected {
			u, err := uuid.Parse(rj.ItemID)
			o := sent[vaultsync.ItemID(u)]
			if err != nil || o == nil {
				return false, bad
			}
			if rj.CurrentRev < o.BaseRev {
				return false, fmt.Errorf("%w: item %s is at revision %d there, this device had seen %d", vaultsync.ErrServerRollback, o.ID, rj.CurrentRev, o.BaseRev)
			}
			delete(sent, o.ID)
		}
		if len(sent) != 0 {
			return false, bad
		}
		if err := y.S.MarkPushed(ctx, done); err != nil {
			return false, err
		}
		rep.Pushed += len(done)
		if len(resp.Rejected) > 0 || resp.Head != cursor+nrevs {
			return false, nil
		}
		// Nobody else wrote in between: the new sequence numbers are
		// exactly this push's revisions, which the device holds.
		if err := v.AdvanceCursor(ctx, cursor, resp.Head); err != nil {
			return false, err
		}
		cursor = resp.Head
		if resp.ManifestStored {
			if err := v.MarkVerified(ctx, cursor); err != nil {
				return false, err
			}
		}
		if !more {
			return true, nil
		}
	}
}

// Watch keeps the vault in sync: it syncs at once, then whenever the
// server announces a new head (server-sent events), whenever this device
// has changes to push (checked every poll), and at least every interval.
// Errors are passed to report and retried with backoff; Watch returns when
// ctx ends, or at once for errors that retrying cannot fix.
func Watch(ctx context.Context, cl *api.Client, sync func(context.Context) error, pending func(context.Context) (int, error), poll time.Duration, report func(error)) error {
	kick := make(chan struct{}, 1)
	trigger := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	go func() {
		backoff := time.Second
		for ctx.Err() == nil {
			err := cl.Events(ctx, func(api.HeadEvent) { trigger(); backoff = time.Second })
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				report(authError(err))
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			trigger()
		}
	}()
	trigger()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	last := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-tick.C:
			if n, err := pending(ctx); err == nil && n == 0 && time.Since(last) < 5*time.Minute {
				continue
			}
		}
		last = time.Now()
		if err := sync(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Retrying cannot fix these: a session the server ended
			// (the caller could not log in again), a refused login or
			// device, a server that lies.
			if errors.Is(err, ErrLoginNeeded) || errors.Is(err, ErrLoginFailed) || errors.Is(err, ErrRevoked) ||
				errors.Is(err, vaultsync.ErrServerRollback) || errors.Is(err, vaultsync.ErrServerMismatch) {
				return err
			}
			report(err)
		}
	}
}
