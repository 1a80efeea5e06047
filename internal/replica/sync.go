package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/merge"
)

// The device's sync state (docs/SYNC.md): per item, the newest revision
// the server is known to hold (ledger.SyncTx's remote table), and the
// server sequence pulled to (CursorKey). An item whose current revision
// is above its remote one has local edits the server has not seen: they
// are pushed, and a pull never overwrites them — it merges.

// ReadSyncState returns how far the replica in st has synced.
func ReadSyncState(ctx context.Context, st Store) (SyncState, error) {
	var s SyncState
	tx, err := st.BeginSync(ctx, false)
	if err != nil {
		return s, err
	}
	defer tx.Rollback()
	if s.Cursor, err = getU64(ctx, tx, CursorKey); err != nil {
		return s, err
	}
	if s.Verified, err = getU64(ctx, tx, VerifiedKey); err != nil {
		return s, err
	}
	return s, nil
}

// CountPending counts the items of st with changes the server has not
// seen.
func CountPending(ctx context.Context, st Store) (int, error) {
	tx, err := st.BeginSync(ctx, false)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	return tx.CountUnsynced(ctx)
}

// AdvanceCursor moves the pull cursor of st from from to to, when the
// device knows it holds every revision in between (its own push, with
// nobody else writing). It writes no item rows and leaves the manifest
// alone, so it costs one small transaction. If another process moved the
// cursor meanwhile, nothing changes.
func AdvanceCursor(ctx context.Context, st Store, from, to uint64) error {
	return advanceCursor(ctx, st, nil, from, to)
}

func advanceCursor(ctx context.Context, st Store, after func(ledger.SyncTxn), from, to uint64) error {
	return bookkeep(ctx, st, after, func(tx Tx) (bool, error) {
		cur, err := getU64(ctx, tx, CursorKey)
		if err != nil {
			return false, err
		}
		if cur != from || to < from {
			return false, nil
		}
		return true, putU64(ctx, tx, CursorKey, to)
	})
}

// RewindCursor moves the pull cursor of st back to to (the newest
// sequence whose manifest verified), so that the next pull fetches again
// every revision after it. A sync whose manifest check failed calls it:
// the server may have withheld or replayed a revision in a page the
// device already applied, and a server that stops lying must be able to
// deliver it. What was applied stays (every box opened and is kept);
// revisions fetched again must be byte-identical. The verified sequence,
// which the rollback check uses, does not move.
func RewindCursor(ctx context.Context, st Store, to uint64) error {
	return rewindCursor(ctx, st, nil, to)
}

func rewindCursor(ctx context.Context, st Store, after func(ledger.SyncTxn), to uint64) error {
	return bookkeep(ctx, st, after, func(tx Tx) (bool, error) {
		cur, err := getU64(ctx, tx, CursorKey)
		if err != nil {
			return false, err
		}
		if to >= cur {
			return false, nil
		}
		return true, putU64(ctx, tx, CursorKey, to)
	})
}

// MarkVerified records in st that the server stored this device's
// manifest for sequence head, which the device had fully pulled and
// pushed.
func MarkVerified(ctx context.Context, st Store, head uint64) error {
	return markVerified(ctx, st, nil, head)
}

func markVerified(ctx context.Context, st Store, after func(ledger.SyncTxn), head uint64) error {
	return bookkeep(ctx, st, after, func(tx Tx) (bool, error) {
		return true, putU64(ctx, tx, VerifiedKey, head)
	})
}

