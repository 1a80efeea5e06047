package folder

import (
	"github.com/keyhold/keyhold/internal/keys"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
)

// A stale snapshot is not taken as complete when the device whose logs it
// misses has compacted them: that device's newer snapshot names its
// high-water mark.
func TestStaleSnapshotNotComplete(t *testing.T) {
	path := t.TempDir()
	root := Root(path)
	id := [16]byte{9}
	v0 := login("X", "u", "v0", t0)
	vA := edited(v0, t0.Add(time.Minute), func(it *item.Item) { it.Set("password", "edited-by-A", item.Hidden) })
	vD1 := edited(v0, t0.Add(2*time.Minute), func(it *item.Item) { it.Set("username", "d1", item.Text) })
	vD2 := edited(vD1, t0.Add(3*time.Minute), func(it *item.Item) { it.Set("username", "d2", item.Text) })
	w := func(dev DeviceID, name string, b []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(root, dev, name, b); err != nil {
			t.Fatal(err)
		}
	}
	// D's logs 1, 2 (still present: A's snapshot does not cover them).
	b, err := SealLog(testAK, hdr(devB, 1, 2), []Entry{{ID: id, Base: v0, New: vD1}})
	w(devB, FileName(KindLog, 1), b, err)
	b, err = SealLog(testAK, hdr(devB, 2, 3), []Entry{{ID: id, Base: vD1, New: vD2}})
	w(devB, FileName(KindLog, 2), b, err)
	// D's old snapshot: D:2, A:0 (its newer one, covering A:1, not arrived yet).
	b, err = SealSnapshot(testAK, hdr(devB, 1, 3), Frontier{devB: 2}, []*ItemState{{ID: id, Cur: vD2, Hist: []*item.Item{v0, vD1}}})
	w(devB, FileName(KindSnapshot, 1), b, err)
	// A's snapshot covers A's log 1 (its edit), which A then compacted.
	b, err = SealSnapshot(testAK, hdr(devA, 1, 1), Frontier{devA: 1}, []*ItemState{{ID: id, Cur: vA, Hist: []*item.Item{v0}}})
	w(devA, FileName(KindSnapshot, 1), b, err)
	sc, err := ScanFolder(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Replayer{Account: testAcct, Ring: ring()}).Replay(sc)
	if err != nil {
		t.Fatal(err)
	}
	st := res.Items[id]
	pw, _ := st.Cur.Get("password")
	seen := false
	for _, h := range append(st.Hist, st.Cur) {
		if p, _ := h.Get("password"); p == "edited-by-A" {
			seen = true
		}
	}
	t.Logf("complete=%v frontier=%v base=%x pw=%v seen=%v", res.Complete, res.Frontier, res.Base.Device[:1], pw, seen)
	if res.Complete && !seen {
		t.Errorf("complete replay lost A's edit entirely")
	}
}

// A forged snapshot head claiming to cover every log must not make a
// device delete its logs, nor be taken as a replay's base.
func TestForgedSnapshotHeadIgnored(t *testing.T) {
	path := t.TempDir()
	root := Root(path)
	id := [16]byte{3}
	v0 := login("X", "u", "v0", t0)
	b, err := SealLog(testAK, hdr(devA, 1, 1), []Entry{{ID: id, New: v0}})
	if err != nil {
		t.Fatal(err)
	}
	Write(root, devA, FileName(KindLog, 1), b)
	b2, _ := SealLog(testAK, hdr(devA, 2, 2), []Entry{{ID: id, Base: v0, New: v0}})
	Write(root, devA, FileName(KindLog, 2), b2)
	// A genuine snapshot of A covering only log 1 ...
	s1, _ := SealSnapshot(testAK, hdr(devA, 1, 1), Frontier{devA: 1}, []*ItemState{{ID: id, Cur: v0}})
	Write(root, devA, FileName(KindSnapshot, 1), s1)
	// ... and a forged one in B's directory claiming to cover everything.
	other := *testAK
	other[0] ^= 1
	forged, _ := SealSnapshot(&other, hdr(devB, 0x7fffffffffffffff, 9), Frontier{devA: 1 << 62, devB: 1 << 62}, nil)
	Write(root, devB, FileName(KindSnapshot, 0x7fffffffffffffff), forged)
	sc, err := ScanFolder(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.Compactable(devA, ring(), testAcct); len(got) != 0 {
		t.Fatalf("a forged head made logs %v deletable (B has no genuine snapshot)", got)
	}
	res, err := (&Replayer{Account: testAcct, Ring: ring()}).Replay(sc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Base == nil || res.Base.Device != devA || !res.Complete || res.Items[id] == nil {
		t.Fatalf("replay: base %+v complete %v", res.Base, res.Complete)
	}
}

// A device whose logs 2 and 3 are gone writes log 4 declaring them void:
// a replay from before them jumps to 4 and is complete; without the
// declaration the same folder is a gap; a forged "void" declaration (a
// head that does not verify) is no declaration.
func TestVoidLogsDeclared(t *testing.T) {
	id := [16]byte{5}
	v0 := login("X", "u", "v0", t0)
	v1 := edited(v0, t0.Add(time.Minute), func(it *item.Item) { it.Set("password", "again", item.Hidden) })
	for _, tc := range []struct {
		name     string
		key      *keys.AccountKey
		prev     uint64
		complete bool
	}{
		{"declared void", testAK, 1, true},
		{"no declaration", testAK, 3, false},
		{"forged declaration", forgedAK(), 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir()
			root := Root(path)
			b, _ := SealLog(testAK, hdr(devA, 1, 1), []Entry{{ID: id, New: v0}})
			Write(root, devA, FileName(KindLog, 1), b)
			b, err := SealLogAfter(tc.key, hdr(devA, 4, 5), tc.prev, []Entry{{ID: id, Base: v0, New: v1}})
			if err != nil {
				t.Fatal(err)
			}
			Write(root, devA, FileName(KindLog, 4), b)
			sc, _ := ScanFolder(path)
			res, err := (&Replayer{Account: testAcct, Ring: ring()}).Replay(sc)
			if err != nil {
				t.Fatal(err)
			}
			if res.Complete != tc.complete {
				t.Fatalf("complete %v, want %v (frontier %v)", res.Complete, tc.complete, res.Frontier)
			}
			if tc.complete && (!Same(res.Items[id].Cur, v1) || res.Frontier[devA] != 4) {
				t.Fatalf("frontier %v", res.Frontier)
			}
		})
	}
}

func forgedAK() *keys.AccountKey {
	k := *testAK
	k[3] ^= 0x55
	return &k
}
