package folder

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
)

var (
	testAcct = keys.AccountID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	testAK   = &keys.AccountKey{42, 1, 2, 3}
	devA     = DeviceID{0xa}
	devB     = DeviceID{0xb}
	t0       = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
)

func ring() Ring { k := *testAK; return Ring{1: &k} }

func login(title, user, pw string, at time.Time) *item.Item {
	it := item.New(item.Login, title, at)
	it.Set("username", user, item.Text)
	it.Set("password", pw, item.Hidden)
	return it
}

func edited(it *item.Item, at time.Time, f func(*item.Item)) *item.Item {
	c := it.Clone()
	f(c)
	c.Modified = at
	return c
}

func hdr(dev DeviceID, seq, lamport uint64) Header {
	return Header{AccountID: testAcct, KeyVersion: 1, Device: dev, Seq: seq, Lamport: lamport}
}

func TestFileNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind Kind
		seq  uint64
		ok   bool
	}{
		{"log-0000000000000001.khfl", KindLog, 1, true},
		{"snap-00000000000000ff.khfs", KindSnapshot, 255, true},
		{"keys-0000000000000002.khfk", KindKeys, 2, true},
		{"log-0000000000000000.khfl", "", 0, false},                          // numbers start at 1
		{"log-0000000000000001 (conflicted copy).khfl", "", 0, false},        // Dropbox
		{"log-0000000000000001 (1).khfl", "", 0, false},                      // a duplicate
		{"log-0000000000000001.sync-conflict-20261125-1.khfl", "", 0, false}, // Syncthing
		{".tmp-log-0000000000000001.khfl-00ff", "", 0, false},                // being written
		{".syncthing.log-0000000000000001.khfl.tmp", "", 0, false},           // being copied
		{"log-0000000000000001.khfs", "", 0, false},                          // kind and extension disagree
		{"log-000000000000000A.khfl", "", 0, false},                          // upper case
		{"log-1.khfl", "", 0, false},
	} {
		k, seq, ok := ParseFileName(tc.name)
		if ok != tc.ok || k != tc.kind || seq != tc.seq {
			t.Errorf("%q: got %q %d %v, want %q %d %v", tc.name, k, seq, ok, tc.kind, tc.seq, tc.ok)
		}
		if tc.ok && FileName(k, seq) != tc.name {
			t.Errorf("FileName(%q, %d) = %q", k, seq, FileName(k, seq))
		}
	}
}

