package format

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/keyhold/keyhold/internal/keys"
)

// KeyCheckText is the known plaintext of a key check (the seed's "known
// text string"). Opening it proves that an account key is the one this
// vault's items are encrypted with.
const KeyCheckText = "keyhold key check v1"

const keyCheckHeaderSize = 4 + 1 + 16 + 4

// KeyCheck binds a known text to an account id and key version.
type KeyCheck struct {
	AccountID  keys.AccountID
	KeyVersion uint32
	Box        []byte
}

func (c *KeyCheck) header() []byte {
	b := make([]byte, 0, keyCheckHeaderSize)
	b = append(b, KeyCheckMagic...)
	b = append(b, Version1)
	b = append(b, c.AccountID[:]...)
	return binary.BigEndian.AppendUint32(b, c.KeyVersion)
}

// Marshal encodes the key check.
func (c *KeyCheck) Marshal() []byte { return append(c.header(), c.Box...) }

// NewKeyCheck seals the known text under ak.
func NewKeyCheck(ak *keys.AccountKey, id keys.AccountID, keyVersion uint32) (*KeyCheck, error) {
	return NewKeyCheckWithRand(rand.Reader, ak, id, keyVersion)
}

// NewKeyCheckWithRand is NewKeyCheck with the nonce drawn from r; for
// known-answer vectors only.
func NewKeyCheckWithRand(r io.Reader, ak *keys.AccountKey, id keys.AccountID, keyVersion uint32) (*KeyCheck, error) {
	c := &KeyCheck{AccountID: id, KeyVersion: keyVersion}
	box, err := keys.SealWithRand(r, ak[:], labelKeyCheck, c.header(), []byte(KeyCheckText))
	if err != nil {
		return nil, err
	}
	c.Box = box
	return c, nil
}

// ParseKeyCheck decodes a key check without opening it.
func ParseKeyCheck(b []byte) (*KeyCheck, error) {
	if len(b) < 5 {
		return nil, fmt.Errorf("key check: %w: too short", ErrMalformed)
	}
	if string(b[:4]) != KeyCheckMagic {
		return nil, fmt.Errorf("key check: %w", ErrWrongMagic)
	}
	if b[4] != Version1 {
		return nil, fmt.Errorf("key check: %w: version %d", ErrVersion, b[4])
	}
	if len(b) != keyCheckHeaderSize+keys.SealOverhead+len(KeyCheckText) {
		return nil, fmt.Errorf("key check: %w: wrong length", ErrMalformed)
	}
	c := new(KeyCheck)
	copy(c.AccountID[:], b[5:21])
	c.KeyVersion = binary.BigEndian.Uint32(b[21:25])
	c.Box = append([]byte(nil), b[keyCheckHeaderSize:]...)
	return c, nil
}

// Verify proves that ak, unwrapped from an envelope for (id, keyVersion),
// is this vault's account key. It tells apart the cases a user can act on:
// another account, an older or newer key version, and a key that simply
// does not open the check.
func (c *KeyCheck) Verify(ak *keys.AccountKey, id keys.AccountID, keyVersion uint32) error {
	if id != c.AccountID {
		return fmt.Errorf("the key %w (account %s, this vault is account %s)", ErrWrongAcct, id, c.AccountID)
	}
	if keyVersion != c.KeyVersion {
		return fmt.Errorf("the key %w: it is key version %d, this vault uses version %d (the account key was rotated; use the newest recovery kit)", ErrOldKey, keyVersion, c.KeyVersion)
	}
	pt, err := keys.Open(ak[:], labelKeyCheck, c.header(), c.Box)
	if err != nil {
		return fmt.Errorf("key check: %w: the account key does not open this vault's key check", ErrWrongKey)
	}
	defer clear(pt)
	if subtle.ConstantTimeCompare(pt, []byte(KeyCheckText)) != 1 {
		return fmt.Errorf("key check: %w", ErrTampered)
	}
	return nil
}
