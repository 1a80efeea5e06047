package ledger_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/ledger/memstore"
	"github.com/keyhold/keyhold/internal/ledger/sqlitestore"
)

func syncStores(t *testing.T) map[string]ledger.SyncStore {
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "s.db"))+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{sqlitestore.Schema, sqlitestore.SyncSchema} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]ledger.SyncStore{"sqlite": sqlitestore.Store{DB: db}, "memory": memstore.New().Sync()}
}

// TestSyncTx: both stores keep the sync bookkeeping alike — what the
// server holds, which items have unseen revisions (by id, limited), the
// boxes of the server's revisions, current or past — and a transaction
// sees its own writes and keeps nothing when rolled back.
func TestSyncTx(t *testing.T) {
	ctx := context.Background()
	for name, st := range syncStores(t) {
		t.Run(name, func(t *testing.T) {
			tx, err := st.BeginSync(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			// Item 1 at revision 2 (1 past), item 2 at 1, item 3 at 4.
			for _, r := range []ledger.Row{{ID: id(1), Rev: 2, Box: []byte("1/2")}, {ID: id(2), Rev: 1, Box: []byte("2/1")}, {ID: id(3), Rev: 4, Box: []byte("3/4")}} {
				if err := tx.InsertCurrent(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.InsertPast(ctx, ledger.Row{ID: id(1), Rev: 1, Box: []byte("1/1")}); err != nil {
				t.Fatal(err)
			}
			// The server holds item 1 at 1 and item 2 at 1.
			for _, r := range []ledger.Row{{ID: id(1), Rev: 1}, {ID: id(2), Rev: 1}} {
				if err := tx.SetRemote(ctx, r.ID, r.Rev); err != nil {
					t.Fatal(err)
				}
			}
			ps, err := tx.Unsynced(ctx, -1)
			if err != nil {
				t.Fatal(err)
			}
			want := []ledger.Unsynced{{ID: id(1), Cur: 2, Base: 1}, {ID: id(3), Cur: 4, Base: 0}}
			if len(ps) != 2 || ps[0] != want[0] || ps[1] != want[1] {
				t.Fatalf("unsynced %+v", ps)
			}
			if ps, _ := tx.Unsynced(ctx, 1); len(ps) != 1 || ps[0] != want[0] {
				t.Fatalf("unsynced, limit 1: %+v", ps)
			}
			if n, err := tx.CountUnsynced(ctx); err != nil || n != 2 {
				t.Fatalf("count %d %v", n, err)
			}
			held := map[[16]byte]string{}
			if err := tx.ServerHeld(ctx, func(r ledger.Row) error { held[r.ID] = string(r.Box); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(held) != 2 || held[id(1)] != "1/1" || held[id(2)] != "2/1" {
				t.Fatalf("server held %v", held)
			}
			if rev, err := tx.Remote(ctx, id(3)); err != nil || rev != 0 {
				t.Fatalf("remote of an item the server lacks: %d %v", rev, err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}

			// A revision the server holds that this device lacks is an
			// error, not a silent gap; a rollback keeps nothing.
			tx, err = st.BeginSync(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.SetRemote(ctx, id(3), 3); err != nil {
				t.Fatal(err)
			}
			if err := tx.ServerHeld(ctx, func(ledger.Row) error { return nil }); err == nil {
				t.Fatal("a server revision without its box was read")
			}
			if err := tx.ClearRemote(ctx); err != nil {
				t.Fatal(err)
			}
			if n, _ := tx.CountUnsynced(ctx); n != 3 {
				t.Fatalf("after ClearRemote %d unsynced", n)
			}
			tx.Rollback()

			rtx, err := st.BeginSync(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			defer rtx.Rollback()
			if rev, _ := rtx.Remote(ctx, id(1)); rev != 1 {
				t.Fatalf("after the rollback the server holds item 1 at %d", rev)
			}
			if n, _ := rtx.CountUnsynced(ctx); n != 2 {
				t.Fatalf("after the rollback %d unsynced", n)
			}
		})
	}
}
