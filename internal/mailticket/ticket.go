// Package mailticket is the mail ticket: a short-lived permission, signed
// by keyhold-server with Ed25519, for keyhold-mailer to send one recovery
// kit email for one account to one address. The mailer has no access to
// the account database; the ticket is all it trusts, checked with the
// server's public key from its own configuration. Format: docs/SPEC.md §15.
package mailticket

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Magic and version of a ticket.
const (
	Magic   = "KHMT"
	Version = 1
	// signContext is prepended to the signed bytes so a ticket signature
	// can never be taken for any other Ed25519 signature of the server.
	signContext = "keyhold mail ticket v1\x00"
	// MaxAddress is the longest destination address (RFC 5321's path limit).
	MaxAddress = 254
	// MaxLifetime is the longest validity a verifier accepts.
	MaxLifetime = time.Hour
	// headerSize is magic, version, account id, expiry, nonce, address length.
	headerSize = 4 + 1 + 16 + 8 + 16 + 2
	// PublicKeyPrefix starts the text form of the server's public key.
	PublicKeyPrefix = "keyhold-mail-key-v1:"
)

// Errors a verifier reports; the mailer turns each into a refusal.
var (
	ErrMalformed   = errors.New("mail ticket: malformed")
	ErrVersion     = errors.New("mail ticket: unsupported version")
	ErrForged      = errors.New("mail ticket: signature does not verify with the server's key")
	ErrExpired     = errors.New("mail ticket: expired")
	ErrTooLong     = errors.New("mail ticket: valid for longer than a verifier accepts")
	ErrBadAddress  = errors.New("mail ticket: the address is not a plain email address")
	ErrBadKey      = errors.New("not a keyhold mail public key (expected " + PublicKeyPrefix + "BASE64)")
	ErrBadKeyFile  = errors.New("cannot read the keyhold mail public key file")
	errNoNonceRand = errors.New("mail ticket: no randomness for the nonce")
)

// Ticket is what the server vouches for.
type Ticket struct {
	AccountID [16]byte
	To        string    // the one address the kit may be sent to
	Expires   time.Time // second precision
	Nonce     [16]byte  // accepted once by a mailer
}

// CheckAddress accepts a plain address: local@domain, printable ASCII or
// UTF-8 without spaces, angle brackets, commas, quotes, control characters
// (C0 and C1) or bidirectional formatting characters, at most MaxAddress
// bytes. Display names and lists are refused, so a ticket names exactly
// one mailbox; the address is shown in the audit log and mail headers, so
// it may hold nothing that reorders or breaks a line there.
func CheckAddress(a string) error {
	if a == "" || len(a) > MaxAddress || !utf8.ValidString(a) {
		return ErrBadAddress
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.Count(a, "@") != 1 {
		return ErrBadAddress
	}
	for _, r := range a {
		if r <= ' ' || unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Bidi_Control, r) ||
			strings.ContainsRune("<>(),;:\\\"[]", r) {
			return ErrBadAddress
		}
	}
	if !strings.Contains(a[at+1:], ".") || strings.HasPrefix(a[at+1:], ".") || strings.HasSuffix(a, ".") {
		return ErrBadAddress
	}
	return nil
}

// New makes a ticket with a fresh random nonce.
func New(account [16]byte, to string, expires time.Time) (*Ticket, error) {
	if err := CheckAddress(to); err != nil {
		return nil, err
	}
	t := &Ticket{AccountID: account, To: to, Expires: expires.Truncate(time.Second)}
	if _, err := rand.Read(t.Nonce[:]); err != nil {
		return nil, errNoNonceRand
	}
	return t, nil
}

func (t *Ticket) body() []byte {
	b := make([]byte, 0, headerSize+len(t.To))
	b = append(b, Magic...)
	b = append(b, Version)
	b = append(b, t.AccountID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(t.Expires.Unix()))
	b = append(b, t.Nonce[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(t.To)))
	return append(b, t.To...)
}

// Sign encodes and signs the ticket: body || Ed25519(context || body).
func Sign(priv ed25519.PrivateKey, t *Ticket) ([]byte, error) {
	if err := CheckAddress(t.To); err != nil {
		return nil, err
	}
	if t.Expires.Unix() < 0 || t.Expires.Unix() > 1<<62 {
		return nil, errors.New("mail ticket: expiry out of range")
	}
	body := t.body()
	sig := ed25519.Sign(priv, append([]byte(signContext), body...))
	return append(body, sig...), nil
}

// Parse decodes a ticket without verifying it.
func Parse(b []byte) (*Ticket, []byte, []byte, error) {
	if len(b) < 5 {
		return nil, nil, nil, ErrMalformed
	}
	if string(b[:4]) != Magic {
		return nil, nil, nil, ErrMalformed
	}
	if b[4] != Version {
		return nil, nil, nil, ErrVersion
	}
	if len(b) < headerSize+ed25519.SignatureSize {
		return nil, nil, nil, ErrMalformed
	}
	n := int(binary.BigEndian.Uint16(b[headerSize-2 : headerSize]))
	if len(b) != headerSize+n+ed25519.SignatureSize {
		return nil, nil, nil, ErrMalformed
	}
	t := &Ticket{}
	copy(t.AccountID[:], b[5:21])
	exp := binary.BigEndian.Uint64(b[21:29])
	if exp > 1<<62 {
		return nil, nil, nil, ErrMalformed
	}
	t.Expires = time.Unix(int64(exp), 0).UTC()
	copy(t.Nonce[:], b[29:45])
	t.To = string(b[headerSize : headerSize+n])
	if err := CheckAddress(t.To); err != nil {
		return nil, nil, nil, err
	}
	body := b[:headerSize+n]
	return t, body, b[headerSize+n:], nil
}

// Verify checks a ticket in this order: format, signature, expiry (with
// now), and that its lifetime is within MaxLifetime of now. The caller
// then checks the nonce has not been seen and records it.
func Verify(pub ed25519.PublicKey, b []byte, now time.Time) (*Ticket, error) {
	t, body, sig, err := Parse(b)
	if err != nil {
		return nil, err
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, append([]byte(signContext), body...), sig) {
		return nil, ErrForged
	}
	if !now.Before(t.Expires) {
		return nil, ErrExpired
	}
	if t.Expires.Sub(now) > MaxLifetime {
		return nil, ErrTooLong
	}
	return t, nil
}

// FormatPublicKey is the text form the server prints and the mailer reads.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads the text form.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, PublicKeyPrefix)
	if !ok {
		return nil, ErrBadKey
	}
	b, err := base64.StdEncoding.Strict().DecodeString(rest)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, ErrBadKey
	}
	return ed25519.PublicKey(b), nil
}

// LoadPublicKey takes the key itself or the name of a file holding it.
func LoadPublicKey(keyOrFile string) (ed25519.PublicKey, error) {
	if strings.HasPrefix(strings.TrimSpace(keyOrFile), PublicKeyPrefix) {
		return ParsePublicKey(keyOrFile)
	}
	b, err := os.ReadFile(keyOrFile)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrBadKeyFile, keyOrFile, err)
	}
	return ParsePublicKey(string(b))
}

// KeyFromSeed derives the signing key from a stored 32-byte seed.
func KeyFromSeed(seed []byte) (ed25519.PrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("mail ticket key: the stored seed is damaged")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
