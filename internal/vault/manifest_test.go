package vault

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
)

// rowBox reads the box of (id, rev) from a table of the vault in dir.
func rowBox(t *testing.T, dir, table string, id ItemID, rev uint64) []byte {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var box []byte
	if err := db.QueryRow(`SELECT box FROM `+table+` WHERE id = ? AND rev = ?`, id[:], rev).Scan(&box); err != nil {
		t.Fatal(err)
	}
	return box
}

func setRowBox(t *testing.T, dir, table string, id ItemID, rev uint64, box []byte) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE `+table+` SET box = ? WHERE id = ? AND rev = ?`, box, id[:], rev)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s row (%s, %d) not found", table, id, rev)
	}
}

// twoVersions makes a vault whose item "A" is at revision 2 and a copy
// of the same vault where revision 2 of the same item is another edit:
// two genuine boxes of one item and revision, as two devices (or a
// backup) hold them.
func twoVersions(t *testing.T) (dir, other string, id ItemID) {
	t.Helper()
	dir, _ = newVault(t)
	s := unlock(t, dir, "correct horse")
	es, err := s.Add(ctx, login("A", "a", "first"))
	if err != nil {
		t.Fatal(err)
	}
	id = es[0].ID
	other = copyDevice(t, dir)
	for d, pw := range map[string]string{dir: "mine", other: "theirs"} {
		s := unlock(t, d, "correct horse")
		it := es[0].Item.Clone()
		it.Set("password", pw, item.Hidden)
		if _, err := s.Put(ctx, id, 1, it); err != nil {
			t.Fatal(err)
		}
		it = it.Clone()
		it.Notes = "third"
		if _, err := s.Put(ctx, id, 2, it); err != nil {
			t.Fatal(err)
		}
	}
	return dir, other, id
}

// Another genuine box of the same item and revision, put in the current
// row of the local database, is reported as tampering: by listing, by a
// lookup through the title index, and by verify.
func TestSwappedItemBoxDetected(t *testing.T) {
	dir, other, id := twoVersions(t)
	setRowBox(t, dir, "items", id, 3, rowBox(t, other, "items", id, 3))

	if _, err := unlock(t, dir, "correct horse").List(ctx, Active); !errors.Is(err, ErrDamaged) {
		t.Fatalf("list after a box swap: %v, want ErrDamaged", err)
	}
	fresh := unlock(t, dir, "correct horse")
	if e, err := fresh.Resolve(ctx, "A", Active); !errors.Is(err, ErrDamaged) {
		t.Fatalf("lookup by title after a box swap: %v (%v), want ErrDamaged", err, e)
	}
	r, err := unlock(t, dir, "correct horse").Verify(ctx)
	if err != nil || len(r.Problems) == 0 {
		t.Fatalf("verify after a box swap: %v, %+v", err, r)
	}
}

// The same for a past revision: a full check reports it.
func TestSwappedHistoryBoxDetected(t *testing.T) {
	dir, other, id := twoVersions(t)
	setRowBox(t, dir, "history", id, 2, rowBox(t, other, "history", id, 2))
	s := unlock(t, dir, "correct horse")
	if _, err := s.List(ctx, Active); err != nil {
		t.Fatalf("list (current revisions untouched): %v", err)
	}
	r, err := s.Verify(ctx)
	if err != nil || len(r.Problems) == 0 {
		t.Fatalf("verify after a history box swap: %v, %+v", err, r)
	}
}

// writeV1Manifest turns the vault in dir back into one made before
// manifests bound boxes: a version 1 manifest over its rows, as older
// keyhold wrote it, and no title index.
func writeV1Manifest(t *testing.T, dir string, s *Session) *format.Manifest {
	t.Helper()
	db := s.v.db
	cur, err := s.readManifest(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	m := &format.Manifest{Version: format.Version1, KeyVersion: s.kv, Seq: cur.Seq}
	for _, table := range []string{"items", "history"} {
		if err := scanRows(ctx, db, table, func(id ItemID, rev uint64, _ []byte) {
			if table == "items" {
				format.XorInto(&m.Acc, format.EntryV1(s.mk, id, rev))
				m.Count++
			} else {
				format.XorInto(&m.HAcc, format.HistoryEntryV1(s.mk, id, rev))
				m.HCount++
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	m.Sign(s.mk, s.v.meta.accountID)
	if _, err := db.Exec(`UPDATE meta SET v = ? WHERE k = 'manifest'`, m.Marshal()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM meta WHERE k LIKE 'index/%'`); err != nil {
		t.Fatal(err)
	}
	return m
}

// A vault with a version 1 manifest is migrated on its first unlock: the
// items are all there, the manifest is version 2 one sequence number
// later, verify is clean, and from then on a swapped box is caught.
func TestManifestMigration(t *testing.T) {
	dir, other, id := twoVersions(t)
	old := writeV1Manifest(t, dir, unlock(t, dir, "correct horse"))

	s := unlock(t, dir, "correct horse")
	m, err := s.readManifest(ctx, s.v.db)
	if err != nil {
		t.Fatalf("after the migration: %v", err)
	}
	if m.Version != format.Version2 || m.Seq != old.Seq+1 || m.Count != old.Count || m.HCount != old.HCount {
		t.Fatalf("migrated manifest %+v from %+v", m, old)
	}
	es, err := s.List(ctx, Active)
	if err != nil || len(es) != 1 {
		t.Fatalf("items after the migration: %v %+v", err, es)
	}
	if pw, _ := es[0].Item.Get("password"); pw != "mine" {
		t.Fatalf("the item after the migration holds %q", pw)
	}
	verifyClean(t, s, 1, 2)

	setRowBox(t, dir, "items", id, 3, rowBox(t, other, "items", id, 3))
	if _, err := unlock(t, dir, "correct horse").List(ctx, Active); !errors.Is(err, ErrDamaged) {
		t.Fatalf("a box swapped after the migration: %v, want ErrDamaged", err)
	}
}

// A version 1 vault whose rows do not match its manifest is not migrated
// (that would sign the damage): the unlock reports it and writes nothing.
func TestManifestMigrationRefusesDamage(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	if _, err := s.Add(ctx, login("A", "a", "1"), login("B", "b", "2")); err != nil {
		t.Fatal(err)
	}
	writeV1Manifest(t, dir, s)
	// An item row goes missing.
	if _, err := s.v.db.Exec(`DELETE FROM items WHERE id = (SELECT min(id) FROM items)`); err != nil {
		t.Fatal(err)
	}
	before, err := getMeta(ctx, s.v.db, "manifest")
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open(dir, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Unlock([]byte("correct horse")); !errors.Is(err, ErrDamaged) {
		t.Fatalf("unlock of a damaged version 1 vault: %v, want ErrDamaged", err)
	}
	after, _ := getMeta(ctx, v.db, "manifest")
	if string(after) != string(before) {
		t.Fatal("the refused migration changed the manifest")
	}
}
