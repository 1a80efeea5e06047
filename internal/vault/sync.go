package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/merge"
)

// Server sync state (docs/SYNC.md). The vault remembers, per item, the
// newest revision the server is known to hold (table remote), and the
// server sequence it has pulled to (meta sync/cursor). An item whose
// current revision is above its remote one has local edits the server has
// not seen: they are pushed, and a pull never overwrites them — it merges.

const syncSchema = `CREATE TABLE IF NOT EXISTS remote (id BLOB PRIMARY KEY, rev INTEGER NOT NULL) WITHOUT ROWID`

// EnableSync prepares the vault for a new server: it creates the sync
// tables if needed and forgets what any earlier server held, so every
// local item counts as not yet on the server.
func (v *Vault) EnableSync(ctx context.Context) error {
	tx, err := v.db.BeginTx(ctx, nil)
	if err != nil {
		return dbError(v.path(), err)
	}
	defer tx.Rollback()
	for _, q := range []string{syncSchema, `DELETE FROM remote`, `DELETE FROM meta WHERE k IN ('sync/cursor', 'sync/verified')`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return dbError(v.path(), err)
		}
	}
	return dbError(v.path(), tx.Commit())
}

func getU64(ctx context.Context, q querier, k string) (uint64, error) {
	var b []byte
	err := q.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = ?`, k).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(b), 10, 64)
}

func putU64(ctx context.Context, tx *sql.Tx, k string, n uint64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, k, []byte(strconv.FormatUint(n, 10)))
	return err
}

// SyncState returns the device's sync cursor.
func (v *Vault) SyncState(ctx context.Context) (SyncState, error) {
	var st SyncState
	var err error
	if st.Cursor, err = getU64(ctx, v.db, "sync/cursor"); err != nil {
		return st, dbError(v.path(), err)
	}
	if st.Verified, err = getU64(ctx, v.db, "sync/verified"); err != nil {
		return st, dbError(v.path(), err)
	}
	return st, nil
}

// Outgoing lists up to max items with revisions the server has not seen,
// each with every such revision (so the server keeps the whole history).
func (s *Session) Outgoing(ctx context.Context, max int) ([]Outgoing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.v.readTx(ctx)
	if err != nil {
		return nil, s.damaged(err)
	}
	defer tx.Rollback()
	ps, err := unsynced(ctx, tx, max)
	if err != nil {
		return nil, s.damaged(err)
	}
	out := make([]Outgoing, 0, len(ps))
	for _, p := range ps {
		o := Outgoing{ID: p.id, BaseRev: p.base}
		for rev := p.base + 1; rev <= p.cur; rev++ {
			box, err := s.boxAt(ctx, tx, p.id, rev, p.cur)
			if err != nil {
				return nil, err
			}
			o.Revs = append(o.Revs, OutRev{Rev: rev, Box: box})
		}
		out = append(out, o)
	}
	return out, nil
}

// unsyncedItem is an item with revisions the server has not seen: its
// current revision, and the newest the server holds (0: none).
type unsyncedItem struct {
	id        ItemID
	cur, base uint64
}

// unsynced lists up to limit such items (limit < 0: all), by id.
func unsynced(ctx context.Context, q querier, limit int) ([]unsyncedItem, error) {
	rows, err := q.QueryContext(ctx, `SELECT i.id, i.rev, COALESCE(r.rev, 0) FROM items i LEFT JOIN remote r ON r.id = i.id
		WHERE i.rev > COALESCE(r.rev, 0) ORDER BY i.id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []unsyncedItem
	for rows.Next() {
		var idb []byte
		var p unsyncedItem
		if err := rows.Scan(&idb, &p.cur, &p.base); err != nil || len(idb) != 16 {
			return nil, fmt.Errorf("bad item row: %v", err)
		}
		p.id = ItemID(idb)
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// boxAt reads revision rev of an item whose current revision is cur.
func (s *Session) boxAt(ctx context.Context, q querier, id ItemID, rev, cur uint64) ([]byte, error) {
	var box []byte
	var err error
	if rev == cur {
		err = q.QueryRowContext(ctx, `SELECT box FROM items WHERE id = ? AND rev = ?`, id[:], rev).Scan(&box)
	} else {
		err = q.QueryRowContext(ctx, `SELECT box FROM history WHERE id = ? AND rev = ?`, id[:], rev).Scan(&box)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.damaged(fmt.Errorf("item %s has no revision %d in its history", id, rev))
	}
	if err != nil {
		return nil, s.damaged(err)
	}
	return box, nil
}

// MarkPushed records that the server holds the items at these revisions.
func (s *Session) MarkPushed(ctx context.Context, ps []Pushed) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return s.damaged(err)
	}
	defer tx.Rollback()
	for _, p := range ps {
		if _, err := tx.ExecContext(ctx, `INSERT INTO remote (id, rev) VALUES (?, ?)
			ON CONFLICT (id) DO UPDATE SET rev = max(rev, excluded.rev)`, p.ID[:], p.Rev); err != nil {
			return s.damaged(err)
		}
	}
	return s.damaged0(tx.Commit())
}

