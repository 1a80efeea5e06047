package webcore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// deviceLocal is the browser's syncclient.Local: the shared sync rules of
// the vault, plus what a device decides for itself.
type deviceLocal struct {
	SyncLocal
	c   *Core
	dev *deviceRecord
}

// LockSync keeps two syncs of this tab apart. Two tabs of one browser
// each hold their own copy and sync it with the server, which merges.
func (l *deviceLocal) LockSync() (func(), error) {
	l.c.syncMu.Lock()
	return l.c.syncMu.Unlock, nil
}

// AdoptEnvelope keeps aside a newer envelope of the same key version the
// server holds (a password change on another device) until the new
// password opens it at Unlock, with the checks the command line makes
// (docs/SYNC.md "One sync", step 1): this account, key version and
// Secret Key, a key derivation not below this browser's, a password
// epoch not below the working envelope's.
func (l *deviceLocal) AdoptEnvelope(ctx context.Context, b []byte) (bool, error) {
	c, d := l.c, l.dev
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Equal(b, d.Envelope) || (d.Pending != nil && bytes.Equal(b, d.Pending)) {
		return false, nil
	}
	env, err := format.ParseEnvelope(b)
	if err != nil {
		return false, fmt.Errorf("%w (its account key envelope: %v)", vaultsync.ErrServerMismatch, err)
	}
	cur := d.envelope()
	if env.AccountID != cur.AccountID || env.KeyVersion != cur.KeyVersion {
		return false, fmt.Errorf("%w (the server's envelope is for another account or key version)", vaultsync.ErrServerMismatch)
	}
	sk := d.secretKey()
	defer sk.Wipe()
	if err := env.CheckSecretKey(sk); err != nil {
		return false, fmt.Errorf("%w (the server's envelope does not match this browser's Secret Key)", vaultsync.ErrServerMismatch)
	}
	if env.KDF.Weaker(d.KDFFloor) {
		return false, fmt.Errorf("%w (its envelope's %w: %s, this browser last used %s)", vaultsync.ErrServerMismatch, keys.ErrKDFDowngrade, env.KDF, d.KDFFloor)
	}
	if env.Epoch < cur.Epoch {
		return false, &vaultsync.OldEnvelopeError{From: "the server", Epoch: env.Epoch, Adopted: cur.Epoch}
	}
	if env.Epoch == cur.Epoch {
		return false, &vaultsync.OldEnvelopeError{From: "the server", Epoch: env.Epoch, Adopted: cur.Epoch, Same: true}
	}
	d.Pending = append([]byte(nil), b...)
	return true, nil
}

// FollowRotation refuses: the web vault does not re-encrypt its copy in
// place. Signing in again with the new kit downloads the rotated vault.
func (l *deviceLocal) FollowRotation(context.Context, *vaultsync.RotatedKeys, func(check func(vaultsync.Incoming) error) ([]vaultsync.Incoming, uint64, []byte, error)) (*vaultsync.ApplyReport, *keys.SecretKey, error) {
	return nil, nil, ErrSignInAgain
}

// ErrNoRotation means a key rotation was asked of the web vault.
var ErrNoRotation = errors.New("the web vault cannot rotate the account key; run keyhold rotate-key on a computer")

// RotateKey refuses (ErrNoRotation).
func (l *deviceLocal) RotateKey(context.Context, []byte, func(*vaultsync.Rotation) error) (*vaultsync.Created, error) {
	return nil, ErrNoRotation
}

// SyncEvent is the detail of the "sync" event.
type SyncEvent struct {
	State string `json:"state"` // "online", "offline" or "syncing"
	Error string `json:"error,omitempty"`
}

// ChangedEvent is the detail of the "changed" event.
type ChangedEvent struct {
	Added   int `json:"added"`
	Updated int `json:"updated"`
	Merged  int `json:"merged"`
}

// ConflictEvent is one item of the "conflicts" event.
type ConflictEvent struct {
	ID     string   `json:"id"`
	Title  string   `json:"title"`
	Fields []string `json:"fields"`
}

