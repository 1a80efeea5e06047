package memstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/ledger/memstore"
)

var update = flag.Bool("update", false, "rewrite the known-answer vectors")

const vectorFile = "../../../testdata/vectors/replicastore.json"

type vector struct {
	Name    string `json:"name"`
	Expect  string `json:"expect"` // "ok" or "ErrSnapshot"
	Encoded string `json:"encoded"`
	Comment string `json:"comment,omitempty"`
}

// fixedBatch is the batch the known-answer vector encodes: a snapshot
// with two items, one past revision, two meta values and one server
// revision. Its boxes are short stand-ins: the format does not look
// inside them.
func fixedBatch() *memstore.Batch {
	id1, id2 := [16]byte{1}, [16]byte{2}
	return &memstore.Batch{
		Cleared:       true,
		RemoteCleared: true,
		Current:       []ledger.Row{{ID: id1, Rev: 1, Box: []byte("box 1/1")}, {ID: id2, Rev: 2, Box: []byte("box 2/2")}},
		Past:          []ledger.Row{{ID: id2, Rev: 1, Box: []byte("box 2/1")}},
		Meta:          map[string][]byte{"manifest": []byte("M"), "sync/cursor": []byte("3")},
		Remote:        map[[16]byte]uint64{id2: 2},
	}
}

// fixedChange is a later batch: item 1 deleted, a past revision dropped.
func fixedChange() *memstore.Batch {
	return &memstore.Batch{
		DeletedCurrent: [][16]byte{{1}},
		DeletedPast:    []memstore.PastKey{{ID: [16]byte{2}, Rev: 1}},
		Meta:           map[string][]byte{"sync/verified": []byte("3")},
		Remote:         map[[16]byte]uint64{},
	}
}

func encode(t testing.TB, b *memstore.Batch) []byte {
	t.Helper()
	p, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func vectors(t *testing.T) []vector {
	good := encode(t, fixedBatch())
	change := encode(t, fixedChange())
	flipped := bytes.Clone(good)
	flipped[40] ^= 1
	v2 := bytes.Clone(good)
	v2[4] = 2
	return []vector{
		{"snapshot", "ok", hex.EncodeToString(good), "fixedBatch in snapshot_test.go"},
		{"change", "ok", hex.EncodeToString(change), "fixedChange in snapshot_test.go"},
		{"truncated", "ErrSnapshot", hex.EncodeToString(good[:len(good)-1]), "the snapshot less its last byte"},
		{"flipped bit", "ErrSnapshot", hex.EncodeToString(flipped), "the snapshot with bit 0 of byte 40 flipped"},
		{"other version", "ErrSnapshot", hex.EncodeToString(v2), "version byte 2"},
	}
}

// TestSnapshotVectors: the encoding of a fixed batch is the one written
// down, and damaged copies of it are refused.
func TestSnapshotVectors(t *testing.T) {
	want := vectors(t)
	if *update {
		b, _ := json.MarshalIndent(want, "", "  ")
		if err := os.WriteFile(vectorFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	var got []vector
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s differs from what this code writes and refuses (run with -update only for a new format version)", filepath.Base(vectorFile))
	}
	for _, v := range got {
		p, _ := hex.DecodeString(v.Encoded)
		batch, err := memstore.UnmarshalBatch(p)
		switch v.Expect {
		case "ok":
			if err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			if again := encode(t, batch); !bytes.Equal(again, p) {
				t.Fatalf("%s: decoding and encoding again changed the bytes", v.Name)
			}
		case "ErrSnapshot":
			if !errors.Is(err, memstore.ErrSnapshot) {
				t.Fatalf("%s: %v, want ErrSnapshot", v.Name, err)
			}
		}
	}
	p, _ := hex.DecodeString(got[0].Encoded)
	batch, err := memstore.UnmarshalBatch(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := fixedBatch(); !reflect.DeepEqual(batch.Current, want.Current) || !reflect.DeepEqual(batch.Past, want.Past) ||
		!reflect.DeepEqual(batch.Meta, want.Meta) || !reflect.DeepEqual(batch.Remote, want.Remote) || !batch.Cleared || !batch.RemoteCleared {
		t.Fatalf("decoded %+v", batch)
	}
}

// TestSnapshotDamage: every truncation and every single-bit flip of a
// snapshot is refused with ErrSnapshot, never taken for a vault.
func TestSnapshotDamage(t *testing.T) {
	good := encode(t, fixedBatch())
	for n := range len(good) {
		if _, err := memstore.FromSnapshot(good[:n]); !errors.Is(err, memstore.ErrSnapshot) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	for i := range len(good) * 8 {
		p := bytes.Clone(good)
		p[i/8] ^= 1 << (i % 8)
		if _, err := memstore.FromSnapshot(p); !errors.Is(err, memstore.ErrSnapshot) {
			t.Fatalf("bit %d flipped: %v", i, err)
		}
	}
	// A change alone is not a vault.
	if _, err := memstore.FromSnapshot(encode(t, fixedChange())); !errors.Is(err, memstore.ErrSnapshot) {
		t.Fatalf("a change as the snapshot: %v", err)
	}
}

// TestSnapshotRestores: a store rebuilt from its snapshot and later
// batches holds what the store held, rows and sync bookkeeping alike.
func TestSnapshotRestores(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	s.Load(fixedBatch())
	snap, err := s.SnapshotBytes()
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.SetRemote(ctx, [16]byte{1}, 1); err != nil {
		t.Fatal(err)
	}
	if err := tx.DeletePast(ctx, [16]byte{2}, 1); err != nil {
		t.Fatal(err)
	}
	b, err := tx.CommitBatch()
	if err != nil {
		t.Fatal(err)
	}
	re, err := memstore.FromSnapshot(snap, encode(t, b))
	if err != nil {
		t.Fatal(err)
	}
	x, _ := s.SnapshotBytes()
	y, _ := re.SnapshotBytes()
	if !bytes.Equal(x, y) {
		t.Fatal("the rebuilt store differs from the original")
	}
	rtx, _ := re.Begin()
	defer rtx.Rollback()
	if rev, err := rtx.Remote(ctx, [16]byte{1}); err != nil || rev != 1 {
		t.Fatalf("remote of item 1: %d %v", rev, err)
	}
	if _, err := rtx.Past(ctx, [16]byte{2}, 1); !errors.Is(err, ledger.ErrMissing) {
		t.Fatalf("dropped past revision: %v", err)
	}
}

// FuzzUnmarshalBatch: no input makes the decoder panic or allocate
// beyond its size, and whatever it accepts encodes back to the very
// same bytes (the encoding is canonical).
func FuzzUnmarshalBatch(f *testing.F) {
	for _, b := range []*memstore.Batch{fixedBatch(), fixedChange(), {}} {
		p, err := b.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		check(t, p)
		// The same bytes with a checksum that fits, so that the fuzzer
		// reaches the parser behind it.
		if len(p) >= sha256.Size {
			body := bytes.Clone(p[:len(p)-sha256.Size])
			sum := sha256.Sum256(body)
			check(t, append(body, sum[:]...))
		}
	})
}

func check(t *testing.T, p []byte) {
	b, err := memstore.UnmarshalBatch(p)
	if err != nil {
		if !errors.Is(err, memstore.ErrSnapshot) {
			t.Fatalf("an error that is not ErrSnapshot: %v", err)
		}
		return
	}
	again, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, p) {
		t.Fatal("accepted bytes that do not encode back to themselves")
	}
}
