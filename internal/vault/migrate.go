package vault

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/ledger/sqlitestore"
)

// migrateManifest upgrades a vault made before manifests bound each box
// (manifest version 1: entries of id and revision only) the first time
// it is unlocked, in one transaction: the version 1 manifest is verified
// against every row of items and history as it stands, and only if it
// matches exactly is a version 2 manifest computed over the same rows,
// each entry now bound to its box's hash, and stored with the next
// sequence number. The title index is dropped (its buckets carry the old
// entries); the next full load rebuilds it. A vault already at version 2
// is left alone. A box swapped for another genuine box of the same
// revision before the migration cannot be told apart by version 1; from
// the migration on, any such swap is reported.
func (s *Session) migrateManifest(ctx context.Context) error {
	b, err := getMeta(ctx, s.v.db, ledger.ManifestKey)
	if err != nil {
		return s.damaged(err)
	}
	if m, err := format.ParseManifest(b); err != nil || m.Version != format.Version1 {
		return nil // current, or damaged: readManifest reports it
	}
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return s.damaged(err)
	}
	defer tx.Rollback()
	if b, err = getMeta(ctx, tx, ledger.ManifestKey); err != nil {
		return s.damaged(err)
	}
	old, err := format.ParseManifest(b)
	if err != nil {
		return s.damaged(err)
	}
	if old.Version != format.Version1 {
		return nil // another process migrated it meanwhile
	}
	if old.KeyVersion != s.kv {
		return s.damaged(fmt.Errorf("manifest: %w", format.ErrOldKey))
	}
	if err := old.Verify(s.mk, s.v.meta.accountID); err != nil {
		return s.damaged(err)
	}
	for _, table := range []string{"items", "history"} {
		var v1 [32]byte
		var n uint64
		err := scanRows(ctx, tx, table, func(id ItemID, rev uint64, box []byte) {
			n++
			if table == "items" {
				format.XorInto(&v1, format.EntryV1(s.mk, id, rev))
			} else {
				format.XorInto(&v1, format.HistoryEntryV1(s.mk, id, rev))
			}
		})
		if err != nil {
			return s.damaged(err)
		}
		want, wantN := old.Acc, old.Count
		if table == "history" {
			want, wantN = old.HAcc, old.HCount
		}
		if n != wantN || subtle.ConstantTimeCompare(v1[:], want[:]) != 1 {
			return s.damaged(fmt.Errorf("the %s do not match the manifest: a row was deleted, swapped or rolled back", table))
		}
	}
	// The rows are those version 1 signed: the version 2 manifest is
	// computed over them.
	l := ledger.Fresh(sqlitestore.Wrap(tx), s.keys(), s.kv, old.Seq+1)
	if err := l.Recount(ctx); err != nil {
		return s.damaged(err)
	}
	if err := l.Commit(ctx); err != nil {
		return s.damaged(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE k LIKE 'index/%'`); err != nil {
		return s.damaged(err)
	}
	return s.damaged0(tx.Commit())
}

// scanRows calls fn with every row of table (items or history).
func scanRows(ctx context.Context, q querier, table string, fn func(id ItemID, rev uint64, box []byte)) error {
	rows, err := q.QueryContext(ctx, `SELECT id, rev, box FROM `+table)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var idb, box []byte
		var rev uint64
		if err := rows.Scan(&idb, &rev, &box); err != nil {
			return err
		}
		if len(idb) != 16 {
			return errors.New("bad " + table + " row")
		}
		fn(ItemID(idb), rev, box)
	}
	return rows.Err()
}
