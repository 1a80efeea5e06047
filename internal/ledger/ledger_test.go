package ledger_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/ledger/memstore"
	"github.com/keyhold/keyhold/internal/ledger/sqlitestore"

	_ "modernc.org/sqlite"
)

// store is one storage implementation under test: begin returns a
// transaction and the functions that commit and roll it back.
type store struct {
	name  string
	st    ledger.Store
	begin func(t *testing.T) (ledger.Tx, func() error, func())
}

// commitBoth commits the ledger's changes (the manifest) and then the
// storage transaction under it.
func commitBoth(t *testing.T, ctx context.Context, l *ledger.Ledger, commit func() error) {
	t.Helper()
	if err := l.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := commit(); err != nil {
		t.Fatal(err)
	}
}

func stores(t *testing.T) []store {
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "l.db"))+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(sqlitestore.Schema); err != nil {
		t.Fatal(err)
	}
	mem := memstore.New()
	return []store{
		{"sqlite", sqlitestore.Store{DB: db}, func(t *testing.T) (ledger.Tx, func() error, func()) {
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			return sqlitestore.Wrap(tx), tx.Commit, func() { tx.Rollback() }
		}},
		{"memory", mem.Ledger(), func(t *testing.T) (ledger.Tx, func() error, func()) {
			tx := begin(t, mem)
			return tx, tx.Commit, func() { tx.Rollback() }
		}},
	}
}

func testKeys(t *testing.T) ledger.Keys {
	ak, err := keys.NewAccountKey()
	if err != nil {
		t.Fatal(err)
	}
	id, err := keys.NewAccountID()
	if err != nil {
		t.Fatal(err)
	}
	return ledger.Keys{MK: format.ManifestKey(ak), Account: id}
}

// check reads the stored manifest and every row, and fails unless the
// manifest verifies and describes exactly those rows.
func check(t *testing.T, ctx context.Context, tx ledger.Tx, k ledger.Keys) *format.Manifest {
	t.Helper()
	b, err := tx.Meta(ctx, ledger.ManifestKey)
	if err != nil {
		t.Fatal(err)
	}
	m, err := format.ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(k.MK, k.Account); err != nil {
		t.Fatal(err)
	}
	var s ledger.Sums
	if err := tx.ScanCurrent(ctx, func(r ledger.Row) error { s.Add(k, r, false); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := tx.ScanPast(ctx, func(r ledger.Row) error { s.Add(k, r, true); return nil }); err != nil {
		t.Fatal(err)
	}
	items, hist := s.Matches(m)
	if !items || !hist {
		t.Fatalf("the rows do not match the manifest (items %v, history %v; %d/%d rows, manifest %d/%d)", items, hist, s.Count, s.HCount, m.Count, m.HCount)
	}
	return m
}

func id(n byte) [16]byte { return [16]byte{n} }

// TestLedgerKeepsManifest runs every kind of write and checks after each
// transaction that the stored manifest describes the rows exactly.
func TestLedgerKeepsManifest(t *testing.T) {
	ctx := context.Background()
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			k := testKeys(t)
			tx, commit, _ := st.begin(t)
			l := ledger.Fresh(tx, k, 1, 0)
			for n := byte(1); n <= 3; n++ {
				if _, err := l.Add(ctx, id(n), 1, []byte{n, 1}); err != nil {
					t.Fatal(err)
				}
			}
			commitBoth(t, ctx, l, commit)

			tx, commit, _ = st.begin(t)
			m := check(t, ctx, tx, k)
			if m.Seq != 0 || m.Count != 3 || m.HCount != 0 {
				t.Fatalf("new vault manifest: seq %d count %d hcount %d", m.Seq, m.Count, m.HCount)
			}
			l = ledger.Continue(tx, k, m)
			steps := []func() error{
				func() error { _, err := l.Advance(ctx, id(1), 2, []byte{1, 2}); return err },
				func() error { return l.AddPast(ctx, id(2), 2, []byte{2, 2}) },
				func() error { _, err := l.SetCurrent(ctx, id(2), 3, []byte{2, 3}); return err },
				func() error { _, err := l.SetCurrent(ctx, id(4), 5, []byte{4, 5}); return err },
				func() error { return l.AddPast(ctx, id(4), 4, []byte{4, 4}) },
				func() error { return l.DropPast(ctx, id(2), 2) },
			}
			for i, f := range steps {
				if err := f(); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			commitBoth(t, ctx, l, commit)

			tx, commit, _ = st.begin(t)
			m = check(t, ctx, tx, k)
			if m.Seq != 1 || m.Count != 4 || m.HCount != 2 {
				t.Fatalf("after the writes: seq %d count %d hcount %d, want 1 4 2", m.Seq, m.Count, m.HCount)
			}
			if rev, box, err := tx.Current(ctx, id(1)); err != nil || rev != 2 || string(box) != "\x01\x02" {
				t.Fatalf("item 1 is at %d %x (%v)", rev, box, err)
			}
			if box, err := tx.Past(ctx, id(1), 1); err != nil || string(box) != "\x01\x01" {
				t.Fatalf("item 1 revision 1 in the history: %x (%v)", box, err)
			}
			if _, err := tx.Past(ctx, id(2), 2); !errors.Is(err, ledger.ErrMissing) {
				t.Fatalf("a dropped revision reads as %v", err)
			}

			// A rebuild under a new key: cleared and filled again.
			k2 := testKeys(t)
			l = ledger.Fresh(tx, k2, 2, m.Seq+1)
			if err := l.Clear(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Add(ctx, id(9), 2, []byte{9, 2}); err != nil {
				t.Fatal(err)
			}
			if err := l.AddPast(ctx, id(9), 1, []byte{9, 1}); err != nil {
				t.Fatal(err)
			}
			commitBoth(t, ctx, l, commit)
			tx, _, rollback := st.begin(t)
			defer rollback()
			m = check(t, ctx, tx, k2)
			if m.Seq != 2 || m.KeyVersion != 2 || m.Count != 1 || m.HCount != 1 {
				t.Fatalf("after the rebuild: seq %d kv %d count %d hcount %d", m.Seq, m.KeyVersion, m.Count, m.HCount)
			}
		})
	}
}

// TestLedgerCatchesWriteAround shows what the ledger guards against: a
// row written past it leaves the manifest wrong, and the check sees it.
func TestLedgerCatchesWriteAround(t *testing.T) {
	ctx := context.Background()
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			k := testKeys(t)
			tx, commit, _ := st.begin(t)
			l := ledger.Fresh(tx, k, 1, 0)
			if _, err := l.Add(ctx, id(1), 1, []byte{1}); err != nil {
				t.Fatal(err)
			}
			if err := tx.InsertPast(ctx, ledger.Row{ID: id(1), Rev: 7, Box: []byte{7}}); err != nil {
				t.Fatal(err)
			}
			commitBoth(t, ctx, l, commit)
			tx, _, rollback := st.begin(t)
			defer rollback()
			var s ledger.Sums
			tx.ScanCurrent(ctx, func(r ledger.Row) error { s.Add(k, r, false); return nil })
			tx.ScanPast(ctx, func(r ledger.Row) error { s.Add(k, r, true); return nil })
			b, _ := tx.Meta(ctx, ledger.ManifestKey)
			m, err := format.ParseManifest(b)
			if err != nil {
				t.Fatal(err)
			}
			if items, hist := s.Matches(m); !items || hist {
				t.Fatalf("a history row written around the ledger: items match %v, history match %v; want true, false", items, hist)
			}
		})
	}
}