func TestLogRoundTripAndRefusals(t *testing.T) {
	base := login("Site", "alice", "one", t0)
	next := edited(base, t0.Add(time.Minute), func(it *item.Item) { it.Set("password", "two", item.Hidden) })
	b, err := SealLog(testAK, hdr(devA, 3, 9), []Entry{{ID: [16]byte{7}, Base: base, New: next, Hist: []*item.Item{base}}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := OpenLog(b, ring(), testAcct, devA, 3)
	if err != nil {
		t.Fatal(err)
	}
	if l.Lamport != 9 || len(l.Entries) != 1 || !Same(l.Entries[0].New, next) || !Same(l.Entries[0].Base, base) || len(l.Entries[0].Hist) != 1 {
		t.Fatalf("round trip: %+v", l)
	}
	for _, s := range []string{"Site", "alice", "one", "two"} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("the log file shows %q", s)
		}
	}
	// Every byte matters; a file in another slot, of another account,
	// cut short, or without its key is refused.
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 1
		if _, err := OpenLog(c, ring(), testAcct, devA, 3); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
	for name, f := range map[string]func() error{
		"other device":  func() error { _, err := OpenLog(b, ring(), testAcct, devB, 3); return err },
		"other number":  func() error { _, err := OpenLog(b, ring(), testAcct, devA, 4); return err },
		"other account": func() error { _, err := OpenLog(b, ring(), keys.AccountID{9}, devA, 3); return err },
		"half copied":   func() error { _, err := OpenLog(b[:len(b)/2], ring(), testAcct, devA, 3); return err },
		"no key":        func() error { _, err := OpenLog(b, Ring{}, testAcct, devA, 3); return err },
		"wrong key":     func() error { _, err := OpenLog(b, Ring{1: &keys.AccountKey{1}}, testAcct, devA, 3); return err },
	} {
		if f() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	it := login("Site", "alice", "one", t0)
	old := login("Site", "alice", "zero", t0.Add(-time.Hour))
	f := Frontier{devA: 4, devB: 2}
	b, err := SealSnapshot(testAK, hdr(devB, 1, 5), f, []*ItemState{{ID: [16]byte{7}, Cur: it, Hist: []*item.Item{old}}})
	if err != nil {
		t.Fatal(err)
	}
	sh, _, err := ParseSnapshotHead(b)
	if err != nil || sh.Frontier[devA] != 4 || sh.Frontier[devB] != 2 || sh.Lamport != 5 {
		t.Fatalf("head: %+v %v", sh, err)
	}
	s, err := OpenSnapshot(b, ring(), testAcct, devB, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Items) != 1 || !Same(s.Items[0].Cur, it) || !Same(s.Items[0].Hist[0], old) {
		t.Fatalf("round trip: %+v", s.Items)
	}
	// The frontier is authenticated too.
	c := bytes.Clone(b)
	c[headerSize+4+16+7] ^= 1
	if _, err := OpenSnapshot(c, ring(), testAcct, devB, 1); err == nil {
		t.Fatal("a changed frontier went unnoticed")
	}
}

func TestKeyFile(t *testing.T) {
	sk, _ := keys.NewSecretKey()
	p := keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}
	ak2 := &keys.AccountKey{99}
	env, d, err := format.NewEnvelope(ak2, testAcct, 2, 2, []byte("pw"), sk, p)
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	kc, _ := format.NewKeyCheck(ak2, testAcct, 2)
	tr, _ := format.SealTransition(testAK, testAcct, 2, sk, ak2)
	h := Header{AccountID: testAcct, KeyVersion: 2, Device: devA, Seq: 1, Lamport: 3}
	b, err := SealKeyFile(ak2, h, env, kc, tr, ring())
	if err != nil {
		t.Fatal(err)
	}
	kf, err := ParseKeyFile(b, devA, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kf.Transition, tr) || !bytes.Equal(kf.Envelope.Marshal(), env.Marshal()) {
		t.Fatal("round trip")
	}
	r, err := kf.Open(ak2)
	if err != nil {
		t.Fatal(err)
	}
	if *r[1] != *testAK || *r[2] != *ak2 {
		t.Fatal("the previous keys did not come back")
	}
	if _, err := kf.Open(testAK); err == nil {
		t.Fatal("opened with the previous key")
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 1
		if kf, err := ParseKeyFile(c, devA, 1); err == nil {
			if _, err := kf.Open(ak2); err == nil {
				t.Fatalf("flipping byte %d went unnoticed", i)
			}
		}
	}
	if _, err := ParseKeyFile(b, devB, 1); err == nil {
		t.Fatal("a key file moved to another device's directory was accepted")
	}
}

// world writes files as devices would.
type world struct {
	t    *testing.T
	path string
}

func newWorld(t *testing.T) *world {
	return &world{t: t, path: t.TempDir()}
}

func (w *world) log(dev DeviceID, seq, lamport uint64, es ...Entry) string {
	b, err := SealLog(testAK, hdr(dev, seq, lamport), es)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := Write(Root(w.path), dev, FileName(KindLog, seq), b); err != nil {
		w.t.Fatal(err)
	}
	return filepath.Join(Root(w.path), DeviceDir(dev), FileName(KindLog, seq))
}