// SyncReport is what syncNow answers: what one sync did.
type SyncReport struct {
	Pulled    int             `json:"pulled"`
	Pushed    int             `json:"pushed"`
	Added     int             `json:"added"`
	Updated   int             `json:"updated"`
	Merged    int             `json:"merged"`
	Conflicts []ConflictEvent `json:"conflicts"`
	Verified  bool            `json:"verified"`
}

// ReportOf converts a sync's report for the page.
func ReportOf(r *syncclient.Report) SyncReport {
	out := SyncReport{Conflicts: []ConflictEvent{}}
	if r == nil {
		return out
	}
	out.Pulled, out.Pushed, out.Added, out.Updated, out.Merged, out.Verified = r.Pulled, r.Pushed, r.Added, r.Updated, r.Merged, r.Verified
	out.Conflicts = conflictsOf(r.Conflicts)
	return out
}

func conflictsOf(ms []vaultsync.MergeConflict) []ConflictEvent {
	cs := make([]ConflictEvent, len(ms))
	for i, m := range ms {
		cs[i] = ConflictEvent{ID: m.ID.String(), Title: m.Title, Fields: []string{}}
		for _, f := range m.Fields {
			cs[i].Fields = append(cs[i].Fields, f.Field)
		}
	}
	return cs
}

// LockedEvent is the detail of the "locked" event.
type LockedEvent struct {
	Reason string `json:"reason"` // "revoked", "rotated" or "signed-out"
}

// syncer returns a Syncer over the open vault, with a copy of the
// device's settings (the loop's logins change its token).
func (c *Core) syncer() (*syncclient.Syncer, *syncclient.Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v == nil {
		return nil, nil, ErrLocked
	}
	cfg := *c.dev.Sync
	cl, err := cfg.ClientHTTP(c.o.HTTP)
	if err != nil {
		return nil, nil, err
	}
	return &syncclient.Syncer{C: cl, S: &deviceLocal{SyncLocal: c.v, c: c, dev: c.dev}}, &cfg, nil
}

// SyncNow syncs once and reports what changed.
func (c *Core) SyncNow(ctx context.Context) (*syncclient.Report, error) {
	c.op.RLock() // its store of what it brought lands before a Lock or a wipe
	defer c.op.RUnlock()
	y, cfg, err := c.syncer()
	if err != nil {
		return nil, err
	}
	return c.syncOnce(ctx, y, cfg, nil)
}

// syncOnce syncs, and with login (the key the password just derived)
// logs in again first if the server ended the session. It refreshes the
// item list, keeps what changed, and tells the page.
func (c *Core) syncOnce(ctx context.Context, y *syncclient.Syncer, cfg *syncclient.Config, login *keys.Key32) (*syncclient.Report, error) {
	c.o.Event("sync", SyncEvent{State: "syncing"})
	rep, err := y.Sync(ctx)
	if errors.Is(err, syncclient.ErrLoginNeeded) && login != nil {
		// Under the sync lock: the loop and the pushes share cfg and
		// y.C, and may each log in again.
		c.syncMu.Lock()
		if err = syncclient.Login(ctx, y.C, cfg, y.S.AccountID(), login); err == nil {
			y.C.SetToken(cfg.Token)
		}
		c.syncMu.Unlock()
		if err == nil {
			c.mu.Lock()
			if c.dev != nil {
				c.dev.Sync.Token, c.dev.Sync.Expires = cfg.Token, cfg.Expires
			}
			c.mu.Unlock()
			_ = c.persist(ctx, true)
			rep, err = y.Sync(ctx)
		}
	}
	if rep != nil && rep.Pulled+rep.Pushed > 0 || rep != nil && rep.EnvelopeUpdated {
		if rerr := c.refresh(ctx); rerr != nil && err == nil {
			err = rerr
		}
		if perr := c.persist(ctx, rep.EnvelopeUpdated); perr != nil && err == nil {
			err = perr
		}
	}
	if rep != nil && rep.Added+rep.Updated+rep.Merged > 0 {
		c.o.Event("changed", ChangedEvent{Added: rep.Added, Updated: rep.Updated, Merged: rep.Merged})
	}
	if rep != nil && len(rep.Conflicts) > 0 {
		c.o.Event("conflicts", conflictsOf(rep.Conflicts))
	}
	if err != nil {
		c.o.Event("sync", SyncEvent{State: "offline", Error: Message(err)})
		return rep, err
	}
	c.o.Event("sync", SyncEvent{State: "online"})
	return rep, nil
}