// TestLedgerRefusesBadWrites: an Advance that does not move forward, a
// second Add of one item, and a DropPast of a revision not there fail.
func TestLedgerRefusesBadWrites(t *testing.T) {
	ctx := context.Background()
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			k := testKeys(t)
			tx, _, rollback := st.begin(t)
			defer rollback()
			l := ledger.Fresh(tx, k, 1, 0)
			if _, err := l.Add(ctx, id(1), 3, []byte{1}); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Advance(ctx, id(1), 3, []byte{2}); err == nil {
				t.Fatal("Advance to the same revision succeeded")
			}
			if _, err := l.Add(ctx, id(1), 4, []byte{3}); err == nil {
				t.Fatal("a second Add of one item succeeded")
			}
			if err := l.DropPast(ctx, id(1), 2); !errors.Is(err, ledger.ErrMissing) {
				t.Fatalf("DropPast of a missing revision: %v", err)
			}
			if _, err := l.Advance(ctx, id(2), 1, []byte{1}); !errors.Is(err, ledger.ErrMissing) {
				t.Fatalf("Advance of a missing item: %v", err)
			}
		})
	}
}

// TestMemstoreBatches: a rolled-back transaction leaves nothing; the
// batches of committed ones, loaded into a new store, give the same
// state, which is what a browser client persists and reloads.
func TestMemstoreBatches(t *testing.T) {
	ctx := context.Background()
	k := testKeys(t)
	s := memstore.New()
	var batches []*memstore.Batch
	run := func(f func(l *ledger.Ledger) error, fresh bool) {
		t.Helper()
		tx := begin(t, s)
		var l *ledger.Ledger
		if fresh {
			l = ledger.Fresh(tx, k, 1, 0)
		} else {
			b, err := tx.Meta(ctx, ledger.ManifestKey)
			if err != nil {
				t.Fatal(err)
			}
			m, err := format.ParseManifest(b)
			if err != nil {
				t.Fatal(err)
			}
			l = ledger.Continue(tx, k, m)
		}
		if err := f(l); err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := tx.CommitBatch()
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
	run(func(l *ledger.Ledger) error { _, err := l.Add(ctx, id(1), 1, []byte{1}); return err }, true)
	run(func(l *ledger.Ledger) error { _, err := l.Advance(ctx, id(1), 2, []byte{2}); return err }, false)
	run(func(l *ledger.Ledger) error { return l.DropPast(ctx, id(1), 1) }, false)

	tx := begin(t, s)
	if _, err := ledger.Fresh(tx, k, 1, 0).Add(ctx, id(5), 1, []byte{5}); err != nil {
		t.Fatal(err)
	}
	// One transaction at a time, and nobody waits: a second one, or a
	// snapshot, is refused while this one is open.
	if _, err := s.Begin(); !errors.Is(err, memstore.ErrBusy) {
		t.Fatalf("Begin while a transaction is open: %v, want ErrBusy", err)
	}
	if _, err := s.Snapshot(); !errors.Is(err, memstore.ErrBusy) {
		t.Fatalf("Snapshot while a transaction is open: %v, want ErrBusy", err)
	}
	tx.Rollback()
	if err := tx.Commit(); !errors.Is(err, memstore.ErrDone) {
		t.Fatalf("Commit after Rollback: %v", err)
	}

	re := memstore.New()
	for _, b := range batches {
		re.Load(b)
	}
	a, b := snapshot(t, s), snapshot(t, re)
	if len(a.Current) != 1 || len(a.Past) != 0 || len(b.Current) != 1 || len(b.Past) != 0 ||
		string(a.Current[0].Box) != "\x02" || string(b.Current[0].Box) != "\x02" ||
		string(a.Meta[ledger.ManifestKey]) != string(b.Meta[ledger.ManifestKey]) {
		t.Fatalf("reloaded state differs: %+v vs %+v", a, b)
	}
	// What comes out shares no memory with the store: changing a
	// snapshot's box, or a batch's, changes nothing stored.
	a.Current[0].Box[0] = 0xff
	batches[1].Current[0].Box[0] = 0xff
	if c := snapshot(t, s); string(c.Current[0].Box) != "\x02" {
		t.Fatalf("a snapshot's box changed the store: %x", c.Current[0].Box)
	}
	if c := snapshot(t, re); string(c.Current[0].Box) != "\x02" {
		t.Fatalf("a loaded batch's box changed the store: %x", c.Current[0].Box)
	}
	tx = begin(t, re)
	defer tx.Rollback()
	check(t, ctx, tx, k)
}

func begin(t *testing.T, s *memstore.Store) *memstore.Tx {
	t.Helper()
	tx, err := s.Begin()
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func snapshot(t *testing.T, s *memstore.Store) *memstore.Batch {
	t.Helper()
	b, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUpdate: ledger.Update commits fn's writes with the next sequence
// number, and keeps nothing of an fn that fails or of a manifest that
// does not pass its checks (another key version, a newer one, another
// key).
func TestUpdate(t *testing.T) {
	ctx := context.Background()
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			k := testKeys(t)
			tx, commit, _ := st.begin(t)
			if err := ledger.Fresh(tx, k, 2, 0).Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := commit(); err != nil {
				t.Fatal(err)
			}
			if err := ledger.Update(ctx, st.st, k, 2, func(l *ledger.Ledger) error {
				_, err := l.Add(ctx, id(1), 1, []byte{1})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			boom := errors.New("boom")
			if err := ledger.Update(ctx, st.st, k, 2, func(l *ledger.Ledger) error {
				if _, err := l.Add(ctx, id(2), 1, []byte{2}); err != nil {
					return err
				}
				return boom
			}); !errors.Is(err, boom) {
				t.Fatalf("Update returned %v, want fn's error", err)
			}
			mustNotRun := func(*ledger.Ledger) error {
				t.Fatal("fn ran after the manifest check failed")
				return nil
			}
			if err := ledger.Update(ctx, st.st, k, 1, mustNotRun); !errors.Is(err, ledger.ErrRotated) {
				t.Fatalf("a manifest of a newer key version: %v, want ErrRotated", err)
			}
			if err := ledger.Update(ctx, st.st, k, 3, mustNotRun); !errors.Is(err, format.ErrOldKey) {
				t.Fatalf("a manifest of an older key version: %v, want ErrOldKey", err)
			}
			if err := ledger.Update(ctx, st.st, testKeys(t), 2, mustNotRun); !errors.Is(err, format.ErrTampered) {
				t.Fatalf("a manifest signed with another key: %v, want ErrTampered", err)
			}
			tx, _, rollback := st.begin(t)
			defer rollback()
			m := check(t, ctx, tx, k)
			if m.Seq != 1 || m.Count != 1 {
				t.Fatalf("after one kept and one failed update: seq %d count %d, want 1 1", m.Seq, m.Count)
			}
			if _, _, err := tx.Current(ctx, id(2)); !errors.Is(err, ledger.ErrMissing) {
				t.Fatalf("the failed update's item reads as %v", err)
			}
		})
	}
}
