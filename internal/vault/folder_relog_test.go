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