// refresh brings the item list up to the vault: only the items written
// since are opened again.
func (c *Core) refresh(ctx context.Context) error {
	v, err := c.open()
	if err != nil {
		return err
	}
	es, all, err := v.Changed(ctx)
	if err != nil {
		return err
	}
	if all {
		if es, err = v.Items(ctx); err != nil {
			return err
		}
		c.ix.reset(es)
		return nil
	}
	c.ix.put(es...)
	return nil
}

// startSync starts the sync loop: at once, on every head the server
// announces (its event stream, a streaming fetch under js/wasm), on local
// changes and at least every five minutes. The session keeps login (the
// login key, wiped at Lock) to log in again when the server ends the
// session.
func (c *Core) startSync(login *keys.Key32) {
	c.mu.Lock()
	c.login = login
	c.mu.Unlock()
	y, cfg, err := c.syncer()
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// One push at a time, and at most one waiting: edits made while a
	// push runs go out with the next.
	pushing := make(chan struct{}, 1)
	pushes := new(sync.WaitGroup)
	push := func() {
		select {
		case pushing <- struct{}{}:
		default:
			return
		}
		// Added before the goroutine starts: stopSync cancels ctx, then
		// waits, so a push it does not wait for sees ctx ended.
		pushes.Add(1)
		go func() {
			defer pushes.Done()
			defer func() { <-pushing }()
			if ctx.Err() == nil {
				c.syncOnce(ctx, y, cfg, login)
			}
		}()
	}
	c.mu.Lock()
	c.stop, c.done, c.push, c.pushes = cancel, done, push, pushes
	c.mu.Unlock()
	go func() {
		defer close(done)
		err := syncclient.Watch(ctx, y.C, func(ctx context.Context) error {
			_, err := c.syncOnce(ctx, y, cfg, login)
			return err
		}, y.S.Pending, c.o.Poll, func(err error) {
			// The event stream reconnects by itself; a sync that fails
			// reports its own error.
			if code := Code(err); code == CodeNetwork && !errors.Is(err, syncclient.ErrLoginNeeded) {
				c.o.Event("sync", SyncEvent{State: "offline", Error: Message(err)})
			}
		})
		stopped := ctx.Err() != nil
		cancel() // the event stream's goroutine too
		pushes.Wait()
		if err == nil || stopped {
			return
		}
		// The wipe runs apart: it waits for a Lock in progress, which
		// waits for this loop to end.
		switch {
		case errors.Is(err, syncclient.ErrRevoked):
			go c.wipeAfter(LockedEvent{Reason: "revoked"})
		case errors.Is(err, ErrSignInAgain):
			go c.wipeAfter(LockedEvent{Reason: "rotated"})
		case errors.Is(err, syncclient.ErrLoginFailed):
			c.o.Event("sync", SyncEvent{State: "offline", Error: "The server ended this browser's session and did not take the password it was unlocked with: it was probably changed on another device. Lock, then unlock with the new password."})
		default:
			c.o.Event("sync", SyncEvent{State: "offline", Error: Message(err)})
		}
	}()
}

// wipeAfter ends the session for good after a revocation or a rotation:
// the sync loop stopped, every key and item dropped, the store wiped,
// then the page told. It holds c.op, so that no write stores anything
// after the wipe; the caller holds none of c.op, and is not the loop.
func (c *Core) wipeAfter(ev LockedEvent) {
	c.op.Lock()
	c.stopSync()
	c.forget()
	_ = c.o.Store.Clear(context.Background())
	c.op.Unlock()
	c.o.Event("locked", ev)
}

// stopSync stops the sync loop and waits for it.
func (c *Core) stopSync() {
	c.mu.Lock()
	stop, done, pushes := c.stop, c.done, c.pushes
	c.stop, c.done, c.push, c.pushes = nil, nil, nil, nil
	c.mu.Unlock()
	if stop != nil {
		stop()
		<-done
		pushes.Wait()
	}
}
