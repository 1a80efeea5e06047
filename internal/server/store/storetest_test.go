package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/pgtest"
)

// storetest checks every documented behaviour of a Store. newDB gives a
// fresh database per test; its opener may be called again to get a second
// Store (replica) on the same database.
func storetest(t *testing.T, newDB func(testing.TB) opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, func(testing.TB) opener)
	}{
		{"Accounts", testAccounts},
		{"Keys", testKeys},
		{"Secret", testSecret},
		{"PushItemByItem", testPushItemByItem},
		{"PushManifest", testPushManifest},
		{"PushTombstone", testPushTombstone},
		{"ChangesPaging", testChangesPaging},
		{"Rotate", testRotate},
		{"EpochRises", testEpochRises},
		{"Devices", testDevices},
		{"Sessions", testSessions},
		{"SessionProof", testSessionProof},
		{"LoginState", testLoginState},
		{"Failures", testFailures},
		{"Events", testEvents},
		{"SyncSettings", testSyncSettings},
		{"Backup", testBackup},
		{"Subscribe", testSubscribe},
		{"ConcurrentPushes", testConcurrentPushes},
		{"ConcurrentOpen", testConcurrentOpen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newDB)
		})
	}
}

func testAccounts(t *testing.T, newDB func(testing.TB) opener) {
	s := openT(t, newDB(t))
	created := now().Add(-time.Hour)
	id, dev := newID(t), newID(t)
	plan := Plan{Name: PlanTrial, TrialEnds: time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)}
	a := &Account{ID: id, Email: "x@example.org", Plan: plan, Created: created}
	k := &Keys{Envelope: []byte("e"), KeyCheck: []byte("k"), KeyVersion: 3, Record: []byte("r")}
	d := &Device{ID: dev, AccountID: id, Name: "phone", Platform: "android"}
	if err := s.CreateAccount(ctx, a, k, d); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, a, k, &Device{ID: newID(t), AccountID: id}); !errors.Is(err, ErrExists) {
		t.Fatalf("second CreateAccount with the same id: %v, want ErrExists", err)
	}
	got, err := s.Account(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := Account{ID: id, Email: "x@example.org", Plan: plan, Created: created, KeyVersion: 3}
	if !accountEqual(*got, want) {
		t.Errorf("Account = %+v, want %+v", *got, want)
	}
	if _, err := s.Account(ctx, newID(t)); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown account: %v, want ErrNotFound", err)
	}

	devs, err := s.Devices(ctx, id)
	if err != nil || len(devs) != 1 || devs[0].ID != dev || devs[0].Name != "phone" || devs[0].Platform != "android" {
		t.Errorf("first device not stored with the account: %+v, %v", devs, err)
	}
	evs, err := s.Events(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
		if e.DeviceID != dev {
			t.Errorf("event %s has device %x, want %x", e.Kind, e.DeviceID, dev)
		}
	}
	if !slices.Contains(kinds, api.EventAccountCreated) || !slices.Contains(kinds, api.EventDeviceAdded) || len(kinds) != 2 {
		t.Errorf("events after CreateAccount: %v, want account_created and device_added", kinds)
	}

	paid := Plan{Name: PlanOther, PaymentDate: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		PaidUntil: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), Label: "sponsor"}
	if err := s.SetPlan(ctx, id, paid); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Account(ctx, id)
	want.Plan, want.Disabled = paid, true
	if !accountEqual(*got, want) {
		t.Errorf("after SetPlan and SetDisabled: %+v, want %+v", *got, want)
	}
	if err := s.SetPlan(ctx, newID(t), paid); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPlan of unknown account: %v, want ErrNotFound", err)
	}
	if err := s.SetDisabled(ctx, newID(t), true); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetDisabled of unknown account: %v, want ErrNotFound", err)
	}

	other, _ := createAccount(t, s)
	list, err := s.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != id || list[1].ID != other {
		t.Errorf("ListAccounts: %d accounts, want the two in creation order", len(list))
	}
}

func accountEqual(a, b Account) bool {
	return a.ID == b.ID && a.Email == b.Email && a.Created.Equal(b.Created) && a.Disabled == b.Disabled &&
		a.KeyVersion == b.KeyVersion && a.Head == b.Head && a.Plan.Name == b.Plan.Name && a.Plan.Label == b.Plan.Label &&
		a.Plan.TrialEnds.Equal(b.Plan.TrialEnds) && a.Plan.PaymentDate.Equal(b.Plan.PaymentDate) && a.Plan.PaidUntil.Equal(b.Plan.PaidUntil)
}

func testKeys(t *testing.T, newDB func(testing.TB) opener) {
	f := newFixture(t, newDB)
	k, err := f.s.Keys(ctx, f.account)
	if err != nil {
		t.Fatal(err)
	}
	if string(k.Envelope) != "env1" || string(k.KeyCheck) != "kc1" || k.KeyVersion != 1 || string(k.Record) != "rec1" || k.Transition != nil {
		t.Fatalf("Keys = %+v", k)
	}
	if _, err := f.s.Keys(ctx, newID(t)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Keys of unknown account: %v", err)
	}
	if err := f.s.SetPassword(ctx, f.account, 2, []byte("env2"), []byte("rec2"), f.device); !errors.Is(err, ErrStale) {
		t.Fatalf("SetPassword with a wrong key version: %v, want ErrStale", err)
	}
	if k, _ := f.s.Keys(ctx, f.account); string(k.Envelope) != "env1" {
		t.Fatal("a refused SetPassword changed the envelope")
	}
	if err := f.s.SetPassword(ctx, f.account, 1, []byte("env2"), []byte("rec2"), f.device); err != nil {
		t.Fatal(err)
	}
	k, _ = f.s.Keys(ctx, f.account)
	if string(k.Envelope) != "env2" || string(k.Record) != "rec2" || string(k.KeyCheck) != "kc1" || k.KeyVersion != 1 {
		t.Errorf("after SetPassword: %+v", k)
	}
	evs, _ := f.s.Events(ctx, f.account, 1)
	if len(evs) != 1 || evs[0].Kind != api.EventPasswordChanged || evs[0].DeviceID != f.device {
		t.Errorf("newest event after SetPassword: %+v", evs)
	}
	if err := f.s.SetPassword(ctx, newID(t), 1, nil, nil, f.device); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPassword of unknown account: %v", err)
	}
}

