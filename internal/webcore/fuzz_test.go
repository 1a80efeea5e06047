package webcore

import (
	"bytes"
	"testing"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/syncclient"
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
	got, err := parseVaultRecord(vaultRecord(snap))
	if err != nil || !bytes.Equal(got, snap) {
		t.Fatalf("%q %v", got, err)
	}
	for _, bad := range [][]byte{nil, []byte("KHWV"), []byte("KHWV\x02\nnewer"), []byte("something else")} {
		if _, err := parseVaultRecord(bad); err == nil {
			t.Errorf("%q parsed", bad)
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

// FuzzParseVaultRecord: the vault record's wrapper and the store
// snapshot inside it never crash the web vault's open path.
func FuzzParseVaultRecord(f *testing.F) {
	f.Add(vaultRecord([]byte("x")))
	f.Add([]byte("KHWV\x01\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		snap, err := parseVaultRecord(b)
		if err != nil {
			return
		}
		var ak keys.AccountKey
		if v, err := MemVaults(nil).Open(t.Context(), snap, keys.AccountID{}, &ak, 1); err == nil {
			v.Close()
		}
	})
}