func (s *Session) damaged0(err error) error {
	if err == nil {
		return nil
	}
	return s.damaged(err)
}

// serverEntry is an item's newest revision on the server, and the
// SHA-256 of its box.
type serverEntry struct {
	rev  uint64
	hash [32]byte
}

// remoteSet reads the remote table with the hash of each box the server
// holds (the device holds the same bytes: revisions it shares with the
// server never differ).
func remoteSet(ctx context.Context, q querier) (map[ItemID]serverEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT r.id, r.rev, COALESCE(i.box, h.box) FROM remote r
		LEFT JOIN items i ON i.id = r.id AND i.rev = r.rev
		LEFT JOIN history h ON h.id = r.id AND h.rev = r.rev`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[ItemID]serverEntry{}
	for rows.Next() {
		var idb, box []byte
		var rev uint64
		if err := rows.Scan(&idb, &rev, &box); err != nil || len(idb) != 16 || box == nil {
			return nil, fmt.Errorf("bad remote row: %v", err)
		}
		m[ItemID(idb)] = serverEntry{rev: rev, hash: sha256.Sum256(box)}
	}
	return m, rows.Err()
}

// serverManifest computes the manifest of a server state (SPEC §14.1):
// count, and acc over the server entries of each item's newest revision
// and box, at sequence seq. It keeps version byte 1: its entries were
// bound to the boxes from the start, and devices of every version read it
// (the local manifest's version 2 is about the local entries).
func (s *Session) serverManifest(set map[ItemID]serverEntry, seq uint64) *format.Manifest {
	m := &format.Manifest{Version: format.Version1, KeyVersion: s.kv, Seq: seq, Count: uint64(len(set))}
	for id, e := range set {
		format.XorInto(&m.Acc, format.ServerEntry(s.mk, id, e.rev, e.hash))
	}
	m.Sign(s.mk, s.v.meta.accountID)
	return m
}

// ServerManifest returns the manifest of the server's state once the
// given pushes are applied, at sequence seq, for the server to keep.
func (s *Session) ServerManifest(ctx context.Context, seq uint64, pushes []Outgoing) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, err := remoteSet(ctx, s.v.db)
	if err != nil {
		return nil, s.damaged(err)
	}
	for i := range pushes {
		p := &pushes[i]
		set[p.ID] = serverEntry{rev: p.Last(), hash: sha256.Sum256(p.Revs[len(p.Revs)-1].Box)}
	}
	return s.serverManifest(set, seq).Marshal(), nil
}

// checkServerManifest checks a server manifest (SPEC §14.1, steps 3–6)
// against the server state set at sequence head.
func (s *Session) checkServerManifest(blob []byte, set map[ItemID]serverEntry, head uint64) error {
	m, err := format.ParseManifest(blob)
	if err != nil {
		return fmt.Errorf("%w (its manifest is unreadable: %v)", ErrServerMismatch, err)
	}
	if m.KeyVersion != s.kv {
		return fmt.Errorf("%w (its manifest is for key version %d, not %d)", ErrServerMismatch, m.KeyVersion, s.kv)
	}
	if err := m.Verify(s.mk, s.v.meta.accountID); err != nil {
		return fmt.Errorf("%w (its manifest was not signed with the account key)", ErrServerMismatch)
	}
	if m.Seq != head {
		return fmt.Errorf("%w (its manifest describes sequence %d, not %d)", ErrServerMismatch, m.Seq, head)
	}
	want := s.serverManifest(set, head)
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
func (s *Session) CheckServerManifest(ctx context.Context, blob []byte, head uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, err := remoteSet(ctx, s.v.db)
	if err != nil {
		return s.damaged(err)
	}
	if err := s.checkServerManifest(blob, set, head); err != nil {
		return err
	}
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return s.damaged(err)
	}
	defer tx.Rollback()
	if err := putU64(ctx, tx, "sync/verified", head); err != nil {
		return s.damaged(err)
	}
	return s.damaged0(tx.Commit())
}

// ApplyIncoming stores revisions pulled from the server and moves the
// cursor, in one transaction. Items with local edits are merged field by
// field: the server's revisions go to the history, this device's edits
// are renumbered on top of them (so both lines stay in the history), and
// the merge becomes the current revision, to be pushed. Nothing local is
// ever overwritten. A revision the device already holds must be
// byte-identical, else the server is misbehaving.
func (s *Session) ApplyIncoming(ctx context.Context, in []Incoming, cursor uint64) (*ApplyReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := &ApplyReport{}
	// Group by item, keeping the order of first appearance.
	var order []ItemID
	groups := map[ItemID][]Incoming{}
	for _, c := range in {
		if _, ok := groups[c.ID]; !ok {
			order = append(order, c.ID)
		}
		groups[c.ID] = append(groups[c.ID], c)
	}
	err := s.write(ctx, func(tx *sql.Tx, l *ledger.Ledger) ([]*Entry, error) {
		*rep = ApplyReport{}
		old, err := getU64(ctx, tx, "sync/cursor")
		if err != nil {
			return nil, s.damaged(err)
		}
		if cursor < old {
			return nil, fmt.Errorf("%w (pulled to %d, the device had %d)", ErrServerRollback, cursor, old)
		}
		var changed []*Entry
		for _, id := range order {
			g := groups[id]
			slices.SortFunc(g, func(a, b Incoming) int { return cmpU64(a.Rev, b.Rev) })
			e, err := s.applyItem(ctx, tx, l, id, g, rep)
			if err != nil {
				return nil, err
			}
			if e != nil {
				changed = append(changed, e)
			}
		}
		if err := putU64(ctx, tx, "sync/cursor", cursor); err != nil {
			return nil, s.damaged(err)
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
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
func (s *Session) applyItem(ctx context.Context, tx *sql.Tx, l *ledger.Ledger, id ItemID, g []Incoming, rep *ApplyReport) (*Entry, error) {
	r0, err := remoteRev(ctx, tx, id) // newest revision the server was known to hold
	if err != nil {
		return nil, s.damaged(err)
	}
	cur, _, err := l.Tx().Current(ctx, id) // current local revision
	if errors.Is(err, ledger.ErrMissing) {
		cur = 0
	} else if err != nil {
		return nil, s.damaged(err)
	}
	// Revisions the device already holds must be byte-identical.
	if g, r0, err = s.skipHeld(ctx, tx, id, g, r0, cur); err != nil {
		return nil, err
	}
	if len(g) == 0 {
		return nil, s.setRemote(ctx, tx, id, r0)
	}
	// The rest must follow r0 without a gap, and every box must open.
	head, err := s.checkPulled(id, g, r0)
	if err != nil {
		return nil, err
	}
	var e *Entry
	if cur <= r0 {
		e, err = s.fastForward(ctx, l, id, cur, g, head, rep)
	} else {
		e, err = s.mergePulled(ctx, tx, l, id, r0, cur, g, head, rep)
	}
	if err != nil {
		return nil, err
	}
	return e, s.setRemote(ctx, tx, id, g[len(g)-1].Rev)
}

// remoteRev is the newest revision of an item the server is known to
// hold, 0 if none.
func remoteRev(ctx context.Context, q querier, id ItemID) (uint64, error) {
	var r0 uint64
	err := q.QueryRowContext(ctx, `SELECT rev FROM remote WHERE id = ?`, id[:]).Scan(&r0)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return r0, err
}

// skipHeld drops from g the revisions the device already holds, which
// must be the very same bytes: those up to r0, and this device's own
// pushes whose acceptance it did not get to record (a crash after the
// push). It returns the rest and the server's revision after them.
func (s *Session) skipHeld(ctx context.Context, q querier, id ItemID, g []Incoming, r0, cur uint64) ([]Incoming, uint64, error) {
	for len(g) > 0 && g[0].Rev <= cur {
		local, err := s.boxAt(ctx, q, id, g[0].Rev, cur)
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
func (s *Session) checkPulled(id ItemID, g []Incoming, r0 uint64) (*item.Item, error) {
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
		it, err := s.open(id, c.Rev, c.Box)
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
func (s *Session) fastForward(ctx context.Context, l *ledger.Ledger, id ItemID, cur uint64, g []Incoming, head *item.Item, rep *ApplyReport) (*Entry, error) {
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
		return nil, s.damaged(err)
	}
	for _, c := range g[:len(g)-1] {
		if err := l.AddPast(ctx, id, c.Rev, c.Box); err != nil {
			return nil, s.damaged(err)
		}
	}
	return s.entryOf(id, last.Rev, prf, head), nil
}

// mergePulled handles an item with local edits r0+1..cur that the server
// has not seen, while the server has r0+1..last (g) from another device:
// the common ancestor is r0; the server's revisions go to the history as
// they are, and the local ones are stacked on top (stackLocal).
func (s *Session) mergePulled(ctx context.Context, q querier, l *ledger.Ledger, id ItemID, r0, cur uint64, g []Incoming, head *item.Item, rep *ApplyReport) (*Entry, error) {
	var base *item.Item
	if r0 > 0 {
		box, err := s.boxAt(ctx, q, id, r0, cur)
		if err != nil {
			return nil, err
		}
		if base, err = s.open(id, r0, box); err != nil {
			return nil, s.damaged(err)
		}
	}
	local, err := s.takeLocal(ctx, q, l, id, r0, cur)
	if err != nil {
		return nil, err
	}
	for _, c := range g {
		if err := l.AddPast(ctx, id, c.Rev, c.Box); err != nil {
			return nil, s.damaged(err)
		}
	}
	return s.stackLocal(ctx, l, id, base, local, g[len(g)-1].Rev, head, rep)
}

// takeLocal opens an item's local revisions r0+1..cur and takes the past
// ones among them out of the history, to be renumbered by stackLocal
// (which replaces the current one).
func (s *Session) takeLocal(ctx context.Context, q querier, l *ledger.Ledger, id ItemID, r0, cur uint64) ([]*item.Item, error) {
	var local []*item.Item
	for rev := r0 + 1; rev <= cur; rev++ {
		box, err := s.boxAt(ctx, q, id, rev, cur)
		if err != nil {
			return nil, err
		}
		it, err := s.open(id, rev, box)
		if err != nil {
			return nil, s.damaged(err)
		}
		local = append(local, it)
		if rev < cur {
			if err := l.DropPast(ctx, id, rev); err != nil {
				return nil, s.damaged(err)
			}
		}
	}
	return local, nil
}

// stackLocal puts this device's unsynced revisions of an item (local,
// oldest first, made on top of base) after the server's revisions (up to
// last, whose content is remoteHead; already in the history): they are
// renumbered last+1, last+2, … into the history, so both lines of edits
// stay there, and their field-by-field merge with remoteHead becomes the
// current revision, replacing any the item had. It returns the current
// revision's entry.
func (s *Session) stackLocal(ctx context.Context, l *ledger.Ledger, id ItemID, base *item.Item, local []*item.Item, last uint64, remoteHead *item.Item, rep *ApplyReport) (*Entry, error) {
	for i, it := range local {
		if err := s.addSealedPast(ctx, l, id, last+1+uint64(i), it); err != nil {
			return nil, err
		}
	}
	merged, conflicts := merge.Merge(base, local[len(local)-1], remoteHead)
	rev := last + uint64(len(local)) + 1
	box, err := s.seal(id, rev, merged)
	if err != nil {
		return nil, err
	}
	prf, err := l.SetCurrent(ctx, id, rev, box)
	if err != nil {
		return nil, s.damaged(err)
	}
	rep.Merged++
	if len(conflicts) > 0 {
		rep.Conflicts = append(rep.Conflicts, MergeConflict{ID: id, Title: merged.Title, Fields: conflicts})
	}
	return s.entryOf(id, rev, prf, merged), nil
}

// addSealedPast seals it as past revision rev of item id into the history.
func (s *Session) addSealedPast(ctx context.Context, l *ledger.Ledger, id ItemID, rev uint64, it *item.Item) error {
	box, err := s.seal(id, rev, it)
	if err != nil {
		return err
	}
	if err := l.AddPast(ctx, id, rev, box); err != nil {
		return s.damaged(err)
	}
	return nil
}

func (s *Session) setRemote(ctx context.Context, tx *sql.Tx, id ItemID, rev uint64) error {
	if rev == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO remote (id, rev) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET rev = excluded.rev`, id[:], rev)
	return s.damaged0(err)
}

