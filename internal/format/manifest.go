package format

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/keyhold/keyhold/internal/keys"
)

// The manifest authenticates the set of (item id, revision, box) triples
// in a vault, so that deleting an item's row, putting back an older
// revision, swapping rows or putting another genuine box of the same item
// and revision in a row (one from a backup, or from another device's
// copy) is detected; and, separately, the set of past revisions kept as
// history, so that deleting or swapping one is detected by a full check.
// It is kept incrementally: Acc is the XOR of a keyed PRF of each triple,
// so adding or changing an item costs two PRF calls rather than a scan;
// Tag, an HMAC over the whole state including a sequence number and the
// count, is what an attacker without the key cannot forge. The XOR is
// linear, but it is never trusted alone: only states whose Tag was
// computed by a key holder verify.
//
// Version 1 (before boxes were bound) is read only to migrate a vault:
// its entries are EntryV1 and HistoryEntryV1.
type Manifest struct {
	Version    byte // Version2; Version1 only as read from an old vault. Zero means Version2.
	KeyVersion uint32
	Seq        uint64 // incremented on every change
	Count      uint64
	Acc        [32]byte
	HCount     uint64   // past revisions in the history
	HAcc       [32]byte // XOR of HistoryEntry over them
	Tag        [32]byte
}

const manifestSize = 4 + 1 + 4 + 8 + 8 + 32 + 8 + 32 + 32 // 129, both versions

// ManifestKey derives the manifest MAC key from the account key.
func ManifestKey(ak *keys.AccountKey) *keys.Key32 { return keys.SubKey(ak[:], labelManifest) }

// Entry is the PRF of one item revision bound to its box:
// HMAC-SHA256(mk, "entry" || id || u64(revision) || SHA-256(box)).
func Entry(mk *keys.Key32, id [16]byte, rev uint64, box []byte) [32]byte {
	h := sha256.Sum256(box)
	return prf(mk, "entry", id, rev, h[:])
}

// HistoryEntry is the PRF of one past revision bound to its box:
// HMAC-SHA256(mk, "history" || id || u64(revision) || SHA-256(box)).
func HistoryEntry(mk *keys.Key32, id [16]byte, rev uint64, box []byte) [32]byte {
	h := sha256.Sum256(box)
	return prf(mk, "history", id, rev, h[:])
}

// EntryV1 is a version 1 manifest's entry, without the box:
// HMAC-SHA256(mk, "entry" || id || u64(revision)).
func EntryV1(mk *keys.Key32, id [16]byte, rev uint64) [32]byte { return prf(mk, "entry", id, rev, nil) }

// HistoryEntryV1 is a version 1 manifest's history entry:
// HMAC-SHA256(mk, "history" || id || u64(revision)).
func HistoryEntryV1(mk *keys.Key32, id [16]byte, rev uint64) [32]byte {
	return prf(mk, "history", id, rev, nil)
}

func prf(mk *keys.Key32, label string, id [16]byte, rev uint64, boxHash []byte) [32]byte {
	h := hmac.New(sha256.New, mk[:])
	h.Write([]byte(label))
	h.Write(id[:])
	var r [8]byte
	binary.BigEndian.PutUint64(r[:], rev)
	h.Write(r[:])
	h.Write(boxHash)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// version returns the encoding version, Version2 for the zero value.
func (m *Manifest) version() byte {
	if m.Version == 0 {
		return Version2
	}
	return m.Version
}

// XorInto sets acc ^= e.
func XorInto(acc *[32]byte, e [32]byte) {
	for i := range acc {
		acc[i] ^= e[i]
	}
}

func (m *Manifest) tag(mk *keys.Key32, id keys.AccountID) [32]byte {
	h := hmac.New(sha256.New, mk[:])
	h.Write([]byte(ManifestMagic))
	h.Write([]byte{m.version()})
	h.Write(id[:])
	var b []byte
	b = binary.BigEndian.AppendUint32(b, m.KeyVersion)
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = binary.BigEndian.AppendUint64(b, m.Count)
	h.Write(b)
	h.Write(m.Acc[:])
	h.Write(binary.BigEndian.AppendUint64(nil, m.HCount))
	h.Write(m.HAcc[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Sign sets the Tag.
func (m *Manifest) Sign(mk *keys.Key32, id keys.AccountID) { m.Tag = m.tag(mk, id) }

// Verify checks the Tag in constant time.
func (m *Manifest) Verify(mk *keys.Key32, id keys.AccountID) error {
	t := m.tag(mk, id)
	if !hmac.Equal(t[:], m.Tag[:]) {
		return fmt.Errorf("manifest: %w", ErrTampered)
	}
	return nil
}

// Marshal encodes the manifest.
func (m *Manifest) Marshal() []byte {
	b := make([]byte, 0, manifestSize)
	b = append(b, ManifestMagic...)
	b = append(b, m.version())
	b = binary.BigEndian.AppendUint32(b, m.KeyVersion)
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = binary.BigEndian.AppendUint64(b, m.Count)
	b = append(b, m.Acc[:]...)
	b = binary.BigEndian.AppendUint64(b, m.HCount)
	b = append(b, m.HAcc[:]...)
	return append(b, m.Tag[:]...)
}

// ParseManifest decodes a manifest of either version without verifying
// it; Version says which (a caller that is not migrating refuses 1).
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) < 5 {
		return nil, fmt.Errorf("manifest: %w: too short", ErrMalformed)
	}
	if string(b[:4]) != ManifestMagic {
		return nil, fmt.Errorf("manifest: %w", ErrWrongMagic)
	}
	if b[4] != Version1 && b[4] != Version2 {
		return nil, fmt.Errorf("manifest: %w: version %d", ErrVersion, b[4])
	}
	if len(b) != manifestSize {
		return nil, fmt.Errorf("manifest: %w: wrong length", ErrMalformed)
	}
	m := &Manifest{Version: b[4]}
	m.KeyVersion = binary.BigEndian.Uint32(b[5:])
	m.Seq = binary.BigEndian.Uint64(b[9:])
	m.Count = binary.BigEndian.Uint64(b[17:])
	copy(m.Acc[:], b[25:57])
	m.HCount = binary.BigEndian.Uint64(b[57:])
	copy(m.HAcc[:], b[65:97])
	copy(m.Tag[:], b[97:129])
	return m, nil
}

// ServerEntry is the PRF of one item's newest revision as a sync server
// holds it, bound to the box's bytes: HMAC-SHA256(mk, "server entry" ||
// id || u64(rev) || SHA-256(box)) (SPEC §14.1). Binding the box means a
// server cannot hand a device another genuine box for the same revision
// (one from a refused push) without the manifest check failing.
func ServerEntry(mk *keys.Key32, id [16]byte, rev uint64, boxHash [32]byte) [32]byte {
	h := hmac.New(sha256.New, mk[:])
	h.Write([]byte("server entry"))
	h.Write(id[:])
	var r [8]byte
	binary.BigEndian.PutUint64(r[:], rev)
	h.Write(r[:])
	h.Write(boxHash[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}