// bookkeep runs fn in a write transaction, committed if fn says so;
// after (if not nil) is called once it committed.
func bookkeep(ctx context.Context, st Store, after func(ledger.SyncTxn), fn func(Tx) (bool, error)) error {
	tx, err := st.BeginSync(ctx, true)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ok, err := fn(tx)
	if err != nil || !ok {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if after != nil {
		after(tx)
	}
	return nil
}

// SyncState returns the device's sync cursor and verified sequence.
func (r *Replica) SyncState(ctx context.Context) (SyncState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ReadSyncState(ctx, r.st)
}

// Pending counts items with changes the server has not seen.
func (r *Replica) Pending(ctx context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return CountPending(ctx, r.st)
}

// AdvanceCursor is the package's AdvanceCursor on the replica's store.
func (r *Replica) AdvanceCursor(ctx context.Context, from, to uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return advanceCursor(ctx, r.st, r.committed, from, to)
}

// RewindCursor is the package's RewindCursor on the replica's store.
func (r *Replica) RewindCursor(ctx context.Context, to uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return rewindCursor(ctx, r.st, r.committed, to)
}

// MarkVerified is the package's MarkVerified on the replica's store.
func (r *Replica) MarkVerified(ctx context.Context, head uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return markVerified(ctx, r.st, r.committed, head)
}

// Outgoing lists up to max items with revisions the server has not seen,
// each with every such revision (so the server keeps the whole history).
func (r *Replica) Outgoing(ctx context.Context, max int) ([]Outgoing, error) {
	var out []Outgoing
	err := r.read(ctx, func(tx Tx) error {
		var err error
		out, err = r.OutgoingTx(ctx, tx, max)
		return err
	})
	return out, err
}

// OutgoingTx is Outgoing in the caller's transaction.
func (r *Replica) OutgoingTx(ctx context.Context, tx Tx, max int) ([]Outgoing, error) {
	ps, err := tx.Unsynced(ctx, max)
	if err != nil {
		return nil, r.damaged(err)
	}
	out := make([]Outgoing, 0, len(ps))
	for _, p := range ps {
		o := Outgoing{ID: p.ID, BaseRev: p.Base}
		for rev := p.Base + 1; rev <= p.Cur; rev++ {
			box, err := r.BoxAt(ctx, tx, p.ID, rev, p.Cur)
			if err != nil {
				return nil, err
			}
			o.Revs = append(o.Revs, OutRev{Rev: rev, Box: box})
		}
		out = append(out, o)
	}
	return out, nil
}

// BoxAt reads revision rev of an item whose current revision is cur.
func (r *Replica) BoxAt(ctx context.Context, tx ledger.Tx, id ItemID, rev, cur uint64) ([]byte, error) {
	var box []byte
	var err error
	if rev == cur {
		var crev uint64
		crev, box, err = tx.Current(ctx, id)
		if err == nil && crev != rev {
			err = ledger.ErrMissing
		}
	} else {
		box, err = tx.Past(ctx, id, rev)
	}
	if errors.Is(err, ledger.ErrMissing) {
		return nil, r.damaged(fmt.Errorf("item %s has no revision %d in its history", id, rev))
	}
	if err != nil {
		return nil, r.damaged(err)
	}
	return box, nil
}

// MarkPushed records that the server holds the items at these revisions.
func (r *Replica) MarkPushed(ctx context.Context, ps []Pushed) error {
	return r.update(ctx, func(tx Tx) error { return r.MarkPushedTx(ctx, tx, ps) })
}

// MarkPushedTx is MarkPushed in the caller's transaction.
func (r *Replica) MarkPushedTx(ctx context.Context, tx Tx, ps []Pushed) error {
	for _, p := range ps {
		old, err := tx.Remote(ctx, p.ID)
		if err != nil {
			return r.damaged(err)
		}
		if err := tx.SetRemote(ctx, p.ID, max(old, p.Rev)); err != nil {
			return r.damaged(err)
		}
	}
	return nil
}

// ServerEntry is an item's newest revision on the server, and the
// SHA-256 of its box.
type ServerEntry struct {
	Rev  uint64
	Hash [32]byte
}

// ServerState is what this device knows the server holds: each item's
// newest revision there.
type ServerState map[ItemID]ServerEntry

// ServerStateTx reads the remote table with the hash of each box the
// server holds (the device holds the same bytes: revisions it shares with
// the server never differ).
func ServerStateTx(ctx context.Context, tx Tx) (ServerState, error) {
	m := ServerState{}
	err := tx.ServerHeld(ctx, func(row ledger.Row) error {
		m[row.ID] = ServerEntry{Rev: row.Rev, Hash: sha256.Sum256(row.Box)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// SignServerManifest computes the manifest of a server state (SPEC
// §14.1): count, and acc over the server entries of each item's newest
// revision and box, at sequence seq. It keeps version byte 1: its
// entries were bound to the boxes from the start, and devices of every
// version read it (the local manifest's version 2 is about the local
// entries).
func (r *Replica) SignServerManifest(set ServerState, seq uint64) *format.Manifest {
	m := &format.Manifest{Version: format.Version1, KeyVersion: r.kv, Seq: seq, Count: uint64(len(set))}
	for id, e := range set {
		format.XorInto(&m.Acc, format.ServerEntry(r.mk, id, e.Rev, e.Hash))
	}
	m.Sign(r.mk, r.acct)
	return m
}

// ServerManifest returns the manifest of the server's state once the
// given pushes are applied, at sequence seq, for the server to keep.
func (r *Replica) ServerManifest(ctx context.Context, seq uint64, pushes []Outgoing) ([]byte, error) {
	var set ServerState
	err := r.read(ctx, func(tx Tx) error {
		var err error
		set, err = ServerStateTx(ctx, tx)
		return r.damaged0(err)
	})
	if err != nil {
		return nil, err
	}
	for i := range pushes {
		p := &pushes[i]
		set[p.ID] = ServerEntry{Rev: p.Last(), Hash: sha256.Sum256(p.Revs[len(p.Revs)-1].Box)}
	}
	return r.SignServerManifest(set, seq).Marshal(), nil
}

// CheckServerState checks a server manifest (SPEC §14.1, steps 3–6)
// against the server state set at sequence head.
func (r *Replica) CheckServerState(blob []byte, set ServerState, head uint64) error {
	m, err := format.ParseManifest(blob)
	if err != nil {
		return fmt.Errorf("%w (its manifest is unreadable: %v)", ErrServerMismatch, err)
	}
	if m.KeyVersion != r.kv {
		return fmt.Errorf("%w (its manifest is for key version %d, not %d)", ErrServerMismatch, m.KeyVersion, r.kv)
	}
	if err := m.Verify(r.mk, r.acct); err != nil {
		return fmt.Errorf("%w (its manifest was not signed with the account key)", ErrServerMismatch)
	}
	if m.Seq != head {
		return fmt.Errorf("%w (its manifest describes sequence %d, not %d)", ErrServerMismatch, m.Seq, head)
	}
	want := r.SignServerManifest(set, head)
	if want.Count != m.Count {
		return fmt.Errorf("%w (%d items on the server, %d signed)", ErrServerMismatch, len(set), m.Count)
	}
	if subtle.ConstantTimeCompare(want.Acc[:], m.Acc[:]) != 1 {
		return fmt.Errorf("%w (the revisions it sent are not the %d the devices signed)", ErrServerMismatch, m.Count)
	}
	return nil
}

// CheckServerManifest verifies the manifest the server returned for
// sequence head against what this device knows the server holds (after a
// complete pull). On success the device records head as verified.
func (r *Replica) CheckServerManifest(ctx context.Context, blob []byte, head uint64) error {
	var set ServerState
	err := r.read(ctx, func(tx Tx) error {
		var err error
		set, err = ServerStateTx(ctx, tx)
		return r.damaged0(err)
	})
	if err != nil {
		return err
	}
	if err := r.CheckServerState(blob, set, head); err != nil {
		return err
	}
	return r.update(ctx, func(tx Tx) error { return r.damaged0(putU64(ctx, tx, VerifiedKey, head)) })
}

// ApplyIncoming stores revisions pulled from the server and moves the
// cursor, in one transaction. Items with local edits are merged field by
// field: the server's revisions go to the history, this device's edits
// are renumbered on top of them (so both lines stay in the history), and
// the merge becomes the current revision, to be pushed. Nothing local is
// ever overwritten. A revision the device already holds must be
// byte-identical, else the server is misbehaving.
func (r *Replica) ApplyIncoming(ctx context.Context, in []Incoming, cursor uint64) (*ApplyReport, error) {
	rep := &ApplyReport{}
	err := r.Write(ctx, func(tx Tx, l *ledger.Ledger) error {
		_, err := r.ApplyIncomingTx(ctx, tx, l, in, cursor, rep)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// ApplyIncomingTx is ApplyIncoming in the caller's transaction, with l a
// ledger over tx. It resets rep and fills it in, and returns the items
// whose current revision changed.
func (r *Replica) ApplyIncomingTx(ctx context.Context, tx Tx, l *ledger.Ledger, in []Incoming, cursor uint64, rep *ApplyReport) ([]Current, error) {
	*rep = ApplyReport{}
	// Group by item, keeping the order of first appearance.
	var order []ItemID
	groups := map[ItemID][]Incoming{}
	for _, c := range in {
		if _, ok := groups[c.ID]; !ok {
			order = append(order, c.ID)
		}
		groups[c.ID] = append(groups[c.ID], c)
	}
	old, err := getU64(ctx, tx, CursorKey)
	if err != nil {
		return nil, r.damaged(err)
	}
	if cursor < old {
		return nil, fmt.Errorf("%w (pulled to %d, the device had %d)", ErrServerRollback, cursor, old)
	}
	var changed []Current
	for _, id := range order {
		g := slices.Clone(groups[id])
		slices.SortFunc(g, func(a, b Incoming) int { return cmpU64(a.Rev, b.Rev) })
		c, ok, err := r.applyItem(ctx, tx, l, id, g, rep)
		if err != nil {
			return nil, err
		}
		if ok {
			changed = append(changed, c)
		}
	}
	if err := putU64(ctx, tx, CursorKey, cursor); err != nil {
		return nil, r.damaged(err)
	}
	return changed, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// applyItem applies one item's pulled revisions (sorted by rev), as the
// pull step of docs/SYNC.md says.
func (r *Replica) applyItem(ctx context.Context, tx Tx, l *ledger.Ledger, id ItemID, g []Incoming, rep *ApplyReport) (Current, bool, error) {
	r0, err := tx.Remote(ctx, id) // newest revision the server was known to hold
	if err != nil {
		return Current{}, false, r.damaged(err)
	}
	cur, _, err := tx.Current(ctx, id) // current local revision
	if errors.Is(err, ledger.ErrMissing) {
		cur = 0
	} else if err != nil {
		return Current{}, false, r.damaged(err)
	}
	// Revisions the device already holds must be byte-identical.
	if g, r0, err = r.skipHeld(ctx, tx, id, g, r0, cur); err != nil {
		return Current{}, false, err
	}
	if len(g) == 0 {
		return Current{}, false, r.setRemote(ctx, tx, id, r0)
	}
	// The rest must follow r0 without a gap, and every box must open.
	head, err := r.checkPulled(id, g, r0)
	if err != nil {
		return Current{}, false, err
	}
	var c Current
	if cur <= r0 {
		c, err = r.fastForward(ctx, l, id, cur, g, head, rep)
	} else {
		c, err = r.mergePulled(ctx, tx, l, id, r0, cur, g, head, rep)
	}
	if err != nil {
		return Current{}, false, err
	}
	return c, true, r.setRemote(ctx, tx, id, g[len(g)-1].Rev)
}

// skipHeld drops from g the revisions the device already holds, which
// must be the very same bytes: those up to r0, and this device's own
// pushes whose acceptance it did not get to record (a crash after the
// push). It returns the rest and the server's revision after them.
func (r *Replica) skipHeld(ctx context.Context, tx Tx, id ItemID, g []Incoming, r0, cur uint64) ([]Incoming, uint64, error) {
	for len(g) > 0 && g[0].Rev <= cur {
		local, err := r.BoxAt(ctx, tx, id, g[0].Rev, cur)
		if err != nil {
			return nil, 0, err
		}
		if !bytes.Equal(local, g[0].Box) {
			if g[0].Rev <= r0 {
				return nil, 0, fmt.Errorf("%w (item %s revision %d changed on the server)", ErrServerMismatch, id, g[0].Rev)
			}
			break // a different edit from another device: merged later
		}
		if g[0].Rev > r0+1 {
			return nil, 0, fmt.Errorf("%w (item %s: revision %d arrived without revision %d)", ErrServerMismatch, id, g[0].Rev, r0+1)
		}
		r0 = max(r0, g[0].Rev)
		g = g[1:]
	}
	return g, r0, nil
}

// checkPulled checks that the pulled revisions g follow r0 without a gap
// and that each opens under the account key, bound to its item and
// revision. It returns the newest one's content.
func (r *Replica) checkPulled(id ItemID, g []Incoming, r0 uint64) (*item.Item, error) {
	if g[0].Rev <= r0 {
		return nil, fmt.Errorf("%w (item %s revision %d sent again)", ErrServerMismatch, id, g[0].Rev)
	}
	for i, c := range g {
		if c.Rev != r0+1+uint64(i) {
			return nil, fmt.Errorf("%w (item %s: revision %d arrived without revision %d)", ErrServerMismatch, id, c.Rev, r0+1+uint64(i))
		}
	}
	var head *item.Item
	for _, c := range g {
		it, err := r.Open(id, c.Rev, c.Box)
		if err != nil {
			return nil, fmt.Errorf("%w (%v)", ErrServerMismatch, err)
		}
		head = it
	}
	return head, nil
}

// fastForward moves an item without local edits to the pulled revisions
// g: its current revision (if any) to the history, the pulled ones in,
// the newest current.
func (r *Replica) fastForward(ctx context.Context, l *ledger.Ledger, id ItemID, cur uint64, g []Incoming, head *item.Item, rep *ApplyReport) (Current, error) {
	last := g[len(g)-1]
	var prf [32]byte
	var err error
	if cur > 0 {
		prf, err = l.Advance(ctx, id, last.Rev, last.Box)
		rep.Updated++
	} else {
		prf, err = l.Add(ctx, id, last.Rev, last.Box)
		rep.Added++
	}
	if err != nil {
		return Current{}, r.damaged(err)
	}
	for _, c := range g[:len(g)-1] {
		if err := l.AddPast(ctx, id, c.Rev, c.Box); err != nil {
			return Current{}, r.damaged(err)
		}
	}
	return Current{ID: id, Revision: last.Rev, Item: head, Entry: prf}, nil
}

// mergePulled handles an item with local edits r0+1..cur that the server
// has not seen, while the server has r0+1..last (g) from another device:
// the common ancestor is r0; the server's revisions go to the history as
// they are, and the local ones are stacked on top (StackLocal).
func (r *Replica) mergePulled(ctx context.Context, tx Tx, l *ledger.Ledger, id ItemID, r0, cur uint64, g []Incoming, head *item.Item, rep *ApplyReport) (Current, error) {
	var base *item.Item
	if r0 > 0 {
		box, err := r.BoxAt(ctx, tx, id, r0, cur)
		if err != nil {
			return Current{}, err
		}
		if base, err = r.Open(id, r0, box); err != nil {
			return Current{}, r.damaged(err)
		}
	}
	local, err := r.takeLocal(ctx, tx, l, id, r0, cur)
	if err != nil {
		return Current{}, err
	}
	for _, c := range g {
		if err := l.AddPast(ctx, id, c.Rev, c.Box); err != nil {
			return Current{}, r.damaged(err)
		}
	}
	return r.StackLocal(ctx, l, id, base, local, g[len(g)-1].Rev, head, rep)
}

// takeLocal opens an item's local revisions r0+1..cur and takes the past
// ones among them out of the history, to be renumbered by StackLocal
// (which replaces the current one).
func (r *Replica) takeLocal(ctx context.Context, tx Tx, l *ledger.Ledger, id ItemID, r0, cur uint64) ([]*item.Item, error) {
	var local []*item.Item
	for rev := r0 + 1; rev <= cur; rev++ {
		box, err := r.BoxAt(ctx, tx, id, rev, cur)
		if err != nil {
			return nil, err
		}
		it, err := r.Open(id, rev, box)
		if err != nil {
			return nil, r.damaged(err)
		}
		local = append(local, it)
		if rev < cur {
			if err := l.DropPast(ctx, id, rev); err != nil {
				return nil, r.damaged(err)
			}
		}
	}
	return local, nil
}

// StackLocal puts this device's unsynced revisions of an item (local,
// oldest first, made on top of base) after the server's revisions (up to
// last, whose content is remoteHead; already in the history): they are
// renumbered last+1, last+2, … into the history, so both lines of edits
// stay there, and their field-by-field merge with remoteHead becomes the
// current revision, replacing any the item had. rep counts the merge and
// its conflicts.
func (r *Replica) StackLocal(ctx context.Context, l *ledger.Ledger, id ItemID, base *item.Item, local []*item.Item, last uint64, remoteHead *item.Item, rep *ApplyReport) (Current, error) {
	for i, it := range local {
		if err := r.AddSealedPast(ctx, l, id, last+1+uint64(i), it); err != nil {
			return Current{}, err
		}
	}
	merged, conflicts := merge.Merge(base, local[len(local)-1], remoteHead)
	rev := last + uint64(len(local)) + 1
	box, err := r.Seal(id, rev, merged)
	if err != nil {
		return Current{}, err
	}
	prf, err := l.SetCurrent(ctx, id, rev, box)
	if err != nil {
		return Current{}, r.damaged(err)
	}
	rep.Merged++
	if len(conflicts) > 0 {
		rep.Conflicts = append(rep.Conflicts, MergeConflict{ID: id, Title: merged.Title, Fields: conflicts})
	}
	return Current{ID: id, Revision: rev, Item: merged, Entry: prf}, nil
}

// AddSealedPast seals it as past revision rev of item id into the history.
func (r *Replica) AddSealedPast(ctx context.Context, l *ledger.Ledger, id ItemID, rev uint64, it *item.Item) error {
	box, err := r.Seal(id, rev, it)
	if err != nil {
		return err
	}
	if err := l.AddPast(ctx, id, rev, box); err != nil {
		return r.damaged(err)
	}
	return nil
}

func (r *Replica) setRemote(ctx context.Context, tx Tx, id ItemID, rev uint64) error {
	if rev == 0 {
		return nil
	}
	return r.damaged0(tx.SetRemote(ctx, id, rev))
}