func testSecret(t *testing.T, newDB func(testing.TB) opener) {
	open := newDB(t)
	a, b := openT(t, open), openT(t, open)
	calls := 0
	gen := func(v string) func() ([]byte, error) {
		return func() ([]byte, error) { calls++; return []byte(v), nil }
	}
	v1, err := a.Secret(ctx, "pake", gen("first"))
	if err != nil || string(v1) != "first" {
		t.Fatalf("first Secret: %q, %v", v1, err)
	}
	v2, err := b.Secret(ctx, "pake", gen("second"))
	if err != nil || string(v2) != "first" || calls != 1 {
		t.Fatalf("Secret on another replica: %q, %v, gen called %d times; want the first value, gen once", v2, err, calls)
	}
	v3, _ := a.Secret(ctx, "mail", gen("other"))
	if string(v3) != "other" {
		t.Errorf("a second secret name got %q", v3)
	}
	boom := errors.New("no entropy")
	if _, err := a.Secret(ctx, "x", func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("gen's error: %v", err)
	}

	// Without gen nothing is created; a deleted secret is gone for every
	// replica, and deleting a missing one is not an error.
	if _, err := a.Secret(ctx, "absent", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Secret without gen of a missing secret: %v, want ErrNotFound", err)
	}
	if _, err := a.Secret(ctx, "absent", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Secret without gen created the secret: %v", err)
	}
	if v, err := b.Secret(ctx, "mail", nil); err != nil || string(v) != "other" {
		t.Errorf("Secret without gen of an existing secret: %q, %v", v, err)
	}
	if err := a.DeleteSecret(ctx, "mail"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Secret(ctx, "mail", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("after DeleteSecret: %v", err)
	}
	if err := a.DeleteSecret(ctx, "mail"); err != nil {
		t.Errorf("deleting a missing secret: %v", err)
	}

	// Replicas starting at once all end up with one value.
	var wg sync.WaitGroup
	vals := make([]string, 8)
	for i := range vals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			v, err := s.Secret(ctx, "race", func() ([]byte, error) { id := randomID(); return id[:], nil })
			if err != nil {
				t.Error(err)
			}
			vals[i] = string(v)
		}()
	}
	wg.Wait()
	for _, v := range vals {
		if v != vals[0] {
			t.Fatalf("concurrent Secret calls returned different values")
		}
	}
}

func testPushItemByItem(t *testing.T, newDB func(testing.TB) opener) {
	f := newFixture(t, newDB)
	a, b, c, d := newID(t), newID(t), newID(t), newID(t)
	res := push(t, f.s, f.account, 0, newRevs(a, 0, 1), newRevs(b, 0, 2))
	if res.Head != 3 || len(res.Rejected) != 0 ||
		!slices.Equal(res.Accepted, []Accepted{{ItemID: a, Rev: 1, Seq: 1}, {ItemID: b, Rev: 2, Seq: 3}}) {
		t.Fatalf("first push: %+v", res)
	}

	bad := func(base uint64, revs ...uint64) PushItem {
		it := PushItem{ItemID: c, BaseRev: base}
		for _, r := range revs {
			it.Revs = append(it.Revs, Revision{Rev: r, Box: []byte("x")})
		}
		return it
	}
	cases := []struct {
		name string
		item PushItem
		cur  uint64
	}{
		{"base behind the server", newRevs(a, 0, 1), 1},
		{"base ahead of the server", newRevs(a, 5, 1), 1},
		{"new item with a base", newRevs(d, 1, 1), 0},
		{"revisions not starting at base+1", bad(0, 2, 3), 0},
		{"revisions with a gap", bad(0, 1, 3), 0},
		{"revisions out of order", bad(0, 2, 1), 0},
		{"repeated revision", bad(0, 1, 1), 0},
		{"no revisions", bad(0), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := push(t, f.s, f.account, 3, tc.item)
			want := []Rejected{{ItemID: tc.item.ItemID, CurrentRev: tc.cur}}
			if len(res.Accepted) != 0 || !slices.Equal(res.Rejected, want) || res.Head != 3 {
				t.Errorf("got %+v, want only %+v and head 3", res, want)
			}
		})
	}

	// A mixed push stores the good items and refuses the others.
	res = push(t, f.s, f.account, 3, newRevs(a, 1, 2), newRevs(c, 0, 1), newRevs(b, 1, 1), newRevs(d, 0, 1))
	wantAcc := []Accepted{{ItemID: a, Rev: 3, Seq: 5}, {ItemID: c, Rev: 1, Seq: 6}, {ItemID: d, Rev: 1, Seq: 7}}
	wantRej := []Rejected{{ItemID: b, CurrentRev: 2}}
	if res.Head != 7 || !slices.Equal(res.Accepted, wantAcc) || !slices.Equal(res.Rejected, wantRej) {
		t.Fatalf("mixed push: %+v, want accepted %+v, rejected %+v, head 7", res, wantAcc, wantRej)
	}
	revs, head, _ := changes(t, f.s, f.account, 3, 0)
	if head != 7 || len(revs) != 4 {
		t.Fatalf("changes after the mixed push: head %d, %d revisions", head, len(revs))
	}
	wantRevs := []struct {
		item ID
		rev  uint64
	}{{a, 2}, {a, 3}, {c, 1}, {d, 1}}
	for i, r := range revs {
		w := wantRevs[i]
		if r.ItemID != w.item || r.Rev != w.rev || r.Seq != uint64(4+i) || !bytes.Equal(r.Box, box(w.item, w.rev)) {
			t.Errorf("revision %d = %x rev %d seq %d, want %x rev %d seq %d", i, r.ItemID[:4], r.Rev, r.Seq, w.item[:4], w.rev, 4+i)
		}
	}
	// The same item twice in one push: the second builds on the first.
	res = push(t, f.s, f.account, 7, newRevs(c, 1, 1), newRevs(c, 2, 1))
	if len(res.Accepted) != 2 || res.Accepted[1].Rev != 3 || res.Head != 9 {
		t.Errorf("an item twice in one push: %+v", res)
	}
	if _, err := f.s.Push(ctx, newID(t), 0, []PushItem{newRevs(a, 0, 1)}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("push to unknown account: %v", err)
	}
	if acc, _ := f.s.Account(ctx, f.account); acc.Head != 9 {
		t.Errorf("Account.Head = %d, want 9", acc.Head)
	}
}

