package format

import (
	"crypto/rand"
	"fmt"
	"io"

	"github.com/keyhold/keyhold/internal/keys"
)

// EnvelopeHeaderSize is the length of the envelope's header (bytes 0..71
// of a Version2 envelope): what a server hands out before login so a new
// device can derive its login key. A Version1 header is
// EnvelopeHeaderSizeV1 (67) bytes.
const (
	EnvelopeHeaderSize   = envelopeHeaderSize
	EnvelopeHeaderSizeV1 = envelopeHeaderSizeV1
)

// ParseEnvelopeHeader decodes the header of an envelope of either
// version, with the same checks as ParseEnvelope. The result has no box:
// it can derive keys and check a Secret Key, not unwrap the account key.
func ParseEnvelopeHeader(b []byte) (*Envelope, error) {
	n, err := EnvelopeLen(b)
	if err != nil {
		return nil, err
	}
	if len(b) != n-envelopeBoxSize {
		return nil, fmt.Errorf("account key envelope header: %w: %d bytes, want %d", ErrMalformed, len(b), n-envelopeBoxSize)
	}
	full := make([]byte, n)
	copy(full, b)
	e, err := ParseEnvelope(full)
	if err != nil {
		return nil, err
	}
	e.Box = nil
	return e, nil
}

// Header returns the envelope's header bytes.
func (e *Envelope) Header() []byte { return e.header() }

// Derive checks the Secret Key (cheaply) and runs the key derivation of
// SPEC §3 with this envelope's salt and parameters.
func (e *Envelope) Derive(pw []byte, sk *keys.SecretKey) (*keys.Derived, error) {
	return e.DeriveWith(keys.Argon2ID, pw, sk)
}

// DeriveWith is Derive with the Argon2id step computed by h (nil:
// keys.Argon2ID), for a client that runs it elsewhere (keys.Argon2).
func (e *Envelope) DeriveWith(h keys.Argon2, pw []byte, sk *keys.SecretKey) (*keys.Derived, error) {
	if err := e.CheckSecretKey(sk); err != nil {
		return nil, err
	}
	return keys.DeriveWith(h, pw, sk, e.AccountID, e.Salt[:], e.KDF)
}

// NewEnvelopeWith is NewEnvelope with the Argon2id step computed by h
// (nil: keys.Argon2ID), for a client that runs it elsewhere (keys.Argon2).
func NewEnvelopeWith(h keys.Argon2, ak *keys.AccountKey, id keys.AccountID, keyVersion, epoch uint32, pw []byte, sk *keys.SecretKey, p keys.KDFParams) (*Envelope, *keys.Derived, error) {
	return newEnvelope(rand.Reader, h, Version2, ak, id, keyVersion, epoch, pw, sk, p)
}

// OpenDerived unwraps the account key with keys already derived (by
// Derive on this envelope or on its header), so a device that derived its
// login key first does not pay the derivation twice.
func (e *Envelope) OpenDerived(d *keys.Derived) (*keys.AccountKey, error) {
	pt, err := keys.Open(d.Wrap[:], labelEnvelope, e.header(), e.Box)
	if err != nil {
		return nil, ErrWrongPassword
	}
	ak := new(keys.AccountKey)
	copy(ak[:], pt)
	clear(pt)
	return ak, nil
}

// Upgrade returns e (an envelope of any version) re-encoded as the
// current version at password epoch epoch: the same account, key version,
// key derivation, salt and Secret Key check, and ak sealed again, with a
// fresh nonce, under the wrap key d that e's own derivation gave (the
// password that opened e). Because salt and parameters stay, the login
// key (SPEC §3) stays too: the server's login record still matches. A
// device uses it to migrate a vault made before password epochs (SPEC
// §6) without asking for a new password.
func (e *Envelope) Upgrade(ak *keys.AccountKey, d *keys.Derived, epoch uint32) (*Envelope, error) {
	return e.UpgradeWithRand(rand.Reader, ak, d, epoch)
}

// UpgradeWithRand is Upgrade with the nonce drawn from r; for known-answer
// vectors only.
func (e *Envelope) UpgradeWithRand(r io.Reader, ak *keys.AccountKey, d *keys.Derived, epoch uint32) (*Envelope, error) {
	u := &Envelope{Version: Version2, AccountID: e.AccountID, KeyVersion: e.KeyVersion, Epoch: epoch,
		KDF: e.KDF, Salt: e.Salt, SecretKeyCheck: e.SecretKeyCheck}
	box, err := keys.SealWithRand(r, d.Wrap[:], labelEnvelope, u.header(), ak[:])
	if err != nil {
		return nil, err
	}
	u.Box = box
	return u, nil
}
