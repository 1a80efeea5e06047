package replica_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger/memstore"
	"github.com/keyhold/keyhold/internal/ledger/sqlitestore"
	"github.com/keyhold/keyhold/internal/replica"

	_ "modernc.org/sqlite"
)

// storeKinds are the stores every case runs over: the CLI's SQLite
// tables and the browser's memory.
var storeKinds = []struct {
	name string
	open func(t *testing.T) replica.Store
}{
	{"sqlite", func(t *testing.T) replica.Store {
		db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "v.db"))+"?_txlock=immediate")
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
		return sqlitestore.Store{DB: db}
	}},
	{"memory", func(t *testing.T) replica.Store { return memstore.New().Sync() }},
}

// account is one account's keys, shared by the replicas of a case.
type account struct {
	ak   *keys.AccountKey
	acct keys.AccountID
}

func newAccount(t *testing.T) *account {
	ak, err := keys.NewAccountKey()
	if err != nil {
		t.Fatal(err)
	}
	id, err := keys.NewAccountID()
	if err != nil {
		t.Fatal(err)
	}
	return &account{ak, id}
}

var clock = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (a *account) replica(t *testing.T, st replica.Store) *replica.Replica {
	t.Helper()
	now := clock
	r, err := replica.Create(context.Background(), st, a.ak, 1, a.acct, replica.WithClock(func() time.Time {
		now = now.Add(time.Second)
		return now
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func login(title, user, pw string) *item.Item {
	it := item.New(item.Login, title, clock)
	it.Set("username", user, item.Text)
	it.Set("password", pw, item.Hidden)
	return it
}

// fixture is one case's replica under test (r, over the store kind
// being tested) and a peer device of the same account (over memory),
// whose pushes become r's pulls.
type fixture struct {
	t    *testing.T
	ctx  context.Context
	r    *replica.Replica
	peer *replica.Replica
	seq  uint64 // the simulated server's head
}

// push takes the peer's outgoing revisions, as the server would accept
// them, and returns them as r would pull them, with the new head.
func (f *fixture) push() ([]replica.Incoming, uint64) {
	f.t.Helper()
	out, err := f.peer.Outgoing(f.ctx, -1)
	if err != nil {
		f.t.Fatal(err)
	}
	var in []replica.Incoming
	var ps []replica.Pushed
	for _, o := range out {
		for _, rv := range o.Revs {
			in = append(in, replica.Incoming{ID: o.ID, Rev: rv.Rev, Box: rv.Box})
			f.seq++
		}
		ps = append(ps, replica.Pushed{ID: o.ID, Rev: o.Last()})
	}
	if err := f.peer.MarkPushed(f.ctx, ps); err != nil {
		f.t.Fatal(err)
	}
	return in, f.seq
}

// pushR marks r's outgoing revisions pushed and returns them as the peer
// would pull them.
func (f *fixture) pushR() []replica.Incoming {
	f.t.Helper()
	out, err := f.r.Outgoing(f.ctx, -1)
	if err != nil {
		f.t.Fatal(err)
	}
	var in []replica.Incoming
	var ps []replica.Pushed
	for _, o := range out {
		for _, rv := range o.Revs {
			in = append(in, replica.Incoming{ID: o.ID, Rev: rv.Rev, Box: rv.Box})
			f.seq++
		}
		ps = append(ps, replica.Pushed{ID: o.ID, Rev: o.Last()})
	}
	if err := f.r.MarkPushed(f.ctx, ps); err != nil {
		f.t.Fatal(err)
	}
	return in
}

func (f *fixture) apply(r *replica.Replica, in []replica.Incoming, cursor uint64) *replica.ApplyReport {
	f.t.Helper()
	rep, err := r.ApplyIncoming(f.ctx, in, cursor)
	if err != nil {
		f.t.Fatal(err)
	}
	return rep
}

func (f *fixture) add(r *replica.Replica, it *item.Item) replica.Current {
	f.t.Helper()
	cs, err := r.Add(f.ctx, it)
	if err != nil {
		f.t.Fatal(err)
	}
	return cs[0]
}

// shared adds an item on the peer and brings it to r, so both hold it
// at revision 1, known to the server.
func (f *fixture) shared() replica.Current {
	f.t.Helper()
	c := f.add(f.peer, login("mail", "alice", "pw1"))
	in, head := f.push()
	f.apply(f.r, in, head)
	return c
}

func (f *fixture) get(r *replica.Replica, id replica.ItemID) replica.Current {
	f.t.Helper()
	c, err := r.Get(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) pending(r *replica.Replica) int {
	f.t.Helper()
	n, err := r.Pending(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) state() replica.SyncState {
	f.t.Helper()
	s, err := f.r.SyncState(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// edit changes one field of an item on r (or the peer) on top of its
// current revision.
func (f *fixture) edit(r *replica.Replica, id replica.ItemID, field, value string) replica.Current {
	f.t.Helper()
	c := f.get(r, id)
	it := c.Item.Clone()
	it.Set(field, value, item.Text)
	it.Modified = it.Modified.Add(time.Minute)
	n, err := r.Put(f.ctx, id, c.Revision, it)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// unchanged fails unless r's items and sync state are as before fn.
func (f *fixture) unchanged(fn func()) {
	f.t.Helper()
	before, err := f.r.Items(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	st := f.state()
	fn()
	after, err := f.r.Items(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(before) != len(after) || f.state() != st {
		f.t.Fatalf("a refused pull changed the replica")
	}
	revs := map[replica.ItemID]uint64{}
	for _, c := range before {
		revs[c.ID] = c.Revision
	}
	for _, c := range after {
		if revs[c.ID] != c.Revision {
			f.t.Fatalf("a refused pull moved item %s", c.ID)
		}
	}
}

var cases = []struct {
	name string
	run  func(f *fixture)
}{
	{"a new item is pending until pushed", func(f *fixture) {
		c := f.add(f.r, login("bank", "bob", "s3cret"))
		out, err := f.r.Outgoing(f.ctx, 10)
		if err != nil {
			f.t.Fatal(err)
		}
		if len(out) != 1 || out[0].ID != c.ID || out[0].BaseRev != 0 || len(out[0].Revs) != 1 || out[0].Last() != 1 {
			f.t.Fatalf("outgoing %+v", out)
		}
		if f.pending(f.r) != 1 {
			f.t.Fatal("not pending")
		}
		f.pushR()
		if f.pending(f.r) != 0 {
			f.t.Fatal("still pending after the push")
		}
		// Every unseen revision goes, on top of the server's.
		f.edit(f.r, c.ID, "username", "b1")
		f.edit(f.r, c.ID, "username", "b2")
		out, _ = f.r.Outgoing(f.ctx, 10)
		if len(out) != 1 || out[0].BaseRev != 1 || len(out[0].Revs) != 2 || out[0].Revs[0].Rev != 2 || out[0].Last() != 3 {
			f.t.Fatalf("outgoing after two edits %+v", out)
		}
	}},
	{"a pulled item is added, then moves forward", func(f *fixture) {
		c := f.shared()
		if got := f.get(f.r, c.ID); got.Revision != 1 || got.Item.Title != "mail" {
			f.t.Fatalf("pulled item %+v", got)
		}
		if f.pending(f.r) != 0 || f.state().Cursor != 1 {
			f.t.Fatalf("pending %d, state %+v", f.pending(f.r), f.state())
		}
		f.edit(f.peer, c.ID, "username", "alice2")
		f.edit(f.peer, c.ID, "username", "alice3")
		in, head := f.push()
		rep := f.apply(f.r, in, head)
		if rep.Updated != 1 || rep.Added != 0 || rep.Merged != 0 {
			f.t.Fatalf("report %+v", rep)
		}
		got := f.get(f.r, c.ID)
		if v, _ := got.Item.Get("username"); got.Revision != 3 || v != "alice3" {
			f.t.Fatalf("moved to %d %q", got.Revision, v)
		}
		h, err := f.r.History(f.ctx, c.ID)
		if err != nil || len(h) != 2 || h[0].Revision != 1 || h[1].Revision != 2 {
			f.t.Fatalf("history %+v %v", h, err)
		}
	}},
	{"edits of different fields merge", func(f *fixture) {
		c := f.shared()
		f.edit(f.r, c.ID, "password", "mine")
		f.edit(f.peer, c.ID, "username", "theirs")
		in, head := f.push()
		rep := f.apply(f.r, in, head)
		if rep.Merged != 1 || len(rep.Conflicts) != 0 {
			f.t.Fatalf("report %+v", rep)
		}
		got := f.get(f.r, c.ID)
		u, _ := got.Item.Get("username")
		p, _ := got.Item.Get("password")
		if got.Revision != 4 || u != "theirs" || p != "mine" {
			f.t.Fatalf("merged revision %d: %q %q", got.Revision, u, p)
		}
		// Both lines are kept: the server's 2, this device's renumbered 3.
		h, err := f.r.History(f.ctx, c.ID)
		if err != nil || len(h) != 3 {
			f.t.Fatalf("history %+v %v", h, err)
		}
		if v, _ := h[1].Item.Get("username"); v != "theirs" {
			f.t.Fatalf("server's revision 2 holds %q", v)
		}
		if v, _ := h[2].Item.Get("password"); v != "mine" {
			f.t.Fatalf("local edit renumbered 3 holds %q", v)
		}
		out, _ := f.r.Outgoing(f.ctx, -1)
		if len(out) != 1 || out[0].BaseRev != 2 || out[0].Last() != 4 {
			f.t.Fatalf("outgoing after merge %+v", out)
		}
		// The peer pulls the merge and ends up with the same item.
		f.apply(f.peer, f.pushR(), f.seq)
		pg := f.get(f.peer, c.ID)
		if pg.Revision != 4 || pg.Entry != got.Entry {
			f.t.Fatalf("the peer holds revision %d, not the merge", pg.Revision)
		}
	}},
	{"edits of one field conflict, both kept", func(f *fixture) {
		c := f.shared()
		f.edit(f.r, c.ID, "username", "mine")
		f.edit(f.peer, c.ID, "username", "theirs")
		in, head := f.push()
		rep := f.apply(f.r, in, head)
		if rep.Merged != 1 || len(rep.Conflicts) != 1 || rep.Conflicts[0].ID != c.ID || rep.Conflicts[0].Fields[0].Field != "field:username" {
			f.t.Fatalf("report %+v", rep)
		}
	}},
	{"a changed revision is the server's mismatch", func(f *fixture) {
		c := f.shared()
		f.edit(f.peer, c.ID, "username", "x")
		in, head := f.push()
		forged := in[0]
		forged.Rev = 1 // the peer's revision 2 presented as revision 1
		f.unchanged(func() {
			if _, err := f.r.ApplyIncoming(f.ctx, []replica.Incoming{forged}, head); !errors.Is(err, replica.ErrServerMismatch) {
				f.t.Fatalf("got %v", err)
			}
		})
	}},
	{"a gap is the server's mismatch", func(f *fixture) {
		c := f.shared()
		f.edit(f.peer, c.ID, "username", "x")
		f.edit(f.peer, c.ID, "username", "y")
		in, head := f.push()
		f.unchanged(func() {
			if _, err := f.r.ApplyIncoming(f.ctx, in[1:], head); !errors.Is(err, replica.ErrServerMismatch) {
				f.t.Fatalf("got %v", err)
			}
		})
	}},
	{"junk is the server's mismatch", func(f *fixture) {
		f.shared()
		f.unchanged(func() {
			in := []replica.Incoming{{ID: replica.ItemID{9}, Rev: 1, Box: []byte("junk")}}
			if _, err := f.r.ApplyIncoming(f.ctx, in, f.seq+1); !errors.Is(err, replica.ErrServerMismatch) {
				f.t.Fatalf("got %v", err)
			}
		})
	}},
	{"a cursor going back is a rollback", func(f *fixture) {
		f.shared()
		f.unchanged(func() {
			if _, err := f.r.ApplyIncoming(f.ctx, nil, 0); !errors.Is(err, replica.ErrServerRollback) {
				f.t.Fatalf("got %v", err)
			}
		})
	}},
	{"own pushes pulled back are skipped", func(f *fixture) {
		c := f.add(f.r, login("own", "me", "pw"))
		in := f.pushR()
		rep := f.apply(f.r, in, f.seq)
		if rep.Added+rep.Updated+rep.Merged != 0 || f.get(f.r, c.ID).Revision != 1 {
			f.t.Fatalf("report %+v", rep)
		}
	}},
	{"server manifest round trip", func(f *fixture) {
		f.shared()
		f.add(f.r, login("two", "u", "p"))
		out, _ := f.r.Outgoing(f.ctx, -1)
		blob, err := f.r.ServerManifest(f.ctx, f.seq+1, out)
		if err != nil {
			f.t.Fatal(err)
		}
		// Before the push is recorded the manifest does not describe
		// what the device knows the server holds.
		if err := f.r.CheckServerManifest(f.ctx, blob, f.seq+1); !errors.Is(err, replica.ErrServerMismatch) {
			f.t.Fatalf("check before the push: %v", err)
		}
		f.pushR()
		if err := f.r.CheckServerManifest(f.ctx, blob, f.seq); err != nil {
			f.t.Fatal(err)
		}
		if s := f.state(); s.Verified != f.seq {
			f.t.Fatalf("verified %d, want %d", s.Verified, f.seq)
		}
		if err := f.r.CheckServerManifest(f.ctx, blob, f.seq+1); !errors.Is(err, replica.ErrServerMismatch) {
			f.t.Fatalf("a manifest for another sequence: %v", err)
		}
		if err := f.r.CheckServerManifest(f.ctx, []byte("junk"), f.seq); !errors.Is(err, replica.ErrServerMismatch) {
			f.t.Fatalf("junk manifest: %v", err)
		}
	}},
	{"cursor moves", func(f *fixture) {
		f.shared()
		if err := f.r.AdvanceCursor(f.ctx, 5, 9); err != nil {
			f.t.Fatal(err)
		}
		if s := f.state(); s.Cursor != 1 {
			f.t.Fatalf("advanced from the wrong cursor: %+v", s)
		}
		if err := f.r.AdvanceCursor(f.ctx, 1, 9); err != nil {
			f.t.Fatal(err)
		}
		if err := f.r.MarkVerified(f.ctx, 4); err != nil {
			f.t.Fatal(err)
		}
		if err := f.r.RewindCursor(f.ctx, 12); err != nil {
			f.t.Fatal(err)
		}
		if s := f.state(); s.Cursor != 9 || s.Verified != 4 {
			f.t.Fatalf("state %+v", s)
		}
		if err := f.r.RewindCursor(f.ctx, 4); err != nil {
			f.t.Fatal(err)
		}
		if s := f.state(); s.Cursor != 4 || s.Verified != 4 {
			f.t.Fatalf("rewound: %+v", s)
		}
	}},
	{"a stale edit is refused, trash and restore", func(f *fixture) {
		c := f.add(f.r, login("site", "u", "p"))
		f.edit(f.r, c.ID, "username", "v")
		if _, err := f.r.Put(f.ctx, c.ID, 1, c.Item); !errors.Is(err, replica.ErrConflict) {
			f.t.Fatalf("stale put: %v", err)
		}
		if _, err := f.r.Put(f.ctx, replica.ItemID{7}, 1, c.Item); !errors.Is(err, replica.ErrNotFound) {
			f.t.Fatalf("put of a missing item: %v", err)
		}
		tr, err := f.r.Trash(f.ctx, c.ID)
		if err != nil || tr.Item.Trashed == nil || tr.Revision != 3 {
			f.t.Fatalf("trash: %+v %v", tr, err)
		}
		if _, err := f.r.Trash(f.ctx, c.ID); !errors.Is(err, replica.ErrNotFound) {
			f.t.Fatalf("trash twice: %v", err)
		}
		rs, err := f.r.Restore(f.ctx, c.ID)
		if err != nil || rs.Item.Trashed != nil || rs.Revision != 4 {
			f.t.Fatalf("restore: %+v %v", rs, err)
		}
		if _, err := f.r.Restore(f.ctx, c.ID); !errors.Is(err, replica.ErrNotFound) {
			f.t.Fatalf("restore twice: %v", err)
		}
		h, err := f.r.History(f.ctx, c.ID)
		if err != nil || len(h) != 3 {
			f.t.Fatalf("history %d %v", len(h), err)
		}
		if v, _ := h[0].Item.Get("username"); v != "u" {
			f.t.Fatalf("first revision %q", v)
		}
	}},
	{"a stale edit merges with PutMerge, both kept", func(f *fixture) {
		c := f.add(f.r, login("site", "u", "p"))
		f.edit(f.r, c.ID, "username", "newer")
		stale := c.Item.Clone()
		stale.Set("password", "from a stale form", item.Hidden)
		stale.Modified = stale.Modified.Add(time.Hour)
		got, conflicts, err := f.r.PutMerge(f.ctx, c.ID, 1, stale)
		if err != nil || len(conflicts) != 0 || got.Revision != 4 {
			f.t.Fatalf("merge: %+v %v %v", got, conflicts, err)
		}
		u, _ := got.Item.Get("username")
		p, _ := got.Item.Get("password")
		if u != "newer" || p != "from a stale form" {
			f.t.Fatalf("merged %q %q", u, p)
		}
		h, err := f.r.History(f.ctx, c.ID)
		if err != nil || len(h) != 3 || h[2].Revision != 3 {
			f.t.Fatalf("history %+v %v", h, err)
		}
		if p, _ := h[2].Item.Get("password"); p != "from a stale form" {
			f.t.Fatalf("the stale edit is not kept as it was: %q", p)
		}
		// The same field: reported, the newer edit wins.
		clash := got.Item.Clone()
		clash.Set("username", "older", item.Text)
		f.edit(f.r, c.ID, "username", "newest")
		if _, conflicts, err = f.r.PutMerge(f.ctx, c.ID, 4, clash); err != nil || len(conflicts) != 1 {
			f.t.Fatalf("clash: %v %v", conflicts, err)
		}
		// Up to date: a plain Put.
		cur := f.get(f.r, c.ID)
		if n, _, err := f.r.PutMerge(f.ctx, c.ID, cur.Revision, cur.Item); err != nil || n.Revision != cur.Revision+1 {
			f.t.Fatalf("up-to-date PutMerge: %+v %v", n, err)
		}
		if _, _, err := f.r.PutMerge(f.ctx, c.ID, 99, cur.Item); !errors.Is(err, replica.ErrConflict) {
			f.t.Fatalf("a base the item never had: %v", err)
		}
	}},
}

// TestRules runs every case over each store: the rules are the same
// whatever keeps the rows.
func TestRules(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					a := newAccount(t)
					f := &fixture{t: t, ctx: context.Background(), r: a.replica(t, sk.open(t)), peer: a.replica(t, memstore.New().Sync())}
					tc.run(f)
					if _, err := f.r.Items(f.ctx); err != nil {
						t.Fatalf("the replica does not match its manifest afterwards: %v", err)
					}
				})
			}
		})
	}
}

// TestConcurrentUse: calls from several goroutines on one Replica over
// memory never meet memstore's refusal of a second transaction.
func TestConcurrentUse(t *testing.T) {
	a := newAccount(t)
	r := a.replica(t, memstore.New().Sync())
	ctx := context.Background()
	errs := make(chan error, 40)
	for i := range 20 {
		go func() {
			_, err := r.Add(ctx, login("x", "u", "p"))
			errs <- err
		}()
		go func() {
			_, err := r.Items(ctx)
			if err == nil && i%2 == 0 {
				_, err = r.Pending(ctx)
			}
			errs <- err
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n, err := r.Pending(ctx); err != nil || n != 20 {
		t.Fatalf("%d pending, %v", n, err)
	}
}