// Pending counts items with changes the server has not seen.
func (v *Vault) Pending(ctx context.Context) (int, error) {
	var n int
	err := v.db.QueryRowContext(ctx, `SELECT count(*) FROM items i LEFT JOIN remote r ON r.id = i.id WHERE i.rev > COALESCE(r.rev, 0)`).Scan(&n)
	return n, dbError(v.path(), err)
}

// AdvanceCursor moves the pull cursor from from to to, when the device
// knows it holds every revision in between (its own push, with nobody
// else writing). Unlike ApplyIncoming it writes no item rows and leaves
// the manifest alone, so it costs one small transaction. If another
// process moved the cursor meanwhile, nothing changes.
func (v *Vault) AdvanceCursor(ctx context.Context, from, to uint64) error {
	tx, err := v.db.BeginTx(ctx, nil)
	if err != nil {
		return dbError(v.path(), err)
	}
	defer tx.Rollback()
	cur, err := getU64(ctx, tx, "sync/cursor")
	if err != nil {
		return dbError(v.path(), err)
	}
	if cur != from || to < from {
		return nil
	}
	if err := putU64(ctx, tx, "sync/cursor", to); err != nil {
		return dbError(v.path(), err)
	}
	return dbError(v.path(), tx.Commit())
}

// RewindCursor moves the pull cursor back to to (the newest sequence whose
// manifest verified), so that the next pull fetches again every revision
// after it. A sync whose manifest check failed calls it: the server may
// have withheld or replayed a revision in a page the device already
// applied, and a server that stops lying must be able to deliver it. What
// was applied stays (every box opened and is kept); revisions fetched
// again must be byte-identical. The verified sequence, which the rollback
// check uses, does not move.
func (v *Vault) RewindCursor(ctx context.Context, to uint64) error {
	tx, err := v.db.BeginTx(ctx, nil)
	if err != nil {
		return dbError(v.path(), err)
	}
	defer tx.Rollback()
	cur, err := getU64(ctx, tx, "sync/cursor")
	if err != nil {
		return dbError(v.path(), err)
	}
	if to >= cur {
		return nil
	}
	if err := putU64(ctx, tx, "sync/cursor", to); err != nil {
		return dbError(v.path(), err)
	}
	return dbError(v.path(), tx.Commit())
}

// MarkVerified records that the server stored this device's manifest for
// sequence head, which the device had fully pulled and pushed.
func (v *Vault) MarkVerified(ctx context.Context, head uint64) error {
	tx, err := v.db.BeginTx(ctx, nil)
	if err != nil {
		return dbError(v.path(), err)
	}
	defer tx.Rollback()
	if err := putU64(ctx, tx, "sync/verified", head); err != nil {
		return dbError(v.path(), err)
	}
	return dbError(v.path(), tx.Commit())
}