func testPushManifest(t *testing.T, newDB func(testing.TB) opener) {
	cases := []struct {
		name   string
		cursor uint64 // the head is 2 before the push
		items  func(a ID) []PushItem
		stored bool
	}{
		{"clean push at the head", 2, func(a ID) []PushItem { return []PushItem{newRevs(a, 1, 1)} }, true},
		{"manifest only, at the head", 2, func(ID) []PushItem { return nil }, true},
		{"cursor behind the head", 1, func(a ID) []PushItem { return []PushItem{newRevs(a, 1, 1)} }, false},
		{"cursor ahead of the head", 5, func(a ID) []PushItem { return []PushItem{newRevs(a, 1, 1)} }, false},
		{"an item refused", 2, func(a ID) []PushItem { return []PushItem{newRevs(a, 0, 1)} }, false},
		{"one of two items refused", 2, func(a ID) []PushItem {
			return []PushItem{newRevs(randomID(), 0, 1), newRevs(a, 0, 1)}
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newDB)
			a, b := newID(t), newID(t)
			res, err := f.s.Push(ctx, f.account, 0, []PushItem{newRevs(a, 0, 1), newRevs(b, 0, 1)}, []byte("m1"))
			if err != nil || !res.ManifestStored {
				t.Fatalf("setup push: %+v, %v", res, err)
			}
			res, err = f.s.Push(ctx, f.account, tc.cursor, tc.items(a), []byte("m2"))
			if err != nil {
				t.Fatal(err)
			}
			if res.ManifestStored != tc.stored {
				t.Fatalf("ManifestStored = %v, want %v (%+v)", res.ManifestStored, tc.stored, res)
			}
			_, head, m := changes(t, f.s, f.account, 0, 0)
			want := Manifest{Seq: 2, Blob: []byte("m1")}
			if tc.stored {
				want = Manifest{Seq: head, Blob: []byte("m2")}
			}
			if m == nil || m.Seq != want.Seq || !bytes.Equal(m.Blob, want.Blob) {
				t.Errorf("manifest %+v, want %q at seq %d", m, want.Blob, want.Seq)
			}
		})
	}
	t.Run("none yet", func(t *testing.T) {
		f := newFixture(t, newDB)
		push(t, f.s, f.account, 0, newRevs(newID(t), 0, 1))
		if _, _, m := changes(t, f.s, f.account, 0, 0); m != nil {
			t.Errorf("manifest %+v before any was pushed", m)
		}
	})
}

func testPushTombstone(t *testing.T, newDB func(testing.TB) opener) {
	f := newFixture(t, newDB)
	a, b := newID(t), newID(t)
	push(t, f.s, f.account, 0, newRevs(a, 0, 2), newRevs(b, 0, 1))
	if n, err := f.s.CountItems(ctx, f.account); err != nil || n != 2 {
		t.Fatalf("CountItems = %d, %v, want 2", n, err)
	}
	res := push(t, f.s, f.account, 3, PushItem{ItemID: a, BaseRev: 2, Revs: []Revision{{Rev: 3, Deleted: true}}})
	if len(res.Accepted) != 1 {
		t.Fatalf("tombstone refused: %+v", res)
	}
	if n, _ := f.s.CountItems(ctx, f.account); n != 1 {
		t.Errorf("CountItems after deleting one of two: %d, want 1", n)
	}
	revs, _, _ := changes(t, f.s, f.account, 3, 0)
	if len(revs) != 1 || !revs[0].Deleted || revs[0].Box != nil || revs[0].Rev != 3 {
		t.Errorf("tombstone in changes: %+v", revs)
	}
	// An item can come back after deletion.
	push(t, f.s, f.account, 4, newRevs(a, 3, 1))
	if n, _ := f.s.CountItems(ctx, f.account); n != 2 {
		t.Errorf("CountItems after restoring: %d, want 2", n)
	}
	if _, err := f.s.CountItems(ctx, newID(t)); !errors.Is(err, ErrNotFound) {
		t.Errorf("CountItems of unknown account: %v", err)
	}
}

