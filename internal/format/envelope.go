package format

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/keyhold/keyhold/internal/keys"
)

// Envelope is the account key encrypted under the key derived from the
// password and the Secret Key. Every field but the box is public and
// authenticated.
type Envelope struct {
	// Version is the encoding: Version2 for every envelope keyhold makes,
	// Version1 for one made before password epochs (read, never written
	// anew). Zero means Version2.
	Version    byte
	AccountID  keys.AccountID
	KeyVersion uint32 // incremented by each key rotation
	// Epoch is the password epoch (SPEC §6): raised by every password
	// change and key rotation, so a device that adopted an envelope can
	// refuse an older one a server replays. A Version1 envelope has
	// epoch 0.
	Epoch          uint32
	KDF            keys.KDFParams
	Salt           [16]byte
	SecretKeyCheck [16]byte // tells a wrong Secret Key from a wrong password
	Box            []byte   // keys.Seal of the 32-byte account key
}

const (
	envelopeHeaderSizeV1 = 4 + 1 + 16 + 4 + 1 + 4 + 4 + 1 + 16 + 16 // 67
	envelopeHeaderSize   = envelopeHeaderSizeV1 + 4                 // 71: the epoch
	envelopeBoxSize      = keys.SealOverhead + 32                   // 104
	// EnvelopeSize is the total size of an encoded envelope of the
	// current version, the largest there is.
	EnvelopeSize = envelopeHeaderSize + envelopeBoxSize // 175
	// EnvelopeSizeV1 is the total size of a Version1 envelope.
	EnvelopeSizeV1 = envelopeHeaderSizeV1 + envelopeBoxSize // 171
)

// version returns the encoding version, Version2 for the zero value.
func (e *Envelope) version() byte {
	if e.Version == 0 {
		return Version2
	}
	return e.Version
}

// EnvelopeLen returns the encoded length of the envelope that starts b,
// from its magic and version byte alone, so that a container holding one
// (a folder key file) can find where it ends.
func EnvelopeLen(b []byte) (int, error) {
	if len(b) < 5 {
		return 0, fmt.Errorf("account key envelope: %w: too short", ErrMalformed)
	}
	if string(b[:4]) != EnvelopeMagic {
		return 0, fmt.Errorf("account key envelope: %w", ErrWrongMagic)
	}
	switch b[4] {
	case Version1:
		return EnvelopeSizeV1, nil
	case Version2:
		return EnvelopeSize, nil
	}
	return 0, fmt.Errorf("account key envelope: %w: version %d", ErrVersion, b[4])
}

// Errors opening an envelope. Each has its own message for the user.
var (
	ErrWrongSecretKey = errors.New("the Secret Key does not belong to this account key (a kit made before the last key rotation no longer works)")
	ErrWrongPassword  = errors.New("wrong password")
)

// header returns the authenticated header bytes.
func (e *Envelope) header() []byte {
	b := make([]byte, 0, envelopeHeaderSize)
	b = append(b, EnvelopeMagic...)
	b = append(b, e.version())
	b = append(b, e.AccountID[:]...)
	b = binary.BigEndian.AppendUint32(b, e.KeyVersion)
	if e.version() != Version1 {
		b = binary.BigEndian.AppendUint32(b, e.Epoch)
	}
	b = append(b, KDFArgon2id)
	b = binary.BigEndian.AppendUint32(b, e.KDF.Time)
	b = binary.BigEndian.AppendUint32(b, e.KDF.MemoryKiB)
	b = append(b, e.KDF.Threads)
	b = append(b, e.Salt[:]...)
	b = append(b, e.SecretKeyCheck[:]...)
	return b
}

// Marshal encodes the envelope.
func (e *Envelope) Marshal() []byte { return append(e.header(), e.Box...) }

// ParseEnvelope decodes an envelope of either version without opening
// it. It checks lengths, magic, version and KDF identifier, and that the
// KDF parameters lie within keys.MinKDF..keys.MaxKDF, so a hostile file
// cannot demand gigabytes. A Version1 envelope parses with epoch 0 and
// re-encodes as Version1.
func ParseEnvelope(b []byte) (*Envelope, error) {
	n, err := EnvelopeLen(b)
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("account key envelope: %w: %d bytes, want %d", ErrMalformed, len(b), n)
	}
	e := &Envelope{Version: b[4]}
	p := b[5:]
	copy(e.AccountID[:], p[:16])
	p = p[16:]
	e.KeyVersion = binary.BigEndian.Uint32(p)
	p = p[4:]
	if e.Version != Version1 {
		e.Epoch = binary.BigEndian.Uint32(p)
		p = p[4:]
	}
	if p[0] != KDFArgon2id {
		return nil, fmt.Errorf("account key envelope: %w: unknown key derivation %d", ErrVersion, p[0])
	}
	p = p[1:]
	e.KDF.Time = binary.BigEndian.Uint32(p)
	e.KDF.MemoryKiB = binary.BigEndian.Uint32(p[4:])
	e.KDF.Threads = p[8]
	p = p[9:]
	copy(e.Salt[:], p[:16])
	copy(e.SecretKeyCheck[:], p[16:32])
	e.Box = append([]byte(nil), p[32:]...)
	if err := e.KDF.Check(); err != nil {
		return nil, fmt.Errorf("account key envelope: %w", err)
	}
	return e, nil
}

