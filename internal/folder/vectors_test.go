package folder

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
)

// The known-answer vectors in testdata/vectors/folder.json (SPEC §16) are
// checked both ways: what is deterministic (the folder key, every header)
// must come out of the recorded inputs byte for byte, and every recorded
// file must open, or be refused, as its vector declares. The boxes
// themselves carry random nonces, so `go test -run Vectors -update`
// writes new ones; a changed header or key means the format changed.
var update = flag.Bool("update", false, "rewrite the known-answer vector file")

const vectorFile = "../../testdata/vectors/folder.json"

type folderVector struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"` // "key", "log", "snapshot" or "keys"
	Expect     string `json:"expect"`
	AccountID  string `json:"account_id"`
	AccountKey string `json:"account_key"` // hex, the key the reader holds
	KeyVersion uint32 `json:"key_version,omitempty"`
	FolderKey  string `json:"folder_key,omitempty"` // hex, for kind "key"
	Device     string `json:"device,omitempty"`     // where the reader found the file
	Seq        uint64 `json:"seq,omitempty"`
	Lamport    uint64 `json:"lamport,omitempty"`
	Header     string `json:"header,omitempty"`  // hex, the 57-byte header
	Encoded    string `json:"encoded,omitempty"` // hex, the whole file
	// What the file holds: item titles (logs: each entry's new title;
	// snapshots: each item's current title), or for key files the key
	// versions of the ring it opens to.
	Titles   []string `json:"titles,omitempty"`
	Versions []uint32 `json:"versions,omitempty"`
	// Prev is, for a log, the number of the log it follows.
	Prev    uint64 `json:"prev,omitempty"`
	Comment string `json:"comment,omitempty"`
}

var vecErrors = map[string]error{
	"ErrMalformed":  ErrMalformed,
	"ErrMisplaced":  ErrMisplaced,
	"ErrNoKey":      ErrNoKey,
	"ErrOpen":       keys.ErrOpen,
	"ErrWrongKey":   format.ErrWrongKey,
	"ErrVersion":    format.ErrVersion,
	"ErrWrongMagic": format.ErrWrongMagic,
}

func vecErrName(err error) string {
	if err == nil {
		return "ok"
	}
	for n, e := range vecErrors {
		if errors.Is(err, e) {
			return n
		}
	}
	return "unexpected: " + err.Error()
}

var (
	vecAcct = keys.AccountID{0x01, 0x93, 0x5c, 0x1e, 0x7a, 0x00, 0x70, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0x01}
	vecAK1  = &keys.AccountKey{0xa0, 0xa1, 31: 0xaf}
	vecAK2  = &keys.AccountKey{0xb0, 0xb1, 31: 0xbf}
	vecDevA = DeviceID{0xd0, 0x0a, 15: 0x01}
	vecDevB = DeviceID{0xd0, 0x0b, 15: 0x02}
	vecT    = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
)

func vecItem(title, user, pw string) *item.Item {
	it := item.New(item.Login, title, vecT)
	it.Set("username", user, item.Text)
	it.Set("password", pw, item.Hidden)
	return it
}