func testChangesPaging(t *testing.T, newDB func(testing.TB) opener) {
	f := newFixture(t, newDB)
	var items []ID
	for range 5 {
		id := newID(t)
		items = append(items, id)
		push(t, f.s, f.account, 0, newRevs(id, 0, 5)) // 5 items × 5 revisions
	}
	var all []Revision
	since := uint64(0)
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		revs, head, _ := changes(t, f.s, f.account, since, 7)
		if head != 25 {
			t.Fatalf("head %d, want 25", head)
		}
		if len(revs) > 7 {
			t.Fatalf("page of %d revisions, limit 7", len(revs))
		}
		if len(revs) == 0 {
			break
		}
		all = append(all, revs...)
		since = revs[len(revs)-1].Seq
	}
	if len(all) != 25 {
		t.Fatalf("%d revisions over all pages, want 25", len(all))
	}
	for i, r := range all {
		want := items[i/5]
		if r.Seq != uint64(i+1) || r.ItemID != want || r.Rev != uint64(i%5+1) || !bytes.Equal(r.Box, box(want, r.Rev)) {
			t.Errorf("revision %d: seq %d item %x rev %d", i, r.Seq, r.ItemID[:4], r.Rev)
		}
	}
	if revs, head, _ := changes(t, f.s, f.account, 25, 10); len(revs) != 0 || head != 25 {
		t.Errorf("changes since the head: %d revisions, head %d", len(revs), head)
	}
	if revs, _, _ := changes(t, f.s, f.account, 20, 0); len(revs) != 5 {
		t.Errorf("limit 0 (none): %d revisions, want 5", len(revs))
	}
	if _, _, _, err := f.s.Changes(ctx, newID(t), 0, 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("changes of unknown account: %v", err)
	}
	// Accounts do not see each other's revisions.
	other, _ := createAccount(t, f.s)
	if revs, head, _ := changes(t, f.s, other, 0, 0); len(revs) != 0 || head != 0 {
		t.Errorf("a new account sees %d revisions, head %d", len(revs), head)
	}
}

// envelopeAt returns bytes shaped like an account key envelope of the
// current version at password epoch epoch (SPEC §6): enough for the
// store, which reads only the epoch.
func envelopeAt(epoch uint32, fill byte) []byte {
	b := bytes.Repeat([]byte{fill}, 175)
	copy(b, "KHEK\x02")
	binary.BigEndian.PutUint32(b[25:], epoch)
	return b
}

// The store itself writes an envelope only if its password epoch rises
// above the one the account holds at the moment of the write, so two
// changes that both passed the server's earlier check cannot take the
// account's envelope back.
func testEpochRises(t *testing.T, newDB func(testing.TB) opener) {
	f := newFixture(t, newDB)
	if err := f.s.SetPassword(ctx, f.account, 1, envelopeAt(3, 'a'), []byte("rec3"), f.device); err != nil {
		t.Fatal(err)
	}
	for _, env := range [][]byte{envelopeAt(3, 'b'), envelopeAt(2, 'c'), []byte("not an envelope")} {
		if err := f.s.SetPassword(ctx, f.account, 1, env, []byte("rec-old"), f.device); !errors.Is(err, ErrOldEpoch) {
			t.Errorf("SetPassword of %.12q over epoch 3: %v, want ErrOldEpoch", env, err)
		}
	}
	k2 := &Keys{Envelope: envelopeAt(3, 'd'), KeyCheck: []byte("kc2"), KeyVersion: 2, Record: []byte("rec2"), Transition: []byte("tr")}
	if _, err := f.s.Rotate(ctx, f.account, 0, k2, nil, nil, f.device); !errors.Is(err, ErrOldEpoch) {
		t.Errorf("Rotate at the same epoch: %v, want ErrOldEpoch", err)
	}
	if k, _ := f.s.Keys(ctx, f.account); !bytes.Equal(k.Envelope, envelopeAt(3, 'a')) || string(k.Record) != "rec3" || k.KeyVersion != 1 {
		t.Fatalf("a refused change changed the keys: %+v", k)
	}
	k2.Envelope = envelopeAt(4, 'd')
	if _, err := f.s.Rotate(ctx, f.account, 0, k2, nil, nil, f.device); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetPassword(ctx, f.account, 2, envelopeAt(5, 'e'), []byte("rec5"), f.device); err != nil {
		t.Fatal(err)
	}
}

