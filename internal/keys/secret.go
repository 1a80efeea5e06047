// Package keys holds Keyhold's key material and the primitives built on it:
// the fixed-size key types, the two-secret key derivation (Argon2id of the
// password combined with the device-held Secret Key), and the one sealing
// construction every stored format uses.
//
// Secrets live in fixed-size arrays whose String, Format, GoString and
// LogValue methods redact, so that a stray log line or %v cannot print them,
// and which callers wipe when done. This does not make memory safe; it keeps
// secrets out of logs and shortens their lifetime.
package keys

import (
	"crypto/rand"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
)

const redacted = "[REDACTED]"

// AccountKey is the random 256-bit key that encrypts every item of a vault.
type AccountKey [32]byte

// NewAccountKey returns a fresh random account key.
func NewAccountKey() (*AccountKey, error) {
	k := new(AccountKey)
	if _, err := rand.Read(k[:]); err != nil {
		return nil, fmt.Errorf("reading randomness: %w", err)
	}
	return k, nil
}

// Wipe overwrites the key with zeros.
func (k *AccountKey) Wipe() { wipe(k[:]) }

func (AccountKey) String() string             { return redacted }
func (AccountKey) GoString() string           { return redacted }
func (AccountKey) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }
func (AccountKey) LogValue() slog.Value       { return slog.StringValue(redacted) }

// Key32 is a derived 256-bit key (wrap key, login key, manifest key).
type Key32 [32]byte

// Wipe overwrites the key with zeros.
func (k *Key32) Wipe() { wipe(k[:]) }

func (Key32) String() string             { return redacted }
func (Key32) GoString() string           { return redacted }
func (Key32) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }
func (Key32) LogValue() slog.Value       { return slog.StringValue(redacted) }

// AccountID names an account. It is public: it appears in kits, in the
// vault in the clear and on the server. It is a UUID.
type AccountID [16]byte

// NewAccountID returns a fresh time-ordered (version 7) UUID.
func NewAccountID() (AccountID, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return AccountID{}, fmt.Errorf("making account id: %w", err)
	}
	return AccountID(u), nil
}

// String returns the canonical UUID form.
func (id AccountID) String() string { return uuid.UUID(id).String() }

// ParseAccountID reads the canonical UUID form.
func ParseAccountID(s string) (AccountID, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return AccountID{}, fmt.Errorf("invalid account id %q: expected a UUID", s)
	}
	return AccountID(u), nil
}

func wipe(b []byte) { clear(b) }

// Wipe overwrites a byte slice holding a secret (a password read from the
// terminal, a decrypted item) with zeros.
func Wipe(b []byte) { clear(b) }
