package webcore_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/vault"
	"github.com/keyhold/keyhold/internal/webcore"
)

// pageEdit does what the web vault's editor does with an item it shows:
// it copies the whole view it was given, drops the view-only keys, changes
// the title and sends the rest back. A setting the page has no control for
// (the browser match setting) must travel through unchanged.
func pageEdit(t *testing.T, v webcore.ItemView, title string) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "rev", "conflicts", "attachments"} {
		delete(m, k)
	}
	m["title"] = title
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMatchSettingSurvivesWebEdits: a login set to match its exact host
// on the command line keeps that setting when it is edited in the web
// vault, whether the edit is of the current revision or of one a sync has
// since moved past.
func TestMatchSettingSurvivesWebEdits(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(t, false)
	ctx := context.Background()
	stale, err := b.Get(w.id)
	if err != nil {
		t.Fatal(err)
	}

	e, err := w.s.Resolve(ctx, w.id, vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	ci := e.Item.Clone()
	ci.Match = item.MatchHost
	if _, err := w.s.Put(ctx, e.ID, e.Revision, ci); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	if _, err := b.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}

	// An edit made on the revision the page showed before the sync.
	if _, err := b.Save(ctx, stale.ID, stale.Rev, pageEdit(t, stale, "mail (old view)")); err != nil {
		t.Fatal(err)
	}
	got, _ := b.Get(w.id)
	if got.Item.Match != item.MatchHost || got.Item.Title != "mail (old view)" {
		t.Fatalf("stale edit: match %q title %q, want %q and the new title", got.Item.Match, got.Item.Title, item.MatchHost)
	}

	// An edit of the current revision, which shows the setting.
	if _, err := b.Save(ctx, got.ID, got.Rev, pageEdit(t, got, "mail (current view)")); err != nil {
		t.Fatal(err)
	}
	got, _ = b.Get(w.id)
	if got.Item.Match != item.MatchHost || got.Item.Title != "mail (current view)" {
		t.Fatalf("current edit: match %q title %q, want %q and the new title", got.Item.Match, got.Item.Title, item.MatchHost)
	}

	// And the command line sees it after the browser's edits sync back.
	w.sync(t)
	e, err = w.s.Resolve(ctx, w.id, vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	if e.Item.Match != item.MatchHost {
		t.Fatalf("after sync the CLI's item has match %q", e.Item.Match)
	}
}