// NewEnvelope wraps ak for the given account under the password and the
// Secret Key, with a fresh random salt, at password epoch epoch.
func NewEnvelope(ak *keys.AccountKey, id keys.AccountID, keyVersion, epoch uint32, pw []byte, sk *keys.SecretKey, p keys.KDFParams) (*Envelope, *keys.Derived, error) {
	return newEnvelope(rand.Reader, nil, Version2, ak, id, keyVersion, epoch, pw, sk, p)
}

// NewEnvelopeWithRand is NewEnvelope with salt and nonce drawn from r; for
// known-answer vectors only.
func NewEnvelopeWithRand(r io.Reader, ak *keys.AccountKey, id keys.AccountID, keyVersion, epoch uint32, pw []byte, sk *keys.SecretKey, p keys.KDFParams) (*Envelope, *keys.Derived, error) {
	return newEnvelope(r, nil, Version2, ak, id, keyVersion, epoch, pw, sk, p)
}

// NewEnvelopeV1WithRand makes an envelope of the previous version (no
// epoch), as keyhold wrote before password epochs: for the vectors and
// for tests that check older vaults still open. Keyhold never writes one.
func NewEnvelopeV1WithRand(r io.Reader, ak *keys.AccountKey, id keys.AccountID, keyVersion uint32, pw []byte, sk *keys.SecretKey, p keys.KDFParams) (*Envelope, *keys.Derived, error) {
	return newEnvelope(r, nil, Version1, ak, id, keyVersion, 0, pw, sk, p)
}

func newEnvelope(r io.Reader, h keys.Argon2, version byte, ak *keys.AccountKey, id keys.AccountID, keyVersion, epoch uint32, pw []byte, sk *keys.SecretKey, p keys.KDFParams) (*Envelope, *keys.Derived, error) {
	e := &Envelope{Version: version, AccountID: id, KeyVersion: keyVersion, Epoch: epoch, KDF: p, SecretKeyCheck: keys.SecretKeyCheck(sk, id)}
	if _, err := io.ReadFull(r, e.Salt[:]); err != nil {
		return nil, nil, err
	}
	d, err := keys.DeriveWith(h, pw, sk, id, e.Salt[:], p)
	if err != nil {
		return nil, nil, err
	}
	e.Box, err = keys.SealWithRand(r, d.Wrap[:], labelEnvelope, e.header(), ak[:])
	if err != nil {
		d.Wipe()
		return nil, nil, err
	}
	return e, d, nil
}

// CheckSecretKey reports whether sk is the Secret Key this envelope was
// made with, without running the KDF.
func (e *Envelope) CheckSecretKey(sk *keys.SecretKey) error {
	c := keys.SecretKeyCheck(sk, e.AccountID)
	if subtle.ConstantTimeCompare(c[:], e.SecretKeyCheck[:]) != 1 {
		return ErrWrongSecretKey
	}
	return nil
}

// Open derives the wrap key and unwraps the account key. The errors tell
// apart a Secret Key from another account key version (ErrWrongSecretKey,
// checked before the costly KDF) and a wrong password or a tampered
// envelope (ErrWrongPassword: the two cannot be told apart, by design).
func (e *Envelope) Open(pw []byte, sk *keys.SecretKey) (*keys.AccountKey, *keys.Derived, error) {
	if err := e.CheckSecretKey(sk); err != nil {
		return nil, nil, err
	}
	d, err := keys.Derive(pw, sk, e.AccountID, e.Salt[:], e.KDF)
	if err != nil {
		return nil, nil, err
	}
	pt, err := keys.Open(d.Wrap[:], labelEnvelope, e.header(), e.Box)
	if err != nil {
		d.Wipe()
		return nil, nil, ErrWrongPassword
	}
	ak := new(keys.AccountKey)
	copy(ak[:], pt)
	clear(pt)
	return ak, d, nil
}
