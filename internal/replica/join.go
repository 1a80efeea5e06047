package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// Meta keys under which Join keeps the account's public values beside
// the items, as the vault does, so that a client that persists the store
// can open it again from the password and the Secret Key alone.
const (
	AccountIDKey = "account_id"
	EnvelopeKey  = "envelope"
	KeyCheckKey  = "keycheck"
)

// ErrNotEmpty is returned by Join on a store that already holds a vault.
var ErrNotEmpty = errors.New("the store already holds a vault")

// Join fills the empty store st with a new device's copy of the account
// downloaded from the server (syncclient.Setup's Create) and returns it
// unlocked at key version kv. As the CLI's setup does, nothing is
// written until the envelope, key check and Secret Key agree, the
// account key passes the key check, every item's revisions run 1, 2, …
// and open bound to their item and revision, and (if j carries one) the
// server's manifest matches the download. The server holds every item at
// its current revision, up to j.Head (verified if the manifest came
// along). The Replica keeps its own copy of j.AccountKey, which Close
// wipes.
func Join(ctx context.Context, st Store, j *vaultsync.Join, kv uint32, opts ...Option) (*Replica, error) {
	env, kc, err := checkJoinKeys(j)
	if err != nil {
		return nil, err
	}
	if env.KeyVersion != kv {
		return nil, fmt.Errorf("%w (its envelope is for key version %d, not %d)", ErrServerMismatch, env.KeyVersion, kv)
	}
	ak := new(keys.AccountKey)
	keys.LockMemory(ak[:])
	*ak = *j.AccountKey
	r := New(st, ak, kv, j.AccountID, opts...)
	r.ownAK = true
	if err := r.join(ctx, j, env, kc); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Replica) join(ctx context.Context, j *vaultsync.Join, env *format.Envelope, kc *format.KeyCheck) error {
	cur, hist, opened, err := r.joinRows(j.Revisions, j.Opened)
	if err != nil {
		return err
	}
	if j.Manifest != nil {
		state := make(ServerState, len(cur))
		for _, c := range cur {
			state[c.ID] = ServerEntry{Rev: c.Rev, Hash: sha256.Sum256(c.Box)}
		}
		if err := r.CheckServerState(j.Manifest, state, j.Head); err != nil {
			return fmt.Errorf("%w; nothing was written", err)
		}
	}
	tx, err := r.st.BeginSync(ctx, true)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Meta(ctx, ledger.ManifestKey); err == nil {
		return ErrNotEmpty
	} else if !errors.Is(err, ledger.ErrMissing) {
		return err
	}
	// The first manifest is at sequence 1, as the CLI's joined vault's.
	l := ledger.Fresh(tx, r.Keys(), r.kv, 1)
	for k, v := range map[string][]byte{AccountIDKey: j.AccountID[:], EnvelopeKey: env.Marshal(), KeyCheckKey: kc.Marshal()} {
		if err := tx.PutMeta(ctx, k, v); err != nil {
			return err
		}
	}
	for _, c := range cur {
		if _, err := l.Add(ctx, c.ID, c.Rev, c.Box); err != nil {
			return err
		}
		if err := tx.SetRemote(ctx, c.ID, c.Rev); err != nil {
			return err
		}
	}
	for _, h := range hist {
		if err := l.AddPast(ctx, h.ID, h.Rev, h.Box); err != nil {
			return err
		}
	}
	if err := putU64(ctx, tx, CursorKey, j.Head); err != nil {
		return err
	}
	if j.Manifest != nil {
		if err := putU64(ctx, tx, VerifiedKey, j.Head); err != nil {
			return err
		}
	}
	if err := l.Commit(ctx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if r.keepJoined {
		r.mu.Lock()
		r.joined = opened
		r.mu.Unlock()
	}
	r.after(tx)
	return nil
}

// checkJoinKeys checks a new device's envelope and key check from the
// server against each other, the kit's Secret Key and the account key.
func checkJoinKeys(j *vaultsync.Join) (*format.Envelope, *format.KeyCheck, error) {
	env, err := format.ParseEnvelope(j.Envelope)
	if err != nil {
		return nil, nil, fmt.Errorf("the server's account key envelope: %w", err)
	}
	kc, err := format.ParseKeyCheck(j.KeyCheck)
	if err != nil {
		return nil, nil, fmt.Errorf("the server's key check: %w", err)
	}
	if env.AccountID != j.AccountID || env.KeyVersion != kc.KeyVersion {
		return nil, nil, fmt.Errorf("%w (the server's envelope and key check disagree)", ErrServerMismatch)
	}
	if err := env.CheckSecretKey(j.SecretKey); err != nil {
		return nil, nil, err
	}
	if err := kc.Verify(j.AccountKey, j.AccountID, env.KeyVersion); err != nil {
		return nil, nil, fmt.Errorf("the recovered account key fails the key check; nothing was written: %w", err)
	}
	return env, kc, nil
}

// joinRows sorts a download into each item's current revision and its
// past ones, checking that every item's revisions run 1, 2, … and that
// each opens. With WithJoinedItems, opened holds the current revisions
// opened.
//
// A current revision that the download check opened already from the
// same box (seen) is taken as it opened rather than opened again: every
// box is still opened with the account key before anything is written.
func (r *Replica) joinRows(revs []Incoming, seen map[ItemID]vaultsync.Opened) (cur, hist []ledger.Row, opened map[ItemID]joinedItem, err error) {
	var order []ItemID
	groups := map[ItemID][]Incoming{}
	for _, c := range revs {
		if _, ok := groups[c.ID]; !ok {
			order = append(order, c.ID)
		}
		groups[c.ID] = append(groups[c.ID], c)
	}
	for _, id := range order {
		g := groups[id]
		for i, c := range g {
			if c.Rev != uint64(i)+1 {
				return nil, nil, nil, fmt.Errorf("%w (item %s: revision %d arrived without revision %d)", ErrServerMismatch, id, c.Rev, i+1)
			}
			var it *item.Item
			if o, ok := seen[id]; ok && o.Item != nil && o.Rev == c.Rev && bytes.Equal(o.Box, c.Box) {
				it = o.Item
			} else if it, err = r.Open(id, c.Rev, c.Box); err != nil {
				return nil, nil, nil, fmt.Errorf("%w (%v); nothing was written", ErrServerMismatch, err)
			}
			row := ledger.Row{ID: c.ID, Rev: c.Rev, Box: c.Box}
			if i == len(g)-1 {
				cur = append(cur, row)
				if r.keepJoined {
					if opened == nil {
						opened = make(map[ItemID]joinedItem, len(order))
					}
					opened[id] = joinedItem{rev: c.Rev, box: c.Box, it: it}
				}
			} else {
				hist = append(hist, row)
			}
		}
	}
	return cur, hist, opened, nil
}

// Create fills the empty store st with an empty vault of account acct
// under ak at key version kv (its first manifest at sequence 1), with no
// sync bookkeeping: every item added counts as not yet on a server. For
// tests and clients that make an account's first device.
func Create(ctx context.Context, st Store, ak *keys.AccountKey, kv uint32, acct keys.AccountID, opts ...Option) (*Replica, error) {
	r := New(st, ak, kv, acct, opts...)
	tx, err := st.BeginSync(ctx, true)
	if err != nil {
		r.Close()
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.Meta(ctx, ledger.ManifestKey); err == nil {
		r.Close()
		return nil, ErrNotEmpty
	} else if !errors.Is(err, ledger.ErrMissing) {
		r.Close()
		return nil, err
	}
	l := ledger.Fresh(tx, r.Keys(), kv, 1)
	if err := tx.PutMeta(ctx, AccountIDKey, acct[:]); err != nil {
		r.Close()
		return nil, err
	}
	if err := l.Commit(ctx); err != nil {
		r.Close()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		r.Close()
		return nil, err
	}
	r.after(tx)
	return r, nil
}
