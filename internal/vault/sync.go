package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/ledger/sqlitestore"
	"github.com/keyhold/keyhold/internal/replica"
)

// Server sync state (docs/SYNC.md). The vault remembers, per item, the
// newest revision the server is known to hold (table remote), and the
// server sequence it has pulled to (meta sync/cursor). An item whose
// current revision is above its remote one has local edits the server has
// not seen: they are pushed, and a pull never overwrites them — it merges.

const syncSchema = sqlitestore.SyncSchema

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
	st, err := replica.ReadSyncState(ctx, v.syncStore())
	return st, dbError(v.path(), err)
}

// Outgoing lists up to max items with revisions the server has not seen,
// each with every such revision (so the server keeps the whole history).
func (s *Session) Outgoing(ctx context.Context, max int) ([]Outgoing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rules().Outgoing(ctx, max)
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
	return s.rules().MarkPushed(ctx, ps)
}

func (s *Session) damaged0(err error) error {
	if err == nil {
		return nil
	}
	return s.damaged(err)
}

// serverEntry is an item's newest revision on the server, and the
// SHA-256 of its box.
type serverEntry = replica.ServerEntry

// remoteSet reads the remote table with the hash of each box the server
// holds, in tx.
func remoteSet(ctx context.Context, tx *sql.Tx) (map[ItemID]serverEntry, error) {
	return replica.ServerStateTx(ctx, sqlitestore.Wrap(tx))
}

// serverManifest computes the manifest of a server state (SPEC §14.1) at
// sequence seq (replica.SignServerManifest).
func (s *Session) serverManifest(set map[ItemID]serverEntry, seq uint64) *format.Manifest {
	return s.rules().SignServerManifest(set, seq)
}

// ServerManifest returns the manifest of the server's state once the
// given pushes are applied, at sequence seq, for the server to keep.
func (s *Session) ServerManifest(ctx context.Context, seq uint64, pushes []Outgoing) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rules().ServerManifest(ctx, seq, pushes)
}

// checkServerManifest checks a server manifest (SPEC §14.1, steps 3–6)
// against the server state set at sequence head.
func (s *Session) checkServerManifest(blob []byte, set map[ItemID]serverEntry, head uint64) error {
	return s.rules().CheckServerState(blob, set, head)
}

// CheckServerManifest verifies the manifest the server returned for
// sequence head against what this device knows the server holds (after a
// complete pull). On success the device records head as verified.
func (s *Session) CheckServerManifest(ctx context.Context, blob []byte, head uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rules().CheckServerManifest(ctx, blob, head)
}

// ApplyIncoming stores revisions pulled from the server and moves the
// cursor, in one transaction, by the rules of replica.ApplyIncoming:
// items with local edits are merged field by field, and nothing local is
// ever overwritten. The title index and the cache follow.
func (s *Session) ApplyIncoming(ctx context.Context, in []Incoming, cursor uint64) (*ApplyReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := &ApplyReport{}
	err := s.write(ctx, func(_ *sql.Tx, l *ledger.Ledger) ([]*Entry, error) {
		cs, err := s.rules().ApplyIncomingTx(ctx, l.Tx().(ledger.SyncTx), l, in, cursor, rep)
		if err != nil {
			return nil, err
		}
		return s.entries0(cs), nil
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// entries0 turns the replica's current revisions into cache entries.
func (s *Session) entries0(cs []replica.Current) []*Entry {
	var out []*Entry
	for _, c := range cs {
		out = append(out, s.entryOf(c.ID, c.Revision, c.Entry, c.Item))
	}
	return out
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

// stackLocal is replica.StackLocal, returning the cache entry of the
// current revision.
func (s *Session) stackLocal(ctx context.Context, l *ledger.Ledger, id ItemID, base *item.Item, local []*item.Item, last uint64, remoteHead *item.Item, rep *ApplyReport) (*Entry, error) {
	c, err := s.rules().StackLocal(ctx, l, id, base, local, last, remoteHead, rep)
	if err != nil {
		return nil, err
	}
	return s.entryOf(c.ID, c.Revision, c.Entry, c.Item), nil
}

// addSealedPast seals it as past revision rev of item id into the history.
func (s *Session) addSealedPast(ctx context.Context, l *ledger.Ledger, id ItemID, rev uint64, it *item.Item) error {
	return s.rules().AddSealedPast(ctx, l, id, rev, it)
}

func (s *Session) setRemote(ctx context.Context, tx *sql.Tx, id ItemID, rev uint64) error {
	if rev == 0 {
		return nil
	}
	return s.damaged0(sqlitestore.Wrap(tx).SetRemote(ctx, id, rev))
}

// Pending counts items with changes the server has not seen.
func (v *Vault) Pending(ctx context.Context) (int, error) {
	n, err := replica.CountPending(ctx, v.syncStore())
	return n, dbError(v.path(), err)
}

// syncStore is the vault's database as the sync rules' store.
func (v *Vault) syncStore() replica.Store { return sqlitestore.Store{DB: v.db} }

// AdvanceCursor moves the pull cursor from from to to, when the device
// knows it holds every revision in between (replica.AdvanceCursor).
func (v *Vault) AdvanceCursor(ctx context.Context, from, to uint64) error {
	return dbError(v.path(), replica.AdvanceCursor(ctx, v.syncStore(), from, to))
}

// RewindCursor moves the pull cursor back to to, the newest sequence
// whose manifest verified (replica.RewindCursor).
func (v *Vault) RewindCursor(ctx context.Context, to uint64) error {
	return dbError(v.path(), replica.RewindCursor(ctx, v.syncStore(), to))
}

// MarkVerified records that the server stored this device's manifest for
// sequence head, which the device had fully pulled and pushed.
func (v *Vault) MarkVerified(ctx context.Context, head uint64) error {
	return dbError(v.path(), replica.MarkVerified(ctx, v.syncStore(), head))
}

// rules are the sync rules and item writes over this session's vault
// (package replica), with this session's keys, clock and damage reports.
func (s *Session) rules() *replica.Replica {
	return replica.New(s.v.syncStore(), s.ak, s.kv, s.v.meta.accountID,
		replica.WithManifestKey(s.mk), replica.WithDamaged(s.damaged), replica.WithClock(s.v.now))
}
