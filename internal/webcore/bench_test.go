package webcore

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// benchIndex is an index of n login items of varied titles, users, URLs
// and tags, as the web vault holds them after unlock.
func benchIndex(b *testing.B, n int) (*index, []vaultsync.ItemID) {
	b.Helper()
	x := newIndex()
	es := make([]Entry, n)
	ids := make([]vaultsync.ItemID, n)
	now := time.Now()
	for i := range n {
		it := item.New(item.Login, fmt.Sprintf("Site %05d %s", (i*7919)%n, []string{"mail", "bank", "shop", "forum"}[i%4]), now)
		it.Set("username", fmt.Sprintf("user%d@example.org", i), item.Text)
		it.Set("password", fmt.Sprintf("pw-%d-secret", i), item.Hidden)
		it.URLs = []string{fmt.Sprintf("https://site%d.example.org/login", i)}
		it.Tags = []string{[]string{"work", "home", "family"}[i%3]}
		it.Notes = "some notes about this account"
		ids[i] = vaultsync.ItemID(uuid.New())
		es[i] = Entry{ID: ids[i], Rev: 1, Item: it}
	}
	x.reset(es)
	x.list(ListQuery{}) // sorted once, as after unlock
	return x, ids
}

// BenchmarkList10k: the list with no query, 10,000 items, encoded as the
// page receives it (its budget: 30 ms a call, in the browser).
func BenchmarkList10k(b *testing.B) {
	x, _ := benchIndex(b, 10000)
	for b.Loop() {
		if len(x.list(ListQuery{}).AppendJSON(nil)) == 0 {
			b.Fatal("wrong count")
		}
	}
}

// BenchmarkSearch10k: one keystroke's search over 10,000 items.
func BenchmarkSearch10k(b *testing.B) {
	x, _ := benchIndex(b, 10000)
	for b.Loop() {
		if r := x.list(ListQuery{Query: "bank 12"}); r.Len() == 0 || len(r.AppendJSON(nil)) == 0 {
			b.Fatal("nothing found")
		}
	}
}

// BenchmarkSearchTag10k: a search within a tag.
func BenchmarkSearchTag10k(b *testing.B) {
	x, _ := benchIndex(b, 10000)
	for b.Loop() {
		x.list(ListQuery{Query: "example", Tag: "work", Type: "login"}).AppendJSON(nil)
	}
}

// BenchmarkOpenItem: opening one item among 10,000 (what get answers).
func BenchmarkOpenItem(b *testing.B) {
	x, ids := benchIndex(b, 10000)
	c := &Core{ix: x, v: &memVault{}}
	i := 0
	for b.Loop() {
		if _, err := c.Get(ids[i%len(ids)].String()); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchSnapshot is a remembered browser's sealed vault of n items, and
// its account key.
func benchSnapshot(b *testing.B, n int) ([]byte, *keys.AccountKey, keys.AccountID) {
	b.Helper()
	ctx := context.Background()
	ak, err := keys.NewAccountKey()
	if err != nil {
		b.Fatal(err)
	}
	id := keys.AccountID{1, 2, 3}
	sk := new(keys.SecretKey)
	env, d, err := format.NewEnvelope(ak, id, 1, 1, []byte("pw"), sk, keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	d.Wipe()
	kc, err := format.NewKeyCheck(ak, id, 1)
	if err != nil {
		b.Fatal(err)
	}
	x, _ := benchIndex(b, n)
	j := &vaultsync.Join{AccountID: id, SecretKey: sk, AccountKey: ak, Envelope: env.Marshal(), KeyCheck: kc.Marshal(), Head: uint64(n)}
	for _, e := range x.all() {
		pt, err := e.Item.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		box, err := format.SealItem(ak, 1, format.ItemRef{AccountID: id, ItemID: e.ID, Revision: 1}, pt)
		if err != nil {
			b.Fatal(err)
		}
		j.Revisions = append(j.Revisions, vaultsync.Incoming{ID: e.ID, Rev: 1, Box: box})
	}
	v, err := MemVaults(nil).Create(ctx, j, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	snap, err := v.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	return snap, ak, id
}

// BenchmarkUnlock10k: a remembered browser's vault of 10,000 items from
// its stored bytes to a listed page, after the key derivation (which the
// Worker runs): parse, check the key check and manifest, open every item,
// index and list them.
func BenchmarkUnlock10k(b *testing.B) {
	snap, ak, id := benchSnapshot(b, 10000)
	ctx := context.Background()
	for b.Loop() {
		v, err := MemVaults(nil).Open(ctx, snap, nil, id, ak, 1)
		if err != nil {
			b.Fatal(err)
		}
		es, err := v.Items(ctx)
		if err != nil {
			b.Fatal(err)
		}
		x := newIndex()
		x.reset(es)
		if x.list(ListQuery{}).Len() != 10000 {
			b.Fatal("wrong count")
		}
		v.Close()
	}
	b.ReportMetric(float64(len(snap))/(1<<20), "MiB-stored")
}

// The list's rows, encoded by hand, read back as json.Marshal's do.
func TestRowJSON(t *testing.T) {
	rows := []ListItem{
		{ID: "0b5f4e6c-8a1d-4c3b-9e2f-1a2b3c4d5e6f", Title: "Zebra Bank", Subtitle: "zed@example.org", Type: "login", Tags: []string{}, URL: "https://zebra-bank.example/?a=1&b=<2>", Modified: time.Date(2026, 12, 6, 23, 4, 5, 123456789, time.UTC)},
		{Title: "quote \" back \\ slash\b\f\n\r\t\x00\x1f\x7f é😀 \u2028\u2029", Subtitle: "bad \xff\xfe utf-8 \xe2\x82", Type: "note", Tags: []string{"work", "<&>"}, Favorite: true, Modified: time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))},
		{Tags: nil, Modified: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, r := range rows {
		var got, want ListItem
		b := r.appendJSON(nil)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		ref, err := json.Marshal(&r)
		if err != nil {
			ref = r.appendJSON(nil) // a time json cannot write: only the rest is compared
			got.Modified = time.Time{}
		}
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("row %q reads as\n%#v, want\n%#v", b, got, want)
		}
	}
}