// makeVectors builds the vector file from the code.
func makeVectors(t *testing.T) []folderVector {
	hx := hex.EncodeToString
	fk := FolderKey(vecAK1)
	out := []folderVector{{Name: "folder key of an account key", Kind: "key", Expect: "ok",
		AccountID: vecAcct.String(), AccountKey: hx(vecAK1[:]), FolderKey: hx(fk[:])}}

	base := vecItem("Bank", "alice", "pw-1")
	newer := base.Clone()
	newer.Set("password", "pw-2", item.Hidden)
	newer.Modified = vecT.Add(time.Minute)
	h := Header{AccountID: vecAcct, KeyVersion: 1, Device: vecDevA, Seq: 3, Lamport: 7}
	logFile, err := SealLog(vecAK1, h, []Entry{
		{ID: [16]byte{1}, Base: base, New: newer},
		{ID: [16]byte{2}, New: vecItem("Mail", "bob", "pw-3")},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Magic = LogMagic
	logV := folderVector{Kind: "log", AccountID: vecAcct.String(), AccountKey: hx(vecAK1[:]), KeyVersion: 1,
		Device: vecDevA.String(), Seq: 3, Lamport: 7, Header: hx(h.marshal()), Encoded: hx(logFile)}
	add := func(v folderVector, name, expect, comment string, edit func(*folderVector)) {
		v.Name, v.Expect, v.Comment = name, expect, comment
		if edit != nil {
			edit(&v)
		}
		out = append(out, v)
	}
	ok := logV
	ok.Titles = []string{"Bank", "Mail"}
	ok.Prev = 2
	add(ok, "change log with two entries", "ok", "follows log 2", nil)
	add(logV, "change log: its Prev changed", "ErrOpen", "Prev is public but authenticated by the head MAC", func(v *folderVector) {
		b, _ := hex.DecodeString(v.Encoded)
		b[57+7] ^= 3
		v.Encoded = hx(b)
	})
	voidFile, err := SealLogAfter(vecAK1, Header{AccountID: vecAcct, KeyVersion: 1, Device: vecDevA, Seq: 6, Lamport: 9}, 3, []Entry{{ID: [16]byte{1}, Base: base, New: newer}})
	if err != nil {
		t.Fatal(err)
	}
	vh := Header{Magic: LogMagic, AccountID: vecAcct, KeyVersion: 1, Device: vecDevA, Seq: 6, Lamport: 9}
	okVoid := folderVector{Kind: "log", AccountID: vecAcct.String(), AccountKey: hx(vecAK1[:]), KeyVersion: 1,
		Device: vecDevA.String(), Seq: 6, Lamport: 9, Header: hx(vh.marshal()), Encoded: hx(voidFile), Titles: []string{"Bank"}, Prev: 3}
	add(okVoid, "change log that declares logs 4 and 5 void", "ok", "follows log 3: its writer found 4 and 5 gone and wrote their changes again here", nil)
	add(logV, "change log: a flipped byte in the box", "ErrOpen", "", func(v *folderVector) {
		b, _ := hex.DecodeString(v.Encoded)
		b[len(b)-5] ^= 1
		v.Encoded = hx(b)
	})
	add(logV, "change log: the Lamport clock changed in the header", "ErrOpen", "the header is associated data", func(v *folderVector) {
		b, _ := hex.DecodeString(v.Encoded)
		b[56] ^= 1
		v.Encoded = hx(b)
	})
	add(logV, "change log found in another device's directory", "ErrMisplaced", "", func(v *folderVector) { v.Device = vecDevB.String() })
	add(logV, "change log renamed to another number", "ErrMisplaced", "", func(v *folderVector) { v.Seq = 4 })
	add(logV, "change log opened with another account key", "ErrOpen", "", func(v *folderVector) { v.AccountKey = hx(vecAK2[:]) })
	add(logV, "change log cut short (half copied)", "ErrOpen", "", func(v *folderVector) { v.Encoded = v.Encoded[:len(v.Encoded)-40] })
	add(logV, "change log cut inside its header", "ErrMalformed", "", func(v *folderVector) { v.Encoded = v.Encoded[:60] })
	add(logV, "a snapshot's magic where a log's is expected", "ErrMalformed", "", func(v *folderVector) {
		v.Encoded = hx([]byte(SnapshotMagic)) + v.Encoded[8:]
	})
	add(logV, "change log of a later format version", "ErrVersion", "", func(v *folderVector) {
		v.Encoded = v.Encoded[:8] + "02" + v.Encoded[10:]
	})

	sh := Header{AccountID: vecAcct, KeyVersion: 1, Device: vecDevB, Seq: 1, Lamport: 9}
	snap, err := SealSnapshot(vecAK1, sh, Frontier{vecDevA: 3, vecDevB: 2},
		[]*ItemState{{ID: [16]byte{1}, Cur: newer, Hist: []*item.Item{base}}})
	if err != nil {
		t.Fatal(err)
	}
	sh.Magic = SnapshotMagic
	snapV := folderVector{Kind: "snapshot", AccountID: vecAcct.String(), AccountKey: hx(vecAK1[:]), KeyVersion: 1,
		Device: vecDevB.String(), Seq: 1, Lamport: 9, Header: hx(sh.marshal()), Encoded: hx(snap)}
	okS := snapV
	okS.Titles = []string{"Bank"}
	add(okS, "snapshot of one item with one past value", "ok", "covers device A's logs 1-3 and device B's 1-2", nil)
	add(snapV, "snapshot: its frontier changed", "ErrOpen", "the frontier is public but authenticated", func(v *folderVector) {
		b, _ := hex.DecodeString(v.Encoded)
		b[57+4+16+7] ^= 1 // inside the first frontier entry's count
		v.Encoded = hx(b)
	})
	add(snapV, "snapshot moved to another device's directory", "ErrMisplaced", "", func(v *folderVector) { v.Device = vecDevA.String() })
	add(snapV, "snapshot: a flipped byte in the head MAC", "ErrOpen", "", func(v *folderVector) {
		b, _ := hex.DecodeString(v.Encoded)
		b[57+4+2*24+3] ^= 1
		v.Encoded = hx(b)
	})

	// A key file of key version 2 that hands over version 1's key.
	sk, err := keys.ParseSecretKey("K1-DV5J-2222-2222-2222-2222-2222-2DLZ")
	if err != nil {
		t.Fatal(err)
	}
	env, d, err := format.NewEnvelope(vecAK2, vecAcct, 2, 2, []byte("correct horse"), sk, keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	kc, err := format.NewKeyCheck(vecAK2, vecAcct, 2)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := format.SealTransition(vecAK1, vecAcct, 2, sk, vecAK2)
	if err != nil {
		t.Fatal(err)
	}
	kh := Header{AccountID: vecAcct, KeyVersion: 2, Device: vecDevA, Seq: 2, Lamport: 11}
	prev := *vecAK1
	kfile, err := SealKeyFile(vecAK2, kh, env, kc, tr, Ring{1: &prev})
	if err != nil {
		t.Fatal(err)
	}
	kh.Magic = KeyFileMagic
	keysV := folderVector{Kind: "keys", AccountID: vecAcct.String(), AccountKey: hx(vecAK2[:]), KeyVersion: 2,
		Device: vecDevA.String(), Seq: 2, Lamport: 11, Header: hx(kh.marshal()), Encoded: hx(kfile)}
	okK := keysV
	okK.Versions = []uint32{1, 2}
	add(okK, "key file after a rotation to version 2", "ok", "envelope, key check, transition, and version 1's key sealed under version 2's", nil)
	add(keysV, "key file opened with the previous account key", "ErrWrongKey", "the key check refuses it first", func(v *folderVector) { v.AccountKey = hx(vecAK1[:]) })
	add(keysV, "key file: a flipped byte in the sealed keys", "ErrOpen", "", func(v *folderVector) {
		b, _ := hex.DecodeString(v.Encoded)
		b[len(b)-3] ^= 1
		v.Encoded = hx(b)
	})
	add(keysV, "key file renamed to another number", "ErrMisplaced", "", func(v *folderVector) { v.Seq = 1 })
	return out
}

func checkVector(t *testing.T, v folderVector) {
	t.Helper()
	acct, err := keys.ParseAccountID(v.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	akb, _ := hex.DecodeString(v.AccountKey)
	var ak keys.AccountKey
	copy(ak[:], akb)
	if v.Kind == "key" {
		fk := FolderKey(&ak)
		if hex.EncodeToString(fk[:]) != v.FolderKey {
			t.Fatalf("folder key %x, vector says %s", fk[:], v.FolderKey)
		}
		return
	}
	dev, err := ParseDeviceID(v.Device)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(v.Encoded)
	if err != nil {
		t.Fatal(err)
	}
	// The header is deterministic: the recorded fields give its bytes.
	if v.Header != "" && v.Expect == "ok" {
		magic := map[string]string{"log": LogMagic, "snapshot": SnapshotMagic, "keys": KeyFileMagic}[v.Kind]
		h := Header{Magic: magic, AccountID: acct, KeyVersion: v.KeyVersion, Device: dev, Seq: v.Seq, Lamport: v.Lamport}
		if got := hex.EncodeToString(h.marshal()); got != v.Header || !bytes.HasPrefix(b, h.marshal()) {
			t.Fatalf("header %s, vector says %s", got, v.Header)
		}
	}
	var titles []string
	var versions []uint32
	switch v.Kind {
	case "log":
		var l *Log
		if l, err = OpenLog(b, Ring{v.KeyVersion: &ak}, acct, dev, v.Seq); err == nil {
			for _, e := range l.Entries {
				titles = append(titles, e.New.Title)
			}
			if v.Prev != 0 && l.Prev != v.Prev {
				t.Fatalf("the log follows log %d, vector says %d", l.Prev, v.Prev)
			}
		}
	case "snapshot":
		var s *Snapshot
		if s, err = OpenSnapshot(b, Ring{v.KeyVersion: &ak}, acct, dev, v.Seq); err == nil {
			for _, is := range s.Items {
				titles = append(titles, is.Cur.Title)
			}
		}
	case "keys":
		var kf *KeyFile
		if kf, err = ParseKeyFile(b, dev, v.Seq); err == nil {
			var r Ring
			if r, err = kf.Open(&ak); err == nil {
				for kv := uint32(1); kv <= 4; kv++ {
					if r[kv] != nil {
						versions = append(versions, kv)
					}
				}
			}
		}
	default:
		t.Fatalf("unknown kind %q", v.Kind)
	}
	if got := vecErrName(err); got != v.Expect {
		t.Fatalf("got %s, vector expects %s", got, v.Expect)
	}
	if v.Expect == "ok" {
		if g, w := jsonOf(titles), jsonOf(v.Titles); g != w {
			t.Fatalf("titles %s, vector says %s", g, w)
		}
		if g, w := jsonOf(versions), jsonOf(v.Versions); g != w {
			t.Fatalf("key versions %s, vector says %s", g, w)
		}
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestVectors(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(makeVectors(t), "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.FromSlash(vectorFile), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.FromSlash(vectorFile))
	if err != nil {
		t.Fatal(err)
	}
	var vs []folderVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 15 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) { checkVector(t, v) })
	}
	// Freshly made files (new nonces) meet the same expectations.
	for _, v := range makeVectors(t) {
		t.Run("fresh/"+v.Name, func(t *testing.T) { checkVector(t, v) })
	}
}
