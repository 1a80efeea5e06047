// Package sqlitestore keeps a ledger's rows in SQLite tables (docs/SPEC.md,
// the local vault): items and history, one row per revision, and meta,
// one row per named value. It is the only code that writes those rows
// and the manifest with SQL; a test in package vault checks that.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/internal/ledger"
)

// Schema creates the tables a ledger needs.
const Schema = `
CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE items (id BLOB PRIMARY KEY, rev INTEGER NOT NULL, box BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE history (id BLOB NOT NULL, rev INTEGER NOT NULL, box BLOB NOT NULL, PRIMARY KEY (id, rev)) WITHOUT ROWID;
`

// Store is a ledger.Store over a SQLite database holding Schema.
type Store struct{ DB *sql.DB }

var _ ledger.Store = Store{}

// Begin implements ledger.Store with an immediate transaction (the DSN's
// _txlock), so that read-modify-write transactions do not deadlock.
func (s Store) Begin(ctx context.Context) (ledger.Txn, error) {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &Txn{Tx: Wrap(tx), sqlTx: tx}, nil
}

// Txn is a transaction begun by Store.
type Txn struct {
	*Tx
	sqlTx *sql.Tx
}

// SQL returns the SQLite transaction, for tables other than the ledger's.
func (t *Txn) SQL() *sql.Tx { return t.sqlTx }

// Commit implements ledger.Txn.
func (t *Txn) Commit() error { return t.sqlTx.Commit() }

// Rollback implements ledger.Txn.
func (t *Txn) Rollback() error {
	err := t.sqlTx.Rollback()
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// Tx is a ledger.Tx over an open SQLite transaction, which the caller
// begins, commits and may use for tables of its own. Statements are
// prepared once per transaction, so that a write of 10k rows parses each
// only once.
type Tx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

var _ ledger.Tx = (*Tx)(nil)

// Wrap returns the ledger view of tx. Close releases its statements.
func Wrap(tx *sql.Tx) *Tx { return &Tx{tx: tx} }

// Close releases the prepared statements (the transaction stays open).
func (t *Tx) Close() {
	for _, s := range t.stmts {
		s.Close()
	}
	t.stmts = nil
}

func (t *Tx) exec(ctx context.Context, q string, args ...any) error {
	s, ok := t.stmts[q]
	if !ok {
		var err error
		if s, err = t.tx.PrepareContext(ctx, q); err != nil {
			return err
		}
		if t.stmts == nil {
			t.stmts = map[string]*sql.Stmt{}
		}
		t.stmts[q] = s
	}
	_, err := s.ExecContext(ctx, args...)
	return err
}

func missing(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.ErrMissing
	}
	return err
}

// Current implements ledger.Tx.
func (t *Tx) Current(ctx context.Context, id [16]byte) (uint64, []byte, error) {
	var rev uint64
	var box []byte
	err := t.tx.QueryRowContext(ctx, `SELECT rev, box FROM items WHERE id = ?`, id[:]).Scan(&rev, &box)
	return rev, box, missing(err)
}

// Past implements ledger.Tx.
func (t *Tx) Past(ctx context.Context, id [16]byte, rev uint64) ([]byte, error) {
	var box []byte
	err := t.tx.QueryRowContext(ctx, `SELECT box FROM history WHERE id = ? AND rev = ?`, id[:], rev).Scan(&box)
	return box, missing(err)
}

// InsertCurrent implements ledger.Tx.
func (t *Tx) InsertCurrent(ctx context.Context, r ledger.Row) error {
	return t.exec(ctx, `INSERT INTO items (id, rev, box) VALUES (?, ?, ?)`, r.ID[:], r.Rev, r.Box)
}

// ReplaceCurrent implements ledger.Tx.
func (t *Tx) ReplaceCurrent(ctx context.Context, r ledger.Row) error {
	return t.exec(ctx, `INSERT INTO items (id, rev, box) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, box = excluded.box`, r.ID[:], r.Rev, r.Box)
}

// DeleteCurrent implements ledger.Tx.
func (t *Tx) DeleteCurrent(ctx context.Context, id [16]byte) error {
	return t.exec(ctx, `DELETE FROM items WHERE id = ?`, id[:])
}

// InsertPast implements ledger.Tx.
func (t *Tx) InsertPast(ctx context.Context, r ledger.Row) error {
	return t.exec(ctx, `INSERT INTO history (id, rev, box) VALUES (?, ?, ?)`, r.ID[:], r.Rev, r.Box)
}

// DeletePast implements ledger.Tx.
func (t *Tx) DeletePast(ctx context.Context, id [16]byte, rev uint64) error {
	return t.exec(ctx, `DELETE FROM history WHERE id = ? AND rev = ?`, id[:], rev)
}

// Clear implements ledger.Tx.
func (t *Tx) Clear(ctx context.Context) error {
	for _, q := range []string{`DELETE FROM items`, `DELETE FROM history`} {
		if _, err := t.tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) scan(ctx context.Context, table string, fn func(ledger.Row) error) error {
	rows, err := t.tx.QueryContext(ctx, `SELECT id, rev, box FROM `+table)
	if err != nil {
		return err
	}
	var all []ledger.Row
	for rows.Next() {
		var idb []byte
		var r ledger.Row
		if err := rows.Scan(&idb, &r.Rev, &r.Box); err != nil {
			rows.Close()
			return err
		}
		if len(idb) != 16 {
			rows.Close()
			return fmt.Errorf("bad %s row", table)
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
	// fn runs after the rows are read, so that it may write.
	for _, r := range all {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// ScanCurrent implements ledger.Tx.
func (t *Tx) ScanCurrent(ctx context.Context, fn func(ledger.Row) error) error {
	return t.scan(ctx, "items", fn)
}

// ScanPast implements ledger.Tx.
func (t *Tx) ScanPast(ctx context.Context, fn func(ledger.Row) error) error {
	return t.scan(ctx, "history", fn)
}

// Meta implements ledger.Tx.
func (t *Tx) Meta(ctx context.Context, k string) ([]byte, error) {
	var v []byte
	err := t.tx.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = ?`, k).Scan(&v)
	return v, missing(err)
}

// PutMeta implements ledger.Tx.
func (t *Tx) PutMeta(ctx context.Context, k string, v []byte) error {
	return t.exec(ctx, `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, k, v)
}
