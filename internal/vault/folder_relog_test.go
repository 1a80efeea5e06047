package vault

import (
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
)

// editTitled applies change to the item titled title on s.
func editTitled(t *testing.T, s *Session, title string, change func(*item.Item)) {
	t.Helper()
	es, err := s.List(ctx, All)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Item.Title == title {
			it := e.Item.Clone()
			change(it)
			if _, err := s.Put(ctx, e.ID, e.Revision, it); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no item %q", title)
}

// An item whose first log the folder lost is written again from its
// first revision, not as a new item: another device that edited a
// different part of it later (here with a clock an hour ahead) must not
// undo, field by field by modification time, this device's own later
// edit of a part no other device touched.
func TestFolderLostCreationLogRelogMerges(t *testing.T) {
	w := newSimWorld(t, 3, 2)
	A, B := w.devs[0], w.devs[1]
	start := time.Now().UTC().Truncate(time.Millisecond)
	it := login("Quince", "quince-user", "quince-pw")
	it.Modified = start
	if _, err := A.sess.Add(ctx, it); err != nil {
		t.Fatal(err)
	}
	w.sync(A) // the log that creates the item
	w.copyFiles(A.folder, B.folder, false)
	if rep := w.sync(B); rep.Waiting || rep.Added != 1 {
		t.Fatalf("B did not take the new item: %+v", *rep)
	}
	// A renames it; B, an hour ahead, writes a note.
	editTitled(t, A.sess, "Quince", func(it *item.Item) { it.Title, it.Modified = "Quince Bank", start.Add(time.Second) })
	w.sync(A)
	editTitled(t, B.sess, "Quince", func(it *item.Item) { it.Notes, it.Modified = "from B", start.Add(time.Hour) })
	w.sync(B)
	// The folder loses both of A's logs (a sync client's rewind).
	w.rollback(A)
	w.rollback(A)
	w.copyFiles(B.folder, A.folder, false)
	if rep := w.sync(A); !rep.Waiting || rep.Relogged == 0 {
		t.Fatalf("A did not notice its lost logs: %+v", *rep)
	}
	w.converge()
	for i, d := range w.devs {
		es, err := d.sess.List(ctx, All)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range es {
			if e.Item.Title == "Quince Bank" {
				found = true
				if e.Item.Notes != "from B" {
					t.Errorf("device %d: B's note lost from the current item: %q", i, e.Item.Notes)
				}
			}
		}
		if !found {
			t.Errorf("device %d: A's rename, the only edit of the title, was undone", i)
		}
	}
}

// A trash written again after the folder lost the logs that carried it
// stays a trash on a device whose snapshot covers the first lost log: the
// entry written again starts from the base of the first lost entry, and
// merged against that base this device's own rename (already in the
// snapshot) looked like an edit racing the trash, which restores an item
// (MERGE.md rule 6c). Only A ever edited the item.
func TestFolderRelogKeepsTrashAfterSnapshot(t *testing.T) {
	w := newSimWorld(t, 6, 2)
	A, B := w.devs[0], w.devs[1]
	B.sess.SetFolderSnapshotEvery(1) // B snapshots at every sync, A rarely
	start := time.Now().UTC().Truncate(time.Millisecond)
	editTitled(t, A.sess, "Shared 0", func(it *item.Item) { it.Title, it.Modified = "Shared 0 renamed", start })
	w.sync(A)
	w.copyFiles(A.folder, B.folder, false)
	if rep := w.sync(B); rep.Waiting || !rep.Snapshot {
		t.Fatalf("B did not take A's rename into a snapshot: %+v", *rep)
	}
	editTitled(t, A.sess, "Shared 0 renamed", func(it *item.Item) {
		tr := start.Add(time.Second)
		it.Trashed, it.Modified = &tr, tr
	})
	w.sync(A)
	// The folder loses both of A's logs; B's snapshot, which covers the
	// rename, has not reached A's copy of the folder.
	w.rollback(A)
	w.rollback(A)
	if rep := w.sync(A); !rep.Waiting || rep.Relogged != 1 {
		t.Fatalf("A did not notice its lost logs: %+v", *rep)
	}
	if rep := w.sync(A); rep.Waiting || rep.Written == 0 {
		t.Fatalf("A did not write its changes again: %+v", *rep)
	}
	// B replays A's entry written again on top of its own snapshot.
	w.copyFiles(A.folder, B.folder, false)
	if rep := w.sync(B); rep.Waiting {
		t.Fatalf("B is waiting: %+v", *rep)
	}
	w.converge()
	for i, d := range w.devs {
		es, err := d.sess.List(ctx, All)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range es {
			if e.Item.Title == "Shared 0 renamed" {
				found = true
				if e.Item.Trashed == nil {
					t.Errorf("device %d: A's trash, the last edit of the only device that edited the item, was undone", i)
				}
			}
		}
		if !found {
			t.Errorf("device %d: A's rename is gone", i)
		}
	}
}

// An item created and then changed before its first log, whose log the
// folder then lost, keeps its first value on every device. That value was
// only in the lost entry's intermediate revisions; written again, the
// first revision is the entry's base, which a replay that holds the item
// already (here from B's edit of it) merges against but does not keep.
// C, which never saw the lost log, must get the value all the same.
func TestFolderLostCreationLogKeepsFirstValue(t *testing.T) {
	w := newSimWorld(t, 7, 3)
	A, B := w.devs[0], w.devs[1]
	start := time.Now().UTC().Truncate(time.Millisecond)
	it := login("Quince", "quince-user", "first-pw")
	it.Modified = start
	if _, err := A.sess.Add(ctx, it); err != nil {
		t.Fatal(err)
	}
	editTitled(t, A.sess, "Quince", func(it *item.Item) {
		it.Set("password", "second-pw", item.Hidden)
		it.Modified = start.Add(time.Second)
	})
	w.sync(A) // one entry: no base, first-pw in between, second-pw new
	w.copyFiles(A.folder, B.folder, false)
	if rep := w.sync(B); rep.Waiting || rep.Added != 1 {
		t.Fatalf("B did not take the new item: %+v", *rep)
	}
	editTitled(t, B.sess, "Quince", func(it *item.Item) {
		it.Notes = "from B"
		it.Modified = start.Add(2 * time.Second)
	})
	w.sync(B)
	w.rollback(A) // the log that created the item
	w.copyFiles(B.folder, A.folder, false)
	if rep := w.sync(A); !rep.Waiting || rep.Relogged != 1 {
		t.Fatalf("A did not notice its lost log: %+v", *rep)
	}
	w.converge()
	for i, d := range w.devs {
		es, err := d.sess.List(ctx, All)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Item.Title != "Quince" {
				continue
			}
			v, _ := e.Item.Get("password")
			seen := map[string]bool{v: true}
			hist, err := d.sess.History(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hist {
				v, _ := h.Item.Get("password")
				seen[v] = true
			}
			for _, v := range []string{"first-pw", "second-pw"} {
				if !seen[v] {
					t.Errorf("device %d lost the password %q of the item", i, v)
				}
			}
			if e.Item.Notes != "from B" {
				t.Errorf("device %d: B's note is gone: %q", i, e.Item.Notes)
			}
		}
	}
}