func (w *world) replay() *Result {
	sc, err := ScanFolder(w.path)
	if err != nil {
		w.t.Fatal(err)
	}
	res, err := (&Replayer{Account: testAcct, Ring: ring()}).Replay(sc)
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

func TestReplayMergesAndKeepsEveryValue(t *testing.T) {
	w := newWorld(t)
	id := [16]byte{7}
	base := login("Site", "alice", "one", t0)
	w.log(devA, 1, 1, Entry{ID: id, New: base})
	// Both devices edit the same item from the same base: different
	// fields, and the same field to different values.
	a := edited(base, t0.Add(2*time.Minute), func(it *item.Item) {
		it.Set("username", "alice2", item.Text)
		it.Set("password", "from-a", item.Hidden)
	})
	b := edited(base, t0.Add(time.Minute), func(it *item.Item) {
		it.Notes = "from b"
		it.Set("password", "from-b", item.Hidden)
	})
	w.log(devA, 2, 2, Entry{ID: id, Base: base, New: a})
	w.log(devB, 1, 2, Entry{ID: id, Base: base, New: b})
	res := w.replay()
	if !res.Complete || res.Applied != 3 {
		t.Fatalf("complete %v, applied %d", res.Complete, res.Applied)
	}
	st := res.Items[id]
	if u, _ := st.Cur.Get("username"); u != "alice2" {
		t.Errorf("username %q", u)
	}
	if st.Cur.Notes != "from b" {
		t.Errorf("notes %q", st.Cur.Notes)
	}
	if p, _ := st.Cur.Get("password"); p != "from-a" {
		t.Errorf("password %q: the newer edit should win", p)
	}
	found := false
	for _, h := range st.Hist {
		if p, _ := h.Get("password"); p == "from-b" {
			found = true
		}
	}
	if !found {
		t.Error("the losing password is not in the history")
	}
	if len(res.Conflicts[id]) != 1 || res.Conflicts[id][0].Field != "field:password" {
		t.Errorf("conflicts: %+v", res.Conflicts[id])
	}
}

func TestReplayWaitsForAGapAndIgnoresStrays(t *testing.T) {
	w := newWorld(t)
	id := [16]byte{7}
	it := login("Site", "alice", "one", t0)
	w.log(devA, 1, 1, Entry{ID: id, New: it})
	p2 := w.log(devA, 2, 2, Entry{ID: id, Base: it, New: edited(it, t0.Add(time.Minute), func(it *item.Item) { it.Notes = "2" })})
	w.log(devA, 3, 3, Entry{ID: id, Base: it, New: edited(it, t0.Add(2*time.Minute), func(it *item.Item) { it.Title = "3" })})
	full := w.replay()
	// Strays: a conflicted copy, a temporary file, a file of an unknown
	// name. None changes anything.
	b, _ := os.ReadFile(p2)
	dir := filepath.Dir(p2)
	os.WriteFile(filepath.Join(dir, "log-0000000000000002 (conflicted copy).khfl"), b[:10], 0o600)
	os.WriteFile(filepath.Join(dir, ".tmp-log-0000000000000004.khfl-01"), b, 0o600)
	os.WriteFile(filepath.Join(Root(w.path), "desktop.ini"), []byte("x"), 0o600)
	again := w.replay()
	if !again.Complete || !Same(again.Items[id].Cur, full.Items[id].Cur) {
		t.Fatal("stray files changed the replay")
	}
	// Log 2 half copied: the replay stops before it and says so.
	os.WriteFile(p2, b[:len(b)-5], 0o600)
	res := w.replay()
	if res.Complete || res.Applied != 1 || len(res.Skipped) != 1 {
		t.Fatalf("a half-copied log: complete %v, applied %d, skipped %v", res.Complete, res.Applied, res.Skipped)
	}
	// Log 2 missing: a gap.
	os.Remove(p2)
	if res := w.replay(); res.Complete {
		t.Fatal("a gap went unnoticed")
	}
	os.WriteFile(p2, b, 0o600)
	if res := w.replay(); !res.Complete || !Same(res.Items[id].Cur, full.Items[id].Cur) {
		t.Fatal("the replay did not recover once the file arrived")
	}
}

func TestReplayStartsFromTheBestSnapshotAndCompactionWaits(t *testing.T) {
	w := newWorld(t)
	id := [16]byte{7}
	it := login("Site", "alice", "one", t0)
	w.log(devA, 1, 1, Entry{ID: id, New: it})
	it2 := edited(it, t0.Add(time.Minute), func(it *item.Item) { it.Notes = "two" })
	w.log(devA, 2, 2, Entry{ID: id, Base: it, New: it2})
	res := w.replay()
	// A writes a snapshot covering its logs 1 and 2.
	snap, err := SealSnapshot(testAK, hdr(devA, 1, res.Lamport), res.Frontier, res.Sorted())
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(Root(w.path), devA, FileName(KindSnapshot, 1), snap); err != nil {
		t.Fatal(err)
	}
	sc, _ := ScanFolder(w.path)
	if got := sc.Compactable(devA, ring(), testAcct); len(got) != 1 || got[0] != 1 {
		t.Fatalf("with only A's snapshot, logs %v may go, want 1 (the highest, 2, always stays)", got)
	}
	// B appears with a snapshot covering only A's log 1: A's log 2 must
	// stay.
	bsnap, _ := SealSnapshot(testAK, hdr(devB, 1, 1), Frontier{devA: 1}, []*ItemState{{ID: id, Cur: it}})
	Write(Root(w.path), devB, FileName(KindSnapshot, 1), bsnap)
	sc, _ = ScanFolder(w.path)
	if got := sc.Compactable(devA, ring(), testAcct); len(got) != 1 || got[0] != 1 {
		t.Fatalf("logs %v may go, want only 1", got)
	}
	for _, s := range sc.Compactable(devA, ring(), testAcct) {
		os.Remove(sc.Device(devA).Logs[s])
	}
	res = w.replay()
	if !res.Complete || res.Base == nil || res.Base.Device != devA || !Same(res.Items[id].Cur, it2) {
		t.Fatalf("replay after compaction: complete %v base %+v", res.Complete, res.Base)
	}
	// A's snapshot half-copied: B's (which needs A's log 2, still
	// there) is used instead, with the same result.
	os.WriteFile(sc.Device(devA).Snaps[1], snap[:len(snap)-3], 0o600)
	res = w.replay()
	if !res.Complete || res.Base == nil || res.Base.Device != devB || !Same(res.Items[id].Cur, it2) {
		t.Fatalf("fallback: complete %v base %+v", res.Complete, res.Base)
	}
}

func TestWriteNeverOverwrites(t *testing.T) {
	root := Root(t.TempDir())
	if err := Write(root, devA, FileName(KindLog, 1), []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := Write(root, devA, FileName(KindLog, 1), []byte("two")); err == nil {
		t.Fatal("overwrote a file")
	}
	b, _ := os.ReadFile(filepath.Join(root, DeviceDir(devA), FileName(KindLog, 1)))
	if string(b) != "one" {
		t.Fatalf("content %q", b)
	}
	des, _ := os.ReadDir(filepath.Join(root, DeviceDir(devA)))
	if len(des) != 1 {
		t.Fatalf("left %d files", len(des))
	}
}

// BenchmarkReplay10k replays a snapshot of 10,000 items (each with two
// past values) and 1,000 logged changes on top.
func BenchmarkReplay10k(b *testing.B) {
	path := b.TempDir()
	var items []*ItemState
	for i := range 10000 {
		id := [16]byte{byte(i >> 8), byte(i), 1}
		it := login(fmt.Sprintf("Site %d", i), "user", fmt.Sprintf("pw-%d", i), t0)
		items = append(items, &ItemState{ID: id, Cur: it, Hist: []*item.Item{
			edited(it, t0.Add(-time.Hour), func(it *item.Item) { it.Notes = "old" }),
			edited(it, t0.Add(-2*time.Hour), func(it *item.Item) { it.Notes = "older" }),
		}})
	}
	snap, err := SealSnapshot(testAK, hdr(devA, 1, 1), Frontier{}, items)
	if err != nil {
		b.Fatal(err)
	}
	Write(Root(path), devA, FileName(KindSnapshot, 1), snap)
	for f := range 10 {
		var es []Entry
		for i := range 100 {
			st := items[f*100+i]
			es = append(es, Entry{ID: st.ID, Base: st.Cur, New: edited(st.Cur, t0.Add(time.Minute), func(it *item.Item) { it.Notes = "new" })})
		}
		bb, _ := SealLog(testAK, hdr(devB, uint64(f+1), 2), es)
		Write(Root(path), devB, FileName(KindLog, uint64(f+1)), bb)
	}
	b.ResetTimer()
	for b.Loop() {
		sc, _ := ScanFolder(path)
		res, err := (&Replayer{Account: testAcct, Ring: ring()}).Replay(sc)
		if err != nil || !res.Complete || len(res.Items) != 10000 || res.Applied != 1000 {
			b.Fatalf("%v %v", err, res)
		}
	}
	b.ReportMetric(float64(len(snap))/(1<<20), "snapshot-MiB")
}

// An entry merges against the newest of its own revisions (its new
// content, then its intermediate revisions) that the replayed item holds
// already, as an entry written again after lost logs does: A renamed the
// item in one log, then trashed it, and wrote both changes again in one
// entry from the rename's base. Merged against that base, A's own rename
// would look like an edit racing the trash and restore the item
// (MERGE.md rule 6c). The same entry written a second time changes
// nothing: in particular it does not trash again an item restored since.
func TestReplayMergesAgainstRevisionsItHolds(t *testing.T) {
	w := newWorld(t)
	id := [16]byte{8}
	base := login("Site", "alice", "one", t0)
	renamed := edited(base, t0.Add(time.Minute), func(it *item.Item) { it.Title = "Site renamed" })
	trashed := edited(renamed, t0.Add(2*time.Minute), func(it *item.Item) {
		tr := t0.Add(2 * time.Minute)
		it.Trashed = &tr
	})
	again := Entry{ID: id, Base: base, Hist: []*item.Item{renamed}, New: trashed}
	w.log(devA, 1, 1, Entry{ID: id, New: base})
	w.log(devA, 2, 2, Entry{ID: id, Base: base, New: renamed})
	w.log(devA, 3, 3, again)
	res := w.replay()
	if !res.Complete {
		t.Fatal("not complete")
	}
	if st := res.Items[id]; !Same(st.Cur, trashed) {
		t.Fatalf("the trash written again was merged as racing A's own rename: %+v", st.Cur)
	}
	if cs := res.Conflicts[id]; len(cs) > 0 {
		t.Errorf("conflicts: %+v", cs)
	}
	// B restores the item after seeing the trash; then A's entry arrives
	// once more, and changes nothing.
	restored := edited(trashed, t0.Add(3*time.Minute), func(it *item.Item) { it.Trashed, it.Notes = nil, "from b" })
	w.log(devB, 1, 4, Entry{ID: id, Base: trashed, New: restored})
	before := w.replay().Items[id].Cur
	if before.Trashed != nil || before.Notes != "from b" {
		t.Fatalf("B's restore was not applied: %+v", before)
	}
	w.log(devA, 4, 5, again)
	res = w.replay()
	if st := res.Items[id]; !res.Complete || !Same(st.Cur, before) || len(res.Conflicts[id]) > 0 {
		t.Fatalf("an entry the item already holds changed it: %+v, conflicts %+v", st.Cur, res.Conflicts[id])
	}
}