func testRotate(t *testing.T, newDB func(testing.TB) opener) {
	f := newFixture(t, newDB)
	a, b := newID(t), newID(t)
	push(t, f.s, f.account, 0, newRevs(a, 0, 2), newRevs(b, 0, 1))
	k2 := &Keys{Envelope: []byte("env2"), KeyCheck: []byte("kc2"), KeyVersion: 2, Record: []byte("rec2"), Transition: []byte("tr")}
	// Re-encrypted: every revision again, with other boxes.
	items := []PushItem{newRevs(a, 0, 2), newRevs(b, 0, 1)}
	for i := range items {
		for j := range items[i].Revs {
			items[i].Revs[j].Box = []byte("new-" + string(items[i].Revs[j].Box))
		}
	}

	if _, err := f.s.Rotate(ctx, f.account, 2, k2, items, []byte("m"), f.device); !errors.Is(err, ErrStale) {
		t.Fatalf("Rotate with a stale cursor: %v, want ErrStale", err)
	}
	k3 := *k2
	k3.KeyVersion = 3
	if _, err := f.s.Rotate(ctx, f.account, 3, &k3, items, []byte("m"), f.device); !errors.Is(err, ErrStale) {
		t.Fatalf("Rotate skipping a key version: %v, want ErrStale", err)
	}
	if k, _ := f.s.Keys(ctx, f.account); k.KeyVersion != 1 {
		t.Fatal("a refused rotation changed the keys")
	}
	if revs, _, _ := changes(t, f.s, f.account, 0, 0); len(revs) != 3 || string(revs[0].Box) != string(box(a, 1)) {
		t.Fatal("a refused rotation changed the revisions")
	}
	gap := []PushItem{{ItemID: a, Revs: []Revision{{Rev: 2}}}}
	if _, err := f.s.Rotate(ctx, f.account, 3, k2, gap, nil, f.device); err == nil || errors.Is(err, ErrStale) {
		t.Errorf("Rotate with revisions not from 1: %v, want a refusal", err)
	}

	head, err := f.s.Rotate(ctx, f.account, 3, k2, items, []byte("m"), f.device)
	if err != nil {
		t.Fatal(err)
	}
	if head != 6 {
		t.Errorf("head after rotation %d, want 6 (past every old seq)", head)
	}
	revs, h, m := changes(t, f.s, f.account, 0, 0)
	if h != 6 || len(revs) != 3 {
		t.Fatalf("after rotation: head %d, %d revisions, want 6 and 3", h, len(revs))
	}
	for i, r := range revs {
		if r.Seq != uint64(4+i) || !strings.HasPrefix(string(r.Box), "new-") {
			t.Errorf("revision %d after rotation: seq %d box %q", i, r.Seq, r.Box)
		}
	}
	if m == nil || string(m.Blob) != "m" || m.Seq != 6 {
		t.Errorf("manifest after rotation: %+v", m)
	}
	k, _ := f.s.Keys(ctx, f.account)
	if k.KeyVersion != 2 || string(k.Envelope) != "env2" || string(k.KeyCheck) != "kc2" || string(k.Record) != "rec2" || string(k.Transition) != "tr" {
		t.Errorf("keys after rotation: %+v", k)
	}
	if acc, _ := f.s.Account(ctx, f.account); acc.KeyVersion != 2 || acc.Head != 6 {
		t.Errorf("account after rotation: %+v", acc)
	}
	evs, _ := f.s.Events(ctx, f.account, 1)
	if len(evs) != 1 || evs[0].Kind != api.EventKeyRotated || evs[0].DeviceID != f.device {
		t.Errorf("newest event after rotation: %+v", evs)
	}
	// Pushing continues from the rotated revisions.
	res := push(t, f.s, f.account, 6, newRevs(a, 2, 1))
	if len(res.Accepted) != 1 || res.Head != 7 {
		t.Errorf("push after rotation: %+v", res)
	}
	// A second rotation from the same cursor and key version is stale.
	if _, err := f.s.Rotate(ctx, f.account, 6, k2, nil, nil, f.device); !errors.Is(err, ErrStale) {
		t.Errorf("repeated rotation: %v, want ErrStale", err)
	}
	if _, err := f.s.Rotate(ctx, newID(t), 0, k2, nil, nil, f.device); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rotate of unknown account: %v", err)
	}
}

func testDevices(t *testing.T, newDB func(testing.TB) opener) {
	f := newFixture(t, newDB)
	d2 := &Device{ID: newID(t), AccountID: f.account, Name: "desk", Platform: "windows", Added: now()}
	added, err := f.s.PutDevice(ctx, d2, 3)
	if err != nil || !added {
		t.Fatalf("PutDevice of a new device: %v, %v", added, err)
	}
	seen := now().Add(time.Minute)
	d2b := &Device{ID: d2.ID, AccountID: f.account, Name: "desk2", Platform: "win11", LastSeen: seen}
	added, err = f.s.PutDevice(ctx, d2b, 2)
	if err != nil || added {
		t.Fatalf("PutDevice of a known device: %v, %v (an update is not a new device, even at the limit)", added, err)
	}
	devs, _ := f.s.Devices(ctx, f.account)
	if len(devs) != 2 || devs[1].Name != "desk2" || devs[1].Platform != "win11" || !devs[1].LastSeen.Equal(seen) || !devs[1].Added.Equal(d2.Added) {
		t.Fatalf("devices after update: %+v", devs)
	}
	if _, err := f.s.PutDevice(ctx, &Device{ID: newID(t), AccountID: f.account}, 2); !errors.Is(err, ErrPlanLimit) {
		t.Errorf("third device with a limit of 2: %v, want ErrPlanLimit", err)
	}
	if added, err := f.s.PutDevice(ctx, &Device{ID: newID(t), AccountID: f.account}, 0); err != nil || !added {
		t.Errorf("third device with no limit: %v, %v", added, err)
	}

	if err := f.s.RevokeDevice(ctx, f.account, d2.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.s.RevokeDevice(ctx, f.account, d2.ID); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if _, err := f.s.PutDevice(ctx, d2b, 0); !errors.Is(err, ErrRevoked) {
		t.Errorf("PutDevice of a revoked device: %v, want ErrRevoked", err)
	}
	devs, _ = f.s.Devices(ctx, f.account)
	if devs[1].Revoked.IsZero() || !devs[0].Revoked.IsZero() {
		t.Errorf("revoked times: %v, %v", devs[0].Revoked, devs[1].Revoked)
	}
	// A revoked device no longer counts against the limit (3 active → 2).
	if added, err := f.s.PutDevice(ctx, &Device{ID: newID(t), AccountID: f.account}, 3); err != nil || !added {
		t.Errorf("new device after a revocation: %v, %v", added, err)
	}
	if err := f.s.RevokeDevice(ctx, f.account, newID(t)); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke unknown device: %v", err)
	}
	if _, err := f.s.PutDevice(ctx, &Device{ID: newID(t), AccountID: newID(t)}, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("device of an unknown account: %v", err)
	}

	later, earlier := now().Add(time.Hour), now().Add(-time.Hour)
	if err := f.s.TouchDevice(ctx, f.account, f.device, later); err != nil {
		t.Fatal(err)
	}
	if err := f.s.TouchDevice(ctx, f.account, f.device, earlier); err != nil {
		t.Fatal(err)
	}
	devs, _ = f.s.Devices(ctx, f.account)
	if !devs[0].LastSeen.Equal(later) {
		t.Errorf("LastSeen %v, want %v (never backwards)", devs[0].LastSeen, later)
	}
	if err := f.s.TouchDevice(ctx, f.account, newID(t), later); !errors.Is(err, ErrNotFound) {
		t.Errorf("touch unknown device: %v", err)
	}
}

