package keys

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sealed-box layout: nonce (24) || commitment (32) || AEAD ciphertext and tag.
const (
	NonceSize      = 24
	CommitmentSize = 32
	SealOverhead   = NonceSize + CommitmentSize + chacha20poly1305.Overhead
)

// ErrOpen is returned when a sealed box does not open: the key is wrong, or
// a byte of the box or of its associated data was changed.
var ErrOpen = errors.New("decryption failed: wrong key or damaged data")

// Seal encrypts pt under key with XChaCha20-Poly1305, made key-committing.
//
// Poly1305 alone does not commit to its key: a ciphertext can be crafted to
// open under two keys. So the AEAD key and a 32-byte commitment are derived
// together from the key and the random nonce,
//
//	okm = HKDF-SHA256(ikm=key, salt=nonce, info=label, 64)
//	encKey = okm[0:32], commitment = okm[32:64]
//
// and the commitment is stored and checked (in constant time) before
// decrypting. Two keys that yield the same commitment would be an HKDF
// collision. The label separates purposes (envelope, key check, item), so a
// box of one kind can never be opened as another.
func Seal(key []byte, label string, ad, pt []byte) ([]byte, error) {
	return sealWith(rand.Reader, key, label, ad, pt)
}

// SealWithRand is Seal with the nonce drawn from r. It exists for the
// known-answer vectors; everything else uses Seal.
func SealWithRand(r io.Reader, key []byte, label string, ad, pt []byte) ([]byte, error) {
	return sealWith(r, key, label, ad, pt)
}

func sealWith(r io.Reader, key []byte, label string, ad, pt []byte) ([]byte, error) {
	out := make([]byte, NonceSize+CommitmentSize, SealOverhead+len(pt))
	if _, err := io.ReadFull(r, out[:NonceSize]); err != nil {
		return nil, err
	}
	enc, commit, err := subkeys(key, label, out[:NonceSize])
	if err != nil {
		return nil, err
	}
	defer clear(enc)
	copy(out[NonceSize:], commit)
	aead, err := chacha20poly1305.NewX(enc)
	if err != nil {
		return nil, err
	}
	return aead.Seal(out, out[:NonceSize], pt, ad), nil
}

// Open reverses Seal. Any change to the box, the associated data, the label
// or the key gives ErrOpen.
func Open(key []byte, label string, ad, box []byte) ([]byte, error) {
	if len(box) < SealOverhead {
		return nil, ErrOpen
	}
	nonce := box[:NonceSize]
	enc, commit, err := subkeys(key, label, nonce)
	if err != nil {
		return nil, err
	}
	defer clear(enc)
	if subtle.ConstantTimeCompare(commit, box[NonceSize:NonceSize+CommitmentSize]) != 1 {
		return nil, ErrOpen
	}
	aead, err := chacha20poly1305.NewX(enc)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, nonce, box[NonceSize+CommitmentSize:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

func subkeys(key []byte, label string, nonce []byte) (enc, commit []byte, err error) {
	if len(key) != 32 {
		return nil, nil, errors.New("sealing key must be 32 bytes")
	}
	okm, err := hkdf.Key(sha256.New, key, nonce, label, 64)
	if err != nil {
		return nil, nil, err
	}
	return okm[:32], okm[32:], nil
}

// SubKey derives a 32-byte purpose key from a 32-byte key:
// HKDF-SHA256(ikm=key, salt=empty, info=label, 32).
func SubKey(key []byte, label string) *Key32 {
	b, err := hkdf.Key(sha256.New, key, nil, label, 32)
	if err != nil {
		panic(err)
	}
	k := new(Key32)
	copy(k[:], b)
	clear(b)
	return k
}
