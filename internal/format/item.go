package format

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/keyhold/keyhold/internal/keys"
)

const itemHeaderSize = 4 + 1 + 4

// MaxItemSize bounds an item's plaintext. Attachments are out of scope for
// version 1; a megabyte is far more than any item holds.
const MaxItemSize = 1 << 20

// ItemRef names one revision of one item: the associated data that binds a
// box to its place, so a box cannot be moved to another item, another
// account or another revision.
type ItemRef struct {
	AccountID keys.AccountID
	ItemID    [16]byte
	Revision  uint64
}

func itemAD(header []byte, ref ItemRef) []byte {
	ad := make([]byte, 0, len(header)+16+16+8)
	ad = append(ad, header...)
	ad = append(ad, ref.AccountID[:]...)
	ad = append(ad, ref.ItemID[:]...)
	return binary.BigEndian.AppendUint64(ad, ref.Revision)
}

func itemHeader(keyVersion uint32) []byte {
	b := make([]byte, 0, itemHeaderSize)
	b = append(b, ItemMagic...)
	b = append(b, Version1)
	return binary.BigEndian.AppendUint32(b, keyVersion)
}

// SealItem encrypts one revision of an item.
func SealItem(ak *keys.AccountKey, keyVersion uint32, ref ItemRef, plaintext []byte) ([]byte, error) {
	return SealItemWithRand(rand.Reader, ak, keyVersion, ref, plaintext)
}

// SealItemWithRand is SealItem with the nonce drawn from r; for known-answer
// vectors only.
func SealItemWithRand(r io.Reader, ak *keys.AccountKey, keyVersion uint32, ref ItemRef, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxItemSize {
		return nil, fmt.Errorf("item is too large (%d bytes, at most %d)", len(plaintext), MaxItemSize)
	}
	h := itemHeader(keyVersion)
	box, err := keys.SealWithRand(r, ak[:], labelItem, itemAD(h, ref), plaintext)
	if err != nil {
		return nil, err
	}
	return append(h, box...), nil
}

// ItemKeyVersion returns the key version an item box was sealed under.
func ItemKeyVersion(b []byte) (uint32, error) {
	if len(b) < itemHeaderSize+keys.SealOverhead {
		return 0, fmt.Errorf("item: %w: too short", ErrMalformed)
	}
	if string(b[:4]) != ItemMagic {
		return 0, fmt.Errorf("item: %w", ErrWrongMagic)
	}
	if b[4] != Version1 {
		return 0, fmt.Errorf("item: %w: version %d", ErrVersion, b[4])
	}
	return binary.BigEndian.Uint32(b[5:9]), nil
}

// OpenItem decrypts one revision of an item. A box moved from another item,
// revision or account, or with any byte changed, gives ErrTampered.
func OpenItem(ak *keys.AccountKey, keyVersion uint32, ref ItemRef, b []byte) ([]byte, error) {
	kv, err := ItemKeyVersion(b)
	if err != nil {
		return nil, err
	}
	if kv != keyVersion {
		return nil, fmt.Errorf("item: %w: sealed under key version %d, the vault uses %d", ErrOldKey, kv, keyVersion)
	}
	if len(b)-itemHeaderSize-keys.SealOverhead > MaxItemSize {
		return nil, fmt.Errorf("item: %w: too large", ErrMalformed)
	}
	pt, err := keys.Open(ak[:], labelItem, itemAD(b[:itemHeaderSize], ref), b[itemHeaderSize:])
	if err != nil {
		return nil, fmt.Errorf("item: %w", ErrTampered)
	}
	return pt, nil
}