func testSessions(t *testing.T, newDB func(testing.TB) opener) {
	f := newFixture(t, newDB)
	t0 := now()
	s1 := &Session{TokenHash: [32]byte{1}, AccountID: f.account, DeviceID: f.device, Created: t0, Expires: t0.Add(time.Hour)}
	if err := f.s.CreateSession(ctx, s1); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.Session(ctx, s1.TokenHash, t0)
	if err != nil || got.AccountID != f.account || got.DeviceID != f.device || !got.Expires.Equal(s1.Expires) || !got.Created.Equal(t0) {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	if _, err := f.s.Session(ctx, s1.TokenHash, t0.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Errorf("session at its expiry: %v, want ErrNotFound", err)
	}
	if _, err := f.s.Session(ctx, [32]byte{9}, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown session: %v", err)
	}
	if err := f.s.CreateSession(ctx, s1); !errors.Is(err, ErrExists) {
		t.Errorf("same token twice: %v, want ErrExists", err)
	}
	if err := f.s.CreateSession(ctx, &Session{TokenHash: [32]byte{7}, AccountID: f.account, DeviceID: newID(t), Expires: t0.Add(time.Hour)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("session of an unknown device: %v, want ErrNotFound", err)
	}

	if err := f.s.DeleteSession(ctx, s1.TokenHash); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Session(ctx, s1.TokenHash, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted session: %v", err)
	}

	// Revoking a device ends its sessions and only its sessions.
	d2 := &Device{ID: newID(t), AccountID: f.account}
	if _, err := f.s.PutDevice(ctx, d2, 0); err != nil {
		t.Fatal(err)
	}
	mine := &Session{TokenHash: [32]byte{2}, AccountID: f.account, DeviceID: d2.ID, Expires: t0.Add(time.Hour)}
	theirs := &Session{TokenHash: [32]byte{3}, AccountID: f.account, DeviceID: f.device, Expires: t0.Add(time.Hour)}
	for _, s := range []*Session{mine, theirs} {
		if err := f.s.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.s.RevokeDevice(ctx, f.account, d2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Session(ctx, mine.TokenHash, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("session of a revoked device: %v, want ErrNotFound", err)
	}
	if _, err := f.s.Session(ctx, theirs.TokenHash, t0); err != nil {
		t.Errorf("session of another device after a revocation: %v", err)
	}
	if err := f.s.CreateSession(ctx, &Session{TokenHash: [32]byte{4}, AccountID: f.account, DeviceID: d2.ID, Expires: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Session(ctx, [32]byte{4}, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("a new session of a revoked device is usable: %v", err)
	}
}

func testLoginState(t *testing.T, newDB func(testing.TB) opener) {
	open := newDB(t)
	a, b := openT(t, open), openT(t, open)
	t0 := now()
	l := &LoginState{ID: newID(t), AccountID: newID(t), Known: true,
		Device: Device{ID: newID(t), Name: "n", Platform: "p"}, State: []byte("pake-state"), Expires: t0.Add(time.Minute)}
	if err := a.PutLoginState(ctx, l); err != nil {
		t.Fatal(err)
	}
	// Taken on another replica, once.
	got, err := b.TakeLoginState(ctx, l.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccountID != l.AccountID || !got.Known || got.Device.ID != l.Device.ID || got.Device.Name != "n" ||
		got.Device.Platform != "p" || string(got.State) != "pake-state" || !got.Expires.Equal(l.Expires) {
		t.Errorf("TakeLoginState = %+v", got)
	}
	if _, err := a.TakeLoginState(ctx, l.ID, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("second take: %v, want ErrNotFound", err)
	}
	if _, err := a.TakeLoginState(ctx, newID(t), t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown login: %v", err)
	}
	exp := &LoginState{ID: newID(t), AccountID: newID(t), State: []byte("s"), Expires: t0.Add(time.Second)}
	if err := a.PutLoginState(ctx, exp); err != nil {
		t.Fatal(err)
	}
	if _, err := a.TakeLoginState(ctx, exp.ID, t0.Add(time.Second)); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired login: %v, want ErrNotFound", err)
	}

	// Two replicas race to finish one login: exactly one wins.
	for range 5 {
		race := &LoginState{ID: newID(t), AccountID: newID(t), State: []byte("s"), Expires: t0.Add(time.Minute)}
		if err := a.PutLoginState(ctx, race); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wins := make([]bool, 6)
		for i := range wins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := a
				if i%2 == 1 {
					s = b
				}
				_, err := s.TakeLoginState(ctx, race.ID, t0)
				if err != nil && !errors.Is(err, ErrNotFound) {
					t.Error(err)
				}
				wins[i] = err == nil
			}()
		}
		wg.Wait()
		n := 0
		for _, w := range wins {
			if w {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d of 6 concurrent takes got the login, want 1", n)
		}
	}
}

func testFailures(t *testing.T, newDB func(testing.TB) opener) {
	open := newDB(t)
	a, b := openT(t, open), openT(t, open)
	n, until, err := a.Failures(ctx, "ip:192.0.2.1")
	if err != nil || n != 0 || !until.IsZero() {
		t.Fatalf("Failures of a new key: %d, %v, %v", n, until, err)
	}
	t0 := now()
	for i := 1; i <= 3; i++ {
		n, err := a.RecordFailure(ctx, "ip:192.0.2.1", t0.Add(time.Duration(i)*time.Minute))
		if err != nil || n != i {
			t.Fatalf("RecordFailure %d: %d, %v", i, n, err)
		}
	}
	n, until, _ = b.Failures(ctx, "ip:192.0.2.1")
	if n != 3 || !until.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("Failures on another replica: %d until %v, want 3 until %v", n, until, t0.Add(3*time.Minute))
	}
	if n, _, _ := a.Failures(ctx, "account:x"); n != 0 {
		t.Errorf("keys are not independent: %d", n)
	}

	// Failures recorded at once on two replicas all count.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			if _, err := s.RecordFailure(ctx, "account:y", t0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, _, _ := a.Failures(ctx, "account:y"); n != 20 {
		t.Errorf("20 concurrent failures counted as %d", n)
	}

	if err := a.ClearFailures(ctx, "ip:192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if n, until, _ := a.Failures(ctx, "ip:192.0.2.1"); n != 0 || !until.IsZero() {
		t.Errorf("after ClearFailures: %d until %v", n, until)
	}
	if n, _ := a.RecordFailure(ctx, "ip:192.0.2.1", t0); n != 1 {
		t.Errorf("count after a clear starts at %d, want 1", n)
	}

	// Expiry deletes the counts whose lock-out ended before the cut-off,
	// and only those.
	if _, err := a.RecordFailure(ctx, "addr:old", t0.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RecordFailure(ctx, "addr:recent", t0.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	n64, err := b.ExpireFailures(ctx, t0.Add(-time.Hour))
	if err != nil || n64 != 1 {
		t.Fatalf("ExpireFailures: %d, %v; want 1 deleted", n64, err)
	}
	if n, _, _ := a.Failures(ctx, "addr:old"); n != 0 {
		t.Errorf("an expired count survived: %d", n)
	}
	for _, k := range []string{"addr:recent", "ip:192.0.2.1", "account:y"} {
		if n, _, _ := a.Failures(ctx, k); n == 0 {
			t.Errorf("ExpireFailures deleted the live count %s", k)
		}
	}
}

func testEvents(t *testing.T, newDB func(testing.TB) opener) {
	f := newFixture(t, newDB)
	base := now().Add(time.Hour) // after CreateAccount's events
	for i := range 5 {
		e := &Event{Time: base.Add(time.Duration(i) * time.Second), Kind: api.EventLogin, Source: "198.51.100.7", Detail: string(rune('a' + i))}
		if i == 2 {
			e.DeviceID = f.device
		}
		if err := f.s.AddEvent(ctx, f.account, e); err != nil {
			t.Fatal(err)
		}
	}
	other, _ := createAccount(t, f.s)
	f.s.AddEvent(ctx, other, &Event{Time: base.Add(time.Hour), Kind: "other"})

	evs, err := f.s.Events(ctx, f.account, 3)
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, e := range evs {
		details = append(details, e.Detail)
	}
	if !slices.Equal(details, []string{"e", "d", "c"}) {
		t.Errorf("Events(3) = %v, want the newest three, newest first", details)
	}
	if evs[2].DeviceID != f.device || evs[0].DeviceID != (ID{}) || evs[0].Source != "198.51.100.7" || !evs[0].Time.Equal(base.Add(4*time.Second)) {
		t.Errorf("event fields: %+v / %+v", evs[0], evs[2])
	}
	if all, _ := f.s.Events(ctx, f.account, 0); len(all) != 7 {
		t.Errorf("all events: %d, want 5 + 2 from CreateAccount", len(all))
	}
}

func testSyncSettings(t *testing.T, newDB func(testing.TB) opener) {
	f := newFixture(t, newDB)
	if _, err := f.s.SyncSettings(ctx, f.account); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no settings yet: %v, want ErrNotFound", err)
	}
	up := now()
	s1 := &SyncSettings{Method: "folder", Settings: map[string]string{"path": "/mnt/sync"}, Secret: []byte("sealed"), Updated: up}
	if err := f.s.PutSyncSettings(ctx, f.account, s1); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.SyncSettings(ctx, f.account)
	if err != nil || got.Method != "folder" || got.Settings["path"] != "/mnt/sync" || string(got.Secret) != "sealed" || !got.Updated.Equal(up) {
		t.Fatalf("SyncSettings = %+v, %v", got, err)
	}
	if err := f.s.PutSyncSettings(ctx, f.account, &SyncSettings{Method: "server"}); err != nil {
		t.Fatal(err)
	}
	got, _ = f.s.SyncSettings(ctx, f.account)
	if got.Method != "server" || len(got.Settings) != 0 || got.Secret != nil {
		t.Errorf("settings not replaced: %+v", got)
	}
	if err := f.s.PutSyncSettings(ctx, newID(t), s1); !errors.Is(err, ErrNotFound) {
		t.Errorf("settings of an unknown account: %v", err)
	}
}

func testBackup(t *testing.T, newDB func(testing.TB) opener) {
	f := newFixture(t, newDB)
	item := newID(t)
	push(t, f.s, f.account, 0, newRevs(item, 0, 3))
	dir := t.TempDir()
	path := filepath.Join(dir, "backup")
	if err := f.s.Backup(ctx, path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, %v; want mode 0600", fi, err)
	}
	before, _ := os.ReadFile(path)
	if err := f.s.Backup(ctx, path); err == nil {
		t.Error("Backup over an existing file succeeded")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a refused Backup changed the existing file")
	}

	var restored Store
	switch f.s.Dialect() {
	case "sqlite":
		s, err := OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		restored = s
	case "postgres":
		dump := string(before)
		for _, table := range []string{"accounts", "revisions", "sessions", "devices", "events", "schema_migrations"} {
			if !strings.Contains(dump, "CREATE TABLE public."+table+" ") {
				t.Errorf("the dump has no definition of table %s", table)
			}
		}
		psql := filepath.Join(pgtest.BinDir, "psql")
		if _, err := os.Stat(psql); err != nil {
			t.Skip("psql not found: restore not checked")
		}
		url := pgtest.New(t)
		out, err := exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", path).CombinedOutput()
		if err != nil {
			t.Fatalf("restore the dump with psql: %v\n%s", err, out)
		}
		s, err := OpenPostgres(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		restored = s
	}
	revs, head, _ := changes(t, restored, f.account, 0, 0)
	if head != 3 || len(revs) != 3 || !bytes.Equal(revs[2].Box, box(item, 3)) {
		t.Errorf("the restored backup has head %d and %d revisions, want 3 and 3", head, len(revs))
	}
	if k, err := restored.Keys(ctx, f.account); err != nil || string(k.Envelope) != "env1" {
		t.Errorf("the restored backup has keys %+v, %v", k, err)
	}
}

// recv waits for a head on ch.
func recv(t *testing.T, ch <-chan uint64) (uint64, bool) {
	t.Helper()
	select {
	case h, ok := <-ch:
		return h, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no head within 10 s")
		return 0, false
	}
}

func testSubscribe(t *testing.T, newDB func(testing.TB) opener) {
	open := newDB(t)
	a := openT(t, open)
	b := openT(t, open) // another replica
	acct, dev := createAccount(t, a)
	other, _ := createAccount(t, a)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := a.Subscribe(sctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	push(t, b, other, 0, newRevs(newID(t), 0, 1)) // not ours
	push(t, b, acct, 0, newRevs(newID(t), 0, 2))
	if h, _ := recv(t, ch); h != 2 {
		t.Fatalf("head %d from a push on another replica, want 2", h)
	}

	// A slow reader gets the latest head, and never an older one later.
	for range 5 {
		push(t, b, acct, 0, newRevs(newID(t), 0, 1))
	}
	for h := uint64(0); h != 7; {
		nh, _ := recv(t, ch)
		if nh < h {
			t.Fatalf("head went back from %d to %d", h, nh)
		}
		h = nh
	}

	// Rotation notifies too.
	k2 := &Keys{Envelope: []byte("e"), KeyCheck: []byte("k"), KeyVersion: 2, Record: []byte("r")}
	if _, err := b.Rotate(ctx, acct, 7, k2, []PushItem{newRevs(newID(t), 0, 1)}, nil, dev); err != nil {
		t.Fatal(err)
	}
	if h, _ := recv(t, ch); h != 8 {
		t.Errorf("head %d after a rotation, want 8", h)
	}

	cancel()
	for {
		if _, ok := recv(t, ch); !ok {
			break
		}
	}

	// Closing the store ends its subscriptions.
	c := openT(t, open)
	ch2, err := c.Subscribe(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	for {
		if _, ok := recv(t, ch2); !ok {
			break
		}
	}
}

func testConcurrentPushes(t *testing.T, newDB func(testing.TB) opener) {
	open := newDB(t)
	replicas := []Store{openT(t, open), openT(t, open)}
	acct, _ := createAccount(t, replicas[0])
	const workers, pushes, revsPer = 6, 10, 2
	var (
		mu   sync.Mutex
		seqs []uint64
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := replicas[w%len(replicas)]
			for range pushes {
				res, err := s.Push(ctx, acct, 0, []PushItem{newRevs(randomID(), 0, revsPer)}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, a := range res.Accepted {
					seqs = append(seqs, a.Seq-1, a.Seq) // the item's two revisions
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	const total = workers * pushes * revsPer
	slices.Sort(seqs)
	if len(seqs) != total || len(slices.Compact(slices.Clone(seqs))) != total {
		t.Fatalf("%d seqs handed out, %d distinct, want %d", len(seqs), len(slices.Compact(slices.Clone(seqs))), total)
	}
	revs, head, _ := changes(t, replicas[1], acct, 0, 0)
	if head != total || len(revs) != total {
		t.Fatalf("head %d, %d revisions, want %d", head, len(revs), total)
	}
	for i, r := range revs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("revision %d has seq %d: seqs have gaps or repeats", i, r.Seq)
		}
	}

	// Concurrent pushes of one item from one base: exactly one wins.
	item := newID(t)
	wins := make([]bool, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := replicas[w%len(replicas)].Push(ctx, acct, 0, []PushItem{newRevs(item, 0, 1)}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			wins[w] = len(res.Accepted) == 1
		}()
	}
	wg.Wait()
	n := 0
	for _, w := range wins {
		if w {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d of %d concurrent pushes on one base revision won, want 1", n, workers)
	}
}

func testConcurrentOpen(t *testing.T, newDB func(testing.TB) opener) {
	open := newDB(t)
	// Replicas starting together migrate the schema once between them.
	var wg sync.WaitGroup
	stores := make([]Store, 4)
	errs := make([]error, 4)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = open()
		}()
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Ping(ctx); err != nil {
			t.Error(err)
		}
	}
	createAccount(t, stores[0])
	if l, _ := stores[3].ListAccounts(ctx); len(l) != 1 {
		t.Errorf("replicas do not share one database")
	}
}
