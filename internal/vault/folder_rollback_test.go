package vault

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/folder"
	"github.com/keyhold/keyhold/internal/item"
)

func pwOf(t *testing.T, s *Session, title string) (ItemID, uint64, string) {
	es, err := s.List(ctx, All)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Item.Title == title {
			for _, f := range e.Item.Fields {
				if f.Name == "password" {
					return e.ID, e.Revision, f.Value
				}
			}
		}
	}
	t.Fatalf("no %s", title)
	return ItemID{}, 0, ""
}

func setPw(t *testing.T, s *Session, title, v string) {
	es, _ := s.List(ctx, All)
	for _, e := range es {
		if e.Item.Title == title {
			it := e.Item.Clone()
			it.Set("password", v, item.Hidden)
			it.Modified = it.Modified.Add(1e9)
			if _, err := s.Put(ctx, e.ID, e.Revision, it); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

func devDir(t *testing.T, d *simDevice) string {
	cfg, err := LoadFolderConfig(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(d.folder, folder.Dir, folder.DeviceDir(cfg.Device()))
}

// An edit back to an earlier value, made after a sync that wrote its log
// but could not replay ("waiting"), stays current: its entry's base is the
// value last written to the folder, not the older one the folder gave.
func TestFolderRevertAfterWaitingKept(t *testing.T) {
	w := newSimWorld(t, 1, 2)
	A, B := w.devs[0], w.devs[1]
	w.sync(B)
	w.copyFiles(B.folder, A.folder, false)
	w.sync(A)
	// a half-copied file of B in A's copy: A's replay waits
	junk := filepath.Join(devDir(t, B), "")
	junk = filepath.Join(A.folder, folder.Dir, filepath.Base(junk), folder.FileName(folder.KindLog, 50))
	os.WriteFile(junk, []byte("KHFL\x01partial"), 0o600)
	setPw(t, A.sess, "Shared 0", "p1")
	rep := w.sync(A)
	t.Logf("first: %+v", *rep)
	setPw(t, A.sess, "Shared 0", "start-0")
	os.Remove(junk)
	rep = w.sync(A)
	t.Logf("second: %+v", *rep)
	_, _, v := pwOf(t, A.sess, "Shared 0")
	if v != "start-0" {
		t.Errorf("A's latest edit (start-0) overwritten: current is %q", v)
	}
}

// When this device's own logs vanish from the folder (a sync client's
// rewind, a deletion), its edit is not undone: nothing older is applied,
// and its change is written again.
func TestFolderOwnLogsLostRelogged(t *testing.T) {
	w := newSimWorld(t, 2, 2)
	A := w.devs[0]
	setPw(t, A.sess, "Shared 1", "q1")
	rep := w.sync(A)
	t.Logf("first: %+v", *rep)
	des, _ := os.ReadDir(devDir(t, A))
	for _, de := range des {
		if k, _, ok := folder.ParseFileName(de.Name()); ok && k == folder.KindLog {
			os.Remove(filepath.Join(devDir(t, A), de.Name()))
			t.Logf("removed %s", de.Name())
		}
	}
	rep = w.sync(A)
	t.Logf("second: %+v", *rep)
	_, _, v := pwOf(t, A.sess, "Shared 1")
	if v != "q1" {
		t.Errorf("A's own edit reverted silently: current %q (waiting=%v)", v, rep.Waiting)
	}
	if !rep.Waiting || rep.Relogged == 0 {
		t.Errorf("the loss was not reported: %+v", *rep)
	}
	// The next sync writes the change again; the other device gets it.
	if rep = w.sync(A); rep.Waiting || rep.Written == 0 {
		t.Fatalf("third: %+v", *rep)
	}
	B := w.devs[1]
	w.copyFiles(A.folder, B.folder, false)
	if rep = w.sync(B); rep.Waiting {
		t.Fatalf("B: %+v", *rep)
	}
	if _, _, v := pwOf(t, B.sess, "Shared 1"); v != "q1" {
		t.Errorf("B has %q, want A's q1", v)
	}
}
