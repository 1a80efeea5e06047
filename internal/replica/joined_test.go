package replica_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger/memstore"
	"github.com/keyhold/keyhold/internal/replica"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// joinOf is what a server sends a new device of a's account: n items,
// the first of them at revision 2.
func joinOf(t *testing.T, a *account, n int) *vaultsync.Join {
	t.Helper()
	sk, err := keys.NewSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	env, d, err := format.NewEnvelope(a.ak, a.acct, 1, 1, []byte("pw"), sk, keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	kc, err := format.NewKeyCheck(a.ak, a.acct, 1)
	if err != nil {
		t.Fatal(err)
	}
	j := &vaultsync.Join{AccountID: a.acct, SecretKey: sk, AccountKey: a.ak, Envelope: env.Marshal(), KeyCheck: kc.Marshal()}
	seal := func(id vaultsync.ItemID, rev uint64, it *item.Item) {
		pt, err := it.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		box, err := format.SealItem(a.ak, 1, format.ItemRef{AccountID: a.acct, ItemID: id, Revision: rev}, pt)
		if err != nil {
			t.Fatal(err)
		}
		j.Revisions = append(j.Revisions, vaultsync.Incoming{ID: id, Rev: rev, Box: box})
		j.Head++
	}
	for i := range n {
		id := vaultsync.ItemID(uuid.New())
		rev := uint64(1)
		if i == 0 {
			seal(id, rev, login("first title", "u0", "old"))
			rev++
		}
		seal(id, rev, login(fmt.Sprintf("item %d", i), fmt.Sprintf("u%d", i), fmt.Sprintf("pw%d", i)))
	}
	return j
}

// listed is what Items shows: each item's id, revision and content.
func listed(t *testing.T, r *replica.Replica) []string {
	t.Helper()
	cs, err := r.Items(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		pt, err := c.Item.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d %s", c.ID, c.Revision, pt))
	}
	slices.Sort(out)
	return out
}

// TestJoinedItems: a replica that keeps the items Join opened lists
// exactly what one that opens every box again lists, and an item changed
// after the join is listed as it is now, not as it was joined.
func TestJoinedItems(t *testing.T) {
	ctx := context.Background()
	a := newAccount(t)
	j := joinOf(t, a, 20)
	plain, err := replica.Join(ctx, memstore.New().Sync(), j, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	kept, err := replica.Join(ctx, memstore.New().Sync(), j, 1, replica.WithJoinedItems())
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	want := listed(t, plain)
	if len(want) != 20 {
		t.Fatalf("the join lists %d items", len(want))
	}
	if got := listed(t, kept); !slices.Equal(got, want) {
		t.Fatalf("with the joined items kept, Items lists\n%v\nwant\n%v", got, want)
	}

	// Changed after the join, before the first Items call.
	again, err := replica.Join(ctx, memstore.New().Sync(), j, 1, replica.WithJoinedItems())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	id := j.Revisions[0].ID
	cur, err := again.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	it := cur.Item.Clone()
	it.Set("password", "changed after the join", item.Hidden)
	if _, err := again.Put(ctx, id, cur.Revision, it); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range mustItems(t, again) {
		if c.ID == id {
			found = true
			if v, _ := c.Item.Get("password"); v != "changed after the join" || c.Revision != cur.Revision+1 {
				t.Errorf("the item changed after the join is listed at revision %d with password %q", c.Revision, v)
			}
		}
	}
	if !found {
		t.Error("the item changed after the join is not listed")
	}
}

// TestJoinOpenedOnlyForTheSameBox: what the download check opened is
// taken only for the very box joined; for any other box (another
// revision's, other bytes) Join opens the box itself, and a box that
// does not open is refused whatever was kept for it.
func TestJoinOpenedOnlyForTheSameBox(t *testing.T) {
	ctx := context.Background()
	a := newAccount(t)
	j := joinOf(t, a, 3)
	first, last := j.Revisions[0], j.Revisions[1] // revisions 1 and 2 of one item
	stale := login("kept from elsewhere", "x", "y")
	j.Opened = map[vaultsync.ItemID]vaultsync.Opened{
		first.ID:          {Rev: last.Rev, Box: first.Box, Item: stale},
		j.Revisions[2].ID: {Rev: 1, Box: append([]byte(nil), j.Revisions[2].Box[:10]...), Item: stale},
	}
	r, err := replica.Join(ctx, memstore.New().Sync(), j, 1, replica.WithJoinedItems())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, c := range mustItems(t, r) {
		if c.Item.Title == stale.Title {
			t.Errorf("item %s is listed with what was kept for another box", c.ID)
		}
	}

	bad := joinOf(t, a, 2)
	broken := append([]byte(nil), bad.Revisions[2].Box...)
	broken[len(broken)-1] ^= 1
	bad.Opened = map[vaultsync.ItemID]vaultsync.Opened{bad.Revisions[2].ID: {Rev: 1, Box: bad.Revisions[2].Box, Item: stale}}
	bad.Revisions[2].Box = broken
	if _, err := replica.Join(ctx, memstore.New().Sync(), bad, 1); !errors.Is(err, replica.ErrServerMismatch) {
		t.Errorf("joining a box that does not open: %v, want ErrServerMismatch", err)
	}
}

func mustItems(t *testing.T, r *replica.Replica) []replica.Current {
	t.Helper()
	cs, err := r.Items(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
