package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// SecretKey is the 128-bit key generated on a device and kept only on the
// user's devices and in the recovery kit. It is the second secret of the key
// derivation: without it, the vault file plus the password is not enough to
// decrypt anything, and a server operator cannot test password guesses.
type SecretKey [16]byte

// SecretKeyPrefix is the version prefix of the Secret Key's human form:
// "K1-" followed by 28 characters of skAlphabet in groups of four.
const SecretKeyPrefix = "K1-"

// skAlphabet has no look-alike characters: no 0, 1, I or O.
const skAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// skCheckLabel domain-separates the 12-bit typo check of the human form.
const skCheckLabel = "keyhold secret key v1\x00"

// Errors reading a Secret Key typed by a user.
var (
	ErrSecretKeyFormat   = errors.New("not a keyhold Secret Key (it looks like K1-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX)")
	ErrSecretKeyChecksum = errors.New("the Secret Key has a typo: its check characters do not match")
)

// NewSecretKey returns a fresh random Secret Key.
func NewSecretKey() (*SecretKey, error) {
	k := new(SecretKey)
	if _, err := rand.Read(k[:]); err != nil {
		return nil, fmt.Errorf("reading randomness: %w", err)
	}
	return k, nil
}

// Wipe overwrites the key with zeros.
func (k *SecretKey) Wipe() { wipe(k[:]) }

func (SecretKey) String() string             { return redacted }
func (SecretKey) GoString() string           { return redacted }
func (SecretKey) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }
func (SecretKey) LogValue() slog.Value       { return slog.StringValue(redacted) }

func skCheck(k *SecretKey) uint16 {
	h := sha256.New()
	h.Write([]byte(skCheckLabel))
	h.Write(k[:])
	var sum [32]byte
	h.Sum(sum[:0])
	return uint16(sum[0])<<4 | uint16(sum[1]>>4) // first 12 bits
}

// Display returns the human form, "K1-" and seven groups of four
// characters: the 128 key bits then a 12-bit check, 5 bits a character.
func (k *SecretKey) Display() string {
	var bits [18]byte // 140 bits, big-endian
	copy(bits[:16], k[:])
	c := skCheck(k)
	bits[16] = byte(c >> 4)
	bits[17] = byte(c << 4)
	var b strings.Builder
	b.WriteString(SecretKeyPrefix)
	for i := range 28 {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(skAlphabet[get5(bits[:], i*5)])
	}
	return b.String()
}

func get5(b []byte, bit int) byte {
	var v byte
	for j := range 5 {
		p := bit + j
		v = v<<1 | (b[p/8]>>(7-p%8))&1
	}
	return v
}

// ParseSecretKey reads the human form. Case, spaces and hyphens are
// ignored. The error never repeats the key.
func ParseSecretKey(s string) (*SecretKey, error) {
	s = strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	if len(s) < 2 || !strings.EqualFold(s[:2], "K1") {
		return nil, ErrSecretKeyFormat
	}
	s = "K1-" + s[2:]
	var bits [18]byte
	n := 0
	for _, r := range s[len(SecretKeyPrefix):] {
		if r == '-' || r == ' ' {
			continue
		}
		if r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		v := strings.IndexRune(skAlphabet, r)
		if v < 0 {
			return nil, fmt.Errorf("%w: character %d is not allowed (0, 1, I and O are never used)", ErrSecretKeyFormat, n+1)
		}
		if n >= 28 {
			return nil, fmt.Errorf("%w: too long", ErrSecretKeyFormat)
		}
		for j := range 5 {
			p := n*5 + j
			if v>>(4-j)&1 == 1 {
				bits[p/8] |= 1 << (7 - p%8)
			}
		}
		n++
	}
	if n != 28 {
		return nil, fmt.Errorf("%w: it has %d of its 28 characters", ErrSecretKeyFormat, n)
	}
	k := new(SecretKey)
	copy(k[:], bits[:16])
	want := skCheck(k)
	got := uint16(bits[16])<<4 | uint16(bits[17]>>4)
	clear(bits[:])
	if subtle.ConstantTimeCompare([]byte{byte(want >> 8), byte(want)}, []byte{byte(got >> 8), byte(got)}) != 1 {
		k.Wipe()
		return nil, ErrSecretKeyChecksum
	}
	return k, nil
}
