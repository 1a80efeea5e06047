package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
)

// testKDF keeps the derivation cheap; the parameters' effect is not what
// these tests are about.
var testKDF = keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}

var ctx = context.Background()

func newVault(t *testing.T) (string, *Created) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "v")
	c, err := Create(dir, []byte("correct horse"), CreateOptions{KDF: testKDF}, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	return dir, c
}

func unlock(t *testing.T, dir, pw string) *Session {
	t.Helper()
	v, err := Open(dir, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	s, err := v.Unlock([]byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func login(title, user, pw string) *item.Item {
	it := item.New(item.Login, title, Now())
	it.Set("username", user, item.Text)
	it.Set("password", pw, item.Hidden)
	return it
}

func TestLifecycle(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	es, err := s.Add(ctx, login("GitHub", "alice", "pw1"), login("Mail", "alice", "pw2"))
	if err != nil {
		t.Fatal(err)
	}
	gh := es[0]
	it := gh.Item.Clone()
	it.Set("password", "pw1-new", item.Hidden)
	if _, err := s.Put(ctx, gh.ID, gh.Revision, it); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, gh.ID, gh.Revision, it); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale edit: got %v, want ErrConflict", err)
	}
	// A second session (another process) sees the change.
	s2 := unlock(t, dir, "correct horse")
	e, err := s2.Resolve(ctx, "github", Active)
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := e.Item.Get("password"); pw != "pw1-new" || e.Revision != 2 {
		t.Fatalf("got %q rev %d", pw, e.Revision)
	}
	h, err := s2.History(ctx, e.ID)
	if err != nil || len(h) != 1 {
		t.Fatalf("history: %v %d", err, len(h))
	}
	if pw, _ := h[0].Item.Get("password"); pw != "pw1" {
		t.Fatalf("history holds %q", pw)
	}
	if _, err := s2.Trash(ctx, "GitHub"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "GitHub", Active); !errors.Is(err, ErrNotFound) {
		t.Fatalf("trashed item still active: %v", err)
	}
	if _, err := s.Restore(ctx, "GitHub"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Verify(ctx)
	if err != nil || len(r.Problems) != 0 || r.Items != 2 || r.Revisions != 3 {
		t.Fatalf("verify: %v %+v", err, r)
	}
}

func TestWrongPassword(t *testing.T) {
	dir, _ := newVault(t)
	v, err := Open(dir, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Unlock([]byte("wrong")); !errors.Is(err, format.ErrWrongPassword) {
		t.Fatalf("got %v", err)
	}
}

func TestTamperDetected(t *testing.T) {
	for _, tc := range []struct {
		name string
		sql  string
	}{
		{"deleted row", `DELETE FROM items WHERE id = (SELECT id FROM items LIMIT 1)`},
		{"rolled back", `UPDATE items SET rev = 1, box = (SELECT box FROM history LIMIT 1) WHERE id = (SELECT id FROM history LIMIT 1)`},
		{"swapped", `UPDATE items SET box = (SELECT box FROM items ORDER BY id DESC LIMIT 1) WHERE id = (SELECT id FROM items ORDER BY id LIMIT 1)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := newVault(t)
			s := unlock(t, dir, "correct horse")
			es, _ := s.Add(ctx, login("a", "u", "p"), login("b", "u", "p"))
			it := es[0].Item.Clone()
			it.Notes = "edited"
			if _, err := s.Put(ctx, es[0].ID, 1, it); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", filepath.Join(dir, DBFile))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s2 := unlock(t, dir, "correct horse")
			if _, err := s2.List(ctx, All); !errors.Is(err, ErrDamaged) {
				t.Fatalf("got %v, want ErrDamaged", err)
			}
			r, err := s2.Verify(ctx)
			if err != nil || len(r.Problems) == 0 {
				t.Fatalf("verify found nothing: %v %+v", err, r)
			}
		})
	}
}

func TestRotateAndPasswd(t *testing.T) {
	dir, c := newVault(t)
	s := unlock(t, dir, "correct horse")
	s.Add(ctx, login("a", "u", "p"))
	if err := s.ChangePassword(ctx, []byte("battery staple"), testKDF, nil); err != nil {
		t.Fatal(err)
	}
	s = unlock(t, dir, "battery staple")
	nc, err := s.RotateKey(ctx, []byte("battery staple"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if *nc.SecretKey == *c.SecretKey {
		t.Fatal("rotation kept the Secret Key")
	}
	s = unlock(t, dir, "battery staple")
	if e, err := s.Resolve(ctx, "a", Active); err != nil || e.Item.Username() != "u" {
		t.Fatalf("after rotation: %v", err)
	}
	// The old kit no longer fits.
	if _, err := PrepareSetup(dir, c.AccountID, c.SecretKey, "", testOpts()...); !errors.Is(err, format.ErrWrongSecretKey) {
		t.Fatalf("old kit: %v", err)
	}
}

func TestSetup(t *testing.T) {
	dir, c := newVault(t)
	s := unlock(t, dir, "correct horse")
	s.Add(ctx, login("a", "u", "p"))
	dest := filepath.Join(t.TempDir(), "new")
	src, err := PrepareSetup(dir, c.AccountID, c.SecretKey, "", testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Complete(ctx, dest, []byte("nope")); !errors.Is(err, format.ErrWrongPassword) {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("failed setup left %s behind", dest)
	}
	if err := src.Complete(ctx, dest, []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	src.Close()
	s2 := unlock(t, dest, "correct horse")
	if _, err := s2.Resolve(ctx, "a", Active); err != nil {
		t.Fatal(err)
	}
	other, _ := newVault(t)
	if _, err := PrepareSetup(other, c.AccountID, c.SecretKey, "", testOpts()...); !errors.Is(err, ErrWrongAccount) {
		t.Fatalf("foreign vault: %v", err)
	}
}

// A fresh session finds an item by title through the index without
// decrypting the rest, and an index that does not match the manifest is
// not trusted.
func TestTitleIndex(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	es, _ := s.Add(ctx, login("alpha", "a", "1"), login("beta", "b", "2"), login("gamma", "c", "3"))
	it := es[1].Item.Clone()
	it.Set("username", "b2", item.Text)
	s.Put(ctx, es[1].ID, 1, it)
	s.Trash(ctx, "gamma")

	fresh := unlock(t, dir, "correct horse")
	e, err := fresh.Resolve(ctx, "BETA", Active)
	if err != nil || e.Item.Username() != "b2" || e.Revision != 2 {
		t.Fatalf("index lookup: %v %+v", err, e)
	}
	if fresh.loaded {
		t.Fatal("the lookup decrypted everything")
	}
	if _, err := fresh.Resolve(ctx, "gamma", Active); !errors.Is(err, ErrNotFound) {
		t.Fatalf("trashed item found as active: %v", err)
	}
	if e, err := unlock(t, dir, "correct horse").Resolve(ctx, "gamma", Trash); err != nil || e.Item.Title != "gamma" {
		t.Fatalf("trash lookup: %v", err)
	}

	// Put back an old bucket: the index no longer adds up to the manifest,
	// so lookups fall back to the full, verified path and stay correct.
	db, err := sql.Open("sqlite", filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	k := indexKey(bucketOf(es[1].ID))
	var cur []byte
	db.QueryRow(`SELECT v FROM meta WHERE k = ?`, k).Scan(&cur)
	if _, err := db.Exec(`UPDATE meta SET v = ? WHERE k = ?`, flipByte(cur), k); err != nil {
		t.Fatal(err)
	}
	db.Close()
	fresh = unlock(t, dir, "correct horse")
	if e, err := fresh.Resolve(ctx, "beta", Active); err != nil || e.Item.Username() != "b2" {
		t.Fatalf("after index damage: %v", err)
	}
	if !fresh.loaded {
		t.Fatal("a damaged index was trusted")
	}
	// The full load rebuilt it.
	fresh = unlock(t, dir, "correct horse")
	if _, err := fresh.Resolve(ctx, "alpha", Active); err != nil || fresh.loaded {
		t.Fatalf("index not rebuilt: %v loaded=%v", err, fresh.loaded)
	}
}

func flipByte(b []byte) []byte {
	c := append([]byte(nil), b...)
	c[len(c)/2] ^= 1
	return c
}

func TestHistoryTamperDetected(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	es, _ := s.Add(ctx, login("a", "u", "p"))
	for i := range 3 {
		it := es[0].Item.Clone()
		it.Notes = fmt.Sprint(i)
		e, err := s.Put(ctx, es[0].ID, es[0].Revision, it)
		if err != nil {
			t.Fatal(err)
		}
		es[0] = e
	}
	db, _ := sql.Open("sqlite", filepath.Join(dir, DBFile))
	if _, err := db.Exec(`DELETE FROM history WHERE rev = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r, err := unlock(t, dir, "correct horse").Verify(ctx)
	if err != nil || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "history") {
		t.Fatalf("deleted past revision not reported: %v %+v", err, r)
	}
}

// A session left open (the agent's) when another process rotates the key
// says so, rather than reporting damage.
func TestStaleSessionAfterRotation(t *testing.T) {
	dir, _ := newVault(t)
	agentSess := unlock(t, dir, "correct horse")
	agentSess.Add(ctx, login("a", "u", "p"))
	other := unlock(t, dir, "correct horse")
	if _, err := other.RotateKey(ctx, []byte("correct horse"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := agentSess.List(ctx, Active); !errors.Is(err, ErrRotated) {
		t.Fatalf("got %v, want ErrRotated", err)
	}
}

// A rotation signs a new manifest over every row it re-seals: rows the
// old manifest does not cover (a past revision deleted behind the
// vault's back) are refused, not laundered into a freshly signed vault,
// and the vault stays at its key.
func TestRotateRefusesRowsTheManifestDoesNotCover(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	es, _ := s.Add(ctx, login("a", "u", "p"))
	it := es[0].Item.Clone()
	it.Notes = "second"
	if _, err := s.Put(ctx, es[0].ID, es[0].Revision, it); err != nil {
		t.Fatal(err)
	}
	db, _ := sql.Open("sqlite", filepath.Join(dir, DBFile))
	if _, err := db.Exec(`DELETE FROM history`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = unlock(t, dir, "correct horse")
	if _, err := s.RotateKey(ctx, []byte("correct horse"), nil); !errors.Is(err, ErrDamaged) {
		t.Fatalf("rotating a vault whose history was cut: %v, want ErrDamaged", err)
	}
	v, err := Open(dir, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.KeyVersion() != 1 {
		t.Fatalf("key version %d after a refused rotation, want 1", v.KeyVersion())
	}
	r, err := unlock(t, dir, "correct horse").Verify(ctx)
	if err != nil || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "history") {
		t.Fatalf("verify after the refused rotation: %v %+v; the cut history must still be reported", err, r)
	}
}
