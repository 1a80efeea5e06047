package format

import (
	"fmt"

	"github.com/keyhold/keyhold/internal/keys"
)

// EnvelopeHeaderSize is the length of the envelope's header (bytes 0..67):
// what a server hands out before login so a new device can derive its
// login key.
const EnvelopeHeaderSize = envelopeHeaderSize

// ParseEnvelopeHeader decodes the 67-byte header of an envelope, with the
// same checks as ParseEnvelope. The result has no box: it can derive keys
// and check a Secret Key, not unwrap the account key.
func ParseEnvelopeHeader(b []byte) (*Envelope, error) {
	if len(b) != envelopeHeaderSize {
		return nil, fmt.Errorf("account key envelope header: %w: %d bytes, want %d", ErrMalformed, len(b), envelopeHeaderSize)
	}
	full := make([]byte, EnvelopeSize)
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
	if err := e.CheckSecretKey(sk); err != nil {
		return nil, err
	}
	return keys.Derive(pw, sk, e.AccountID, e.Salt[:], e.KDF)
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
