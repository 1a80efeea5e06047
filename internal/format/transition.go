package format

import (
	"encoding/binary"
	"fmt"
	"io"

	"crypto/rand"

	"github.com/keyhold/keyhold/internal/keys"
)

// TransitionMagic starts a rotation transition (SPEC §14).
const TransitionMagic = "KHRT" // "Keyhold RoTation"

const (
	labelTransition      = "keyhold v1 rotation"
	transitionHeaderSize = 4 + 1 + 16 + 4
	transitionPlainSize  = 16 + 32
	// TransitionSize is the length of a transition: header and box.
	TransitionSize = transitionHeaderSize + transitionPlainSize + 72 // 145
)

// A key rotation makes a new account key and a new Secret Key. A device
// that was not part of it still holds the previous account key; the
// transition, kept by the sync server, hands it the new pair sealed under
// the previous account key, so it can follow without a new kit. Someone
// without the previous account key learns nothing from it.

func transitionHeader(id keys.AccountID, newVersion uint32) []byte {
	b := make([]byte, 0, transitionHeaderSize)
	b = append(b, TransitionMagic...)
	b = append(b, Version1)
	b = append(b, id[:]...)
	return binary.BigEndian.AppendUint32(b, newVersion)
}

// SealTransition seals the new Secret Key and account key (for key version
// newVersion) under the previous account key.
func SealTransition(prev *keys.AccountKey, id keys.AccountID, newVersion uint32, sk *keys.SecretKey, ak *keys.AccountKey) ([]byte, error) {
	return SealTransitionWithRand(rand.Reader, prev, id, newVersion, sk, ak)
}

// SealTransitionWithRand is SealTransition with the nonce drawn from r;
// for known-answer vectors only.
func SealTransitionWithRand(r io.Reader, prev *keys.AccountKey, id keys.AccountID, newVersion uint32, sk *keys.SecretKey, ak *keys.AccountKey) ([]byte, error) {
	h := transitionHeader(id, newVersion)
	pt := make([]byte, 0, transitionPlainSize)
	pt = append(pt, sk[:]...)
	pt = append(pt, ak[:]...)
	defer clear(pt)
	box, err := keys.SealWithRand(r, prev[:], labelTransition, h, pt)
	if err != nil {
		return nil, err
	}
	return append(h, box...), nil
}

// OpenTransition opens a transition with the previous account key. It
// checks that it belongs to account id and names the key version the
// caller expects.
func OpenTransition(b []byte, prev *keys.AccountKey, id keys.AccountID, newVersion uint32) (*keys.SecretKey, *keys.AccountKey, error) {
	if len(b) < 5 {
		return nil, nil, fmt.Errorf("rotation transition: %w: too short", ErrMalformed)
	}
	if string(b[:4]) != TransitionMagic {
		return nil, nil, fmt.Errorf("rotation transition: %w", ErrWrongMagic)
	}
	if b[4] != Version1 {
		return nil, nil, fmt.Errorf("rotation transition: %w: version %d", ErrVersion, b[4])
	}
	if len(b) != TransitionSize {
		return nil, nil, fmt.Errorf("rotation transition: %w: %d bytes, want %d", ErrMalformed, len(b), TransitionSize)
	}
	var got keys.AccountID
	copy(got[:], b[5:21])
	if got != id {
		return nil, nil, fmt.Errorf("rotation transition: %w", ErrWrongAcct)
	}
	if v := binary.BigEndian.Uint32(b[21:25]); v != newVersion {
		return nil, nil, fmt.Errorf("rotation transition: %w: it is for key version %d, not %d", ErrMalformed, v, newVersion)
	}
	pt, err := keys.Open(prev[:], labelTransition, b[:transitionHeaderSize], b[transitionHeaderSize:])
	if err != nil {
		return nil, nil, fmt.Errorf("rotation transition: %w", err)
	}
	defer clear(pt)
	sk, ak := new(keys.SecretKey), new(keys.AccountKey)
	copy(sk[:], pt[:16])
	copy(ak[:], pt[16:])
	return sk, ak, nil
}
