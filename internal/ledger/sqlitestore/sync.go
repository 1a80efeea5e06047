package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/internal/ledger"
)

// SyncSchema creates the table of what the sync server holds (ledger.SyncTx),
// which a vault gains when it starts syncing with a server.
const SyncSchema = `CREATE TABLE IF NOT EXISTS remote (id BLOB PRIMARY KEY, rev INTEGER NOT NULL) WITHOUT ROWID`

var _ ledger.SyncStore = Store{}

// BeginSync implements ledger.SyncStore: a write transaction is Begin's
// (immediate); a read transaction is read-only, one snapshot in WAL mode.
func (s Store) BeginSync(ctx context.Context, write bool) (ledger.SyncTxn, error) {
	var opts *sql.TxOptions
	if !write {
		opts = &sql.TxOptions{ReadOnly: true}
	}
	tx, err := s.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Txn{Tx: Wrap(tx), sqlTx: tx}, nil
}

var _ ledger.SyncTx = (*Tx)(nil)

// Remote implements ledger.SyncTx.
func (t *Tx) Remote(ctx context.Context, id [16]byte) (uint64, error) {
	var rev uint64
	err := t.tx.QueryRowContext(ctx, `SELECT rev FROM remote WHERE id = ?`, id[:]).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return rev, err
}

// SetRemote implements ledger.SyncTx.
func (t *Tx) SetRemote(ctx context.Context, id [16]byte, rev uint64) error {
	return t.exec(ctx, `INSERT INTO remote (id, rev) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET rev = excluded.rev`, id[:], rev)
}

// ClearRemote implements ledger.SyncTx.
func (t *Tx) ClearRemote(ctx context.Context) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM remote`)
	return err
}

// Unsynced implements ledger.SyncTx.
func (t *Tx) Unsynced(ctx context.Context, limit int) ([]ledger.Unsynced, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT i.id, i.rev, COALESCE(r.rev, 0) FROM items i LEFT JOIN remote r ON r.id = i.id
		WHERE i.rev > COALESCE(r.rev, 0) ORDER BY i.id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []ledger.Unsynced
	for rows.Next() {
		var idb []byte
		var p ledger.Unsynced
		if err := rows.Scan(&idb, &p.Cur, &p.Base); err != nil || len(idb) != 16 {
			return nil, fmt.Errorf("bad item row: %v", err)
		}
		p.ID = [16]byte(idb)
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// CountUnsynced implements ledger.SyncTx.
func (t *Tx) CountUnsynced(ctx context.Context) (int, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM items i LEFT JOIN remote r ON r.id = i.id WHERE i.rev > COALESCE(r.rev, 0)`).Scan(&n)
	return n, err
}

// ServerHeld implements ledger.SyncTx.
func (t *Tx) ServerHeld(ctx context.Context, fn func(ledger.Row) error) error {
	rows, err := t.tx.QueryContext(ctx, `SELECT r.id, r.rev, COALESCE(i.box, h.box) FROM remote r
		LEFT JOIN items i ON i.id = r.id AND i.rev = r.rev
		LEFT JOIN history h ON h.id = r.id AND h.rev = r.rev`)
	if err != nil {
		return err
	}
	var all []ledger.Row
	for rows.Next() {
		var idb []byte
		var r ledger.Row
		if err := rows.Scan(&idb, &r.Rev, &r.Box); err != nil || len(idb) != 16 || r.Box == nil {
			rows.Close()
			return fmt.Errorf("bad remote row: %v", err)
		}
		r.ID = [16]byte(idb)
		all = append(all, r)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range all {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
