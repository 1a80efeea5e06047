package webcore

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// goodDevice is a device record as a signed-in browser stores it.
func goodDevice(t testing.TB) []byte {
	t.Helper()
	var ak keys.AccountKey
	ak[0] = 1
	id := keys.AccountID{9, 8, 7}
	sk := new(keys.SecretKey)
	sk[3] = 5
	p := keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}
	env, d, err := format.NewEnvelope(&ak, id, 1, 1, []byte("pw"), sk, p)
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	kc, err := format.NewKeyCheck(&ak, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := syncclient.NewConfig("https://vault.example.org", "", "browser")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Token = "token"
	dr := &deviceRecord{Sync: cfg, AccountID: "09080700-0000-0000-0000-000000000000", SecretKey: sk[:],
		Envelope: env.Marshal(), KeyCheck: kc.Marshal(), KeyVersion: 1, KDFFloor: p, Email: "a@example.org"}
	b, err := dr.marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeviceRecordRoundTrip: what is stored parses back to the same
// record, and damage of any kind is refused as ErrDamagedStore.
func TestDeviceRecordRoundTrip(t *testing.T) {
	b := goodDevice(t)
	d, err := parseDevice(b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := d.marshal()
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("the record does not round-trip: %v\n%s\n%s", err, b, again)
	}
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"truncated": b[:len(b)/2],
		"version":   bytes.Replace(b, []byte(`"version":1`), []byte(`"version":2`), 1),
		"unknown":   bytes.Replace(b, []byte(`"format"`), []byte(`"extra":1,"format"`), 1),
		"trailing":  append(append([]byte(nil), b...), []byte(" {}")...),
		"secret":    bytes.Replace(b, []byte(`"secret_key":"`), []byte(`"secret_key":"AA`), 1),
	} {
		if _, err := parseDevice(bad); Code(err) != CodeInternal || !isDamaged(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func isDamaged(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte(ErrDamagedStore.Error()))
}

func TestVaultRecord(t *testing.T) {
	snap := []byte("snapshot bytes")
	rec := vaultRecord(0x0102030405060708, snap)
	if want := "KHWV\x02\n\x01\x02\x03\x04\x05\x06\x07\x08snapshot bytes"; string(rec) != want {
		t.Errorf("the vault record is %q, want %q", rec, want)
	}
	gen, got, err := parseVaultRecord(rec)
	if err != nil || gen != 0x0102030405060708 || !bytes.Equal(got, snap) {
		t.Fatalf("%d %q %v", gen, got, err)
	}
	// A version 1 record (no generation) is read, with no change records.
	if gen, got, err := parseVaultRecord([]byte("KHWV\x01\nsnapshot bytes")); err != nil || gen != 0 || !bytes.Equal(got, snap) {
		t.Errorf("a version 1 record: %d %q %v", gen, got, err)
	}
	for _, bad := range [][]byte{nil, []byte("KHWV"), []byte("KHWV\x03\nnewer"), []byte("KHWV\x02\n\x00\x00"),
		[]byte("KHWV\x02\n\x00\x00\x00\x00\x00\x00\x00\x00generation 0"), []byte("something else")} {
		if _, _, err := parseVaultRecord(bad); !isDamaged(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestChangeRecord(t *testing.T) {
	rec := changeRecord(7, 2, [][]byte{[]byte("ab"), {}, []byte("c")})
	want := "KHWC\x01\n\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x02\x00\x00\x00\x03" +
		"\x00\x00\x00\x02ab\x00\x00\x00\x00\x00\x00\x00\x01c"
	if string(rec) != want {
		t.Errorf("the change record is %q, want %q", rec, want)
	}
	gen, i, bs, err := parseChangeRecord(rec)
	if err != nil || gen != 7 || i != 2 || len(bs) != 3 || string(bs[0]) != "ab" || len(bs[1]) != 0 || string(bs[2]) != "c" {
		t.Fatalf("%d %d %q %v", gen, i, bs, err)
	}
	for name, bad := range map[string][]byte{
		"empty":        nil,
		"newer":        []byte("KHWC\x02\n"),
		"truncated":    rec[:len(rec)-1],
		"trailing":     append(slices.Clone(rec), 0),
		"generation 0": changeRecord(0, 1, nil),
		"number 0":     changeRecord(1, 0, nil),
		"number high":  changeRecord(1, maxChangeRecords+1, nil),
		"count high":   append(changeRecord(1, 1, nil)[:len(changeRecord(1, 1, nil))-4], 0xff, 0xff, 0xff, 0xff),
	} {
		if _, _, _, err := parseChangeRecord(bad); !isDamaged(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParseDevice: no input crashes the parser, and what it accepts
// encodes again to a record it accepts.
func FuzzParseDevice(f *testing.F) {
	f.Add(goodDevice(f))
	f.Add([]byte(`{"format":"keyhold-web-device","version":1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseDevice(b)
		if err != nil {
			return
		}
		again, err := d.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseDevice(again); err != nil {
			t.Fatalf("an accepted record does not parse again: %v", err)
		}
	})
}

// fuzzVault is a real vault's snapshot (one item, its manifest signed)
// and the account it opens with.
func fuzzVault(f *testing.F) (snap []byte, change []byte, id keys.AccountID, ak *keys.AccountKey) {
	f.Helper()
	ak = new(keys.AccountKey)
	ak[0] = 1
	id = keys.AccountID{9, 8, 7}
	sk := new(keys.SecretKey)
	sk[3] = 5
	env, d, err := format.NewEnvelope(ak, id, 1, 1, []byte("pw"), sk, keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1})
	if err != nil {
		f.Fatal(err)
	}
	d.Wipe()
	kc, err := format.NewKeyCheck(ak, id, 1)
	if err != nil {
		f.Fatal(err)
	}
	v, err := MemVaults(nil).Create(f.Context(), &vaultsync.Join{AccountID: id, SecretKey: sk, AccountKey: ak,
		Envelope: env.Marshal(), KeyCheck: kc.Marshal()}, 1)
	if err != nil {
		f.Fatal(err)
	}
	defer v.Close()
	if snap, err = v.Snapshot(); err != nil {
		f.Fatal(err)
	}
	if _, err := v.Add(f.Context(), item.New(item.Login, "fuzz", time.Unix(0, 0))); err != nil {
		f.Fatal(err)
	}
	bs, err := v.Changes()
	if err != nil || len(bs) == 0 {
		f.Fatalf("no change after an add: %v", err)
	}
	// The seeds reach past the checksums: they open, with the item.
	o, err := MemVaults(nil).Open(f.Context(), snap, bs, id, ak, 1)
	if err != nil {
		f.Fatalf("the seed vault does not open: %v", err)
	}
	defer o.Close()
	if es, err := o.Items(f.Context()); err != nil || len(es) != 1 {
		f.Fatalf("the seed vault's items: %d, %v", len(es), err)
	}
	return snap, bs[0], id, ak
}

// withSum returns b with its SHA-256 trailer recomputed, so that the
// fuzzer reaches the decoder behind the checksum (as memstore's
// FuzzUnmarshalBatch does).
func withSum(b []byte) []byte {
	if len(b) < sha256.Size {
		return b
	}
	body := bytes.Clone(b[:len(b)-sha256.Size])
	sum := sha256.Sum256(body)
	return append(body, sum[:]...)
}

// FuzzParseVaultRecord: the vault record's wrapper and the store
// snapshot inside it (with its checksum as stored, and recomputed) never
// crash the web vault's open path, which opens it with the account key.
func FuzzParseVaultRecord(f *testing.F) {
	snap, _, id, ak := fuzzVault(f)
	f.Add(vaultRecord(1, snap))
	f.Add(append(slices.Clone(vaultMagicV1), snap...))
	f.Add([]byte("KHWV\x02\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, snap, err := parseVaultRecord(b)
		if err != nil {
			return
		}
		for _, s := range [][]byte{snap, withSum(snap)} {
			if v, err := MemVaults(nil).Open(t.Context(), s, nil, id, ak, 1); err == nil {
				_, _ = v.Items(t.Context()) // refused or not: nothing crashes
				v.Close()
			}
		}
	})
}

// FuzzParseChangeRecord: a change record and the batches inside it (with
// their checksums as stored, and recomputed) never crash the open path,
// which applies them to a real vault; what parses encodes again to the
// same bytes.
func FuzzParseChangeRecord(f *testing.F) {
	snap, change, id, ak := fuzzVault(f)
	f.Add(changeRecord(1, 1, [][]byte{change}))
	f.Add(changeRecord(2, 3, [][]byte{change, change}))
	f.Add([]byte("KHWC\x01\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		gen, i, bs, err := parseChangeRecord(b)
		if err != nil {
			return
		}
		if again := changeRecord(gen, i, bs); !bytes.Equal(again, b) {
			t.Fatalf("parsed and encoded again: %q, was %q", again, b)
		}
		summed := make([][]byte, len(bs))
		for i, bt := range bs {
			summed[i] = withSum(bt)
		}
		for _, cs := range [][][]byte{bs, summed} {
			if v, err := MemVaults(nil).Open(t.Context(), snap, cs, id, ak, 1); err == nil {
				_, _ = v.Items(t.Context())
				v.Close()
			}
		}
	})
}
