// Package mailticket is the mail ticket: a short-lived permission, signed
// by keyhold-server with Ed25519, for keyhold-mailer to relay one sealed
// recovery kit mail for one account to one address. The mailer has no
// access to the account database; the ticket is all it trusts, checked
// with the server's public key from its own configuration. The ticket
// binds the SHA-256 of the payload the device sealed, its kind and the
// recipient key it was sealed to, so the mailer relays only what the
// account's device made for that address, not any blob a caller brings.
// Format: docs/SPEC.md §15.
package mailticket

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
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

// Magic and version of a ticket. Version 1 (which bound no payload) is
// refused: a version 1 ticket let a mailer send any kit of the account.
const (
	Magic   = "KHMT"
	Version = 2
	// signContext is prepended to the signed bytes so a ticket signature
	// can never be taken for any other Ed25519 signature of the server,
	// nor a version 2 signature for one of version 1.
	signContext = "keyhold mail ticket v2\x00"
	// MaxAddress is the longest destination address (RFC 5321's path limit).
	MaxAddress = 254
	// MaxLifetime is the longest validity a verifier accepts.
	MaxLifetime = time.Hour
	// fixedSize is magic, version, account id, expiry, nonce, kind,
	// payload hash and key length: everything before the key.
	fixedSize = 4 + 1 + 16 + 8 + 16 + 1 + sha256.Size + 1
	// MaxKey is the longest recipient key id (a v6 fingerprint or a
	// SHA-256).
	MaxKey = 32
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

// Kind is how the payload a ticket names was sealed.
type Kind uint8

// The kinds. Zero is no kind: a ticket always names one.
const (
	// KindPlain: the payload is the kit PDF itself, readable by the
	// mailer and every mail server on the way (keyhold kit --unencrypted).
	KindPlain Kind = 1
	// KindPGP: the payload is an armored OpenPGP message holding the
	// whole inner MIME body (RFC 3156); the key id is the recipient key's
	// v4 (20 bytes) or v6 (32 bytes) fingerprint.
	KindPGP Kind = 2
	// KindAge: the payload is an age file of the kit PDF; the key id is
	// AgeRecipientID of the recipient.
	KindAge Kind = 3
)

// ErrKind is a kind or key id a ticket cannot carry.
var ErrKind = errors.New("mail ticket: unknown kind, or a recipient key id that does not fit the kind")

// String is the kind's name in the API: plain, pgp or age.
func (k Kind) String() string {
	switch k {
	case KindPlain:
		return "plain"
	case KindPGP:
		return "pgp"
	case KindAge:
		return "age"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind reads a kind's API name.
func ParseKind(s string) (Kind, error) {
	for _, k := range []Kind{KindPlain, KindPGP, KindAge} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, ErrKind
}

// CheckKey checks that key is a recipient key id of kind k: none for
// plain, a 20- or 32-byte fingerprint for OpenPGP, 32 bytes for age.
func CheckKey(k Kind, key []byte) error {
	switch {
	case k == KindPlain && len(key) == 0,
		k == KindPGP && (len(key) == 20 || len(key) == 32),
		k == KindAge && len(key) == sha256.Size:
		return nil
	}
	return ErrKind
}

// AgeRecipientID is the key id of an age recipient in a ticket: the
// SHA-256 of its text form (age1…). The recipient itself is not in the
// ticket, so the audit log can name it without repeating it.
func AgeRecipientID(recipient string) []byte {
	h := sha256.Sum256([]byte(recipient))
	return h[:]
}

// Ticket is what the server vouches for.
type Ticket struct {
	AccountID [16]byte
	To        string    // the one address the kit may be sent to
	Expires   time.Time // second precision
	Nonce     [16]byte  // accepted once by a mailer
	Kind      Kind
	Payload   [sha256.Size]byte // SHA-256 of the sealed payload
	Key       []byte            // the recipient key id (CheckKey)
}

// Equal reports whether t and u say the same.
func (t *Ticket) Equal(u *Ticket) bool {
	return t.AccountID == u.AccountID && t.To == u.To && t.Expires.Equal(u.Expires) && t.Nonce == u.Nonce &&
		t.Kind == u.Kind && t.Payload == u.Payload && string(t.Key) == string(u.Key)
}

// Matches reports whether payload is the one the ticket names.
func (t *Ticket) Matches(payload []byte) bool {
	return sha256.Sum256(payload) == t.Payload
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

// New makes a ticket with a fresh random nonce for the payload whose
// SHA-256 is payload, sealed as kind for the recipient key id key.
func New(account [16]byte, to string, kind Kind, payload [sha256.Size]byte, key []byte, expires time.Time) (*Ticket, error) {
	if err := CheckAddress(to); err != nil {
		return nil, err
	}
	if err := CheckKey(kind, key); err != nil {
		return nil, err
	}
	t := &Ticket{AccountID: account, To: to, Expires: expires.Truncate(time.Second), Kind: kind, Payload: payload, Key: append([]byte(nil), key...)}
	if _, err := rand.Read(t.Nonce[:]); err != nil {
		return nil, errNoNonceRand
	}
	return t, nil
}

func (t *Ticket) body() []byte {
	b := make([]byte, 0, fixedSize+len(t.Key)+2+len(t.To))
	b = append(b, Magic...)
	b = append(b, Version)
	b = append(b, t.AccountID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(t.Expires.Unix()))
	b = append(b, t.Nonce[:]...)
	b = append(b, byte(t.Kind))
	b = append(b, t.Payload[:]...)
	b = append(b, byte(len(t.Key)))
	b = append(b, t.Key...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(t.To)))
	return append(b, t.To...)
}

// Sign encodes and signs the ticket: body || Ed25519(context || body).
func Sign(priv ed25519.PrivateKey, t *Ticket) ([]byte, error) {
	if err := CheckAddress(t.To); err != nil {
		return nil, err
	}
	if err := CheckKey(t.Kind, t.Key); err != nil {
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
	if len(b) < fixedSize+2+ed25519.SignatureSize {
		return nil, nil, nil, ErrMalformed
	}
	keyLen := int(b[fixedSize-1])
	if keyLen > MaxKey || len(b) < fixedSize+keyLen+2+ed25519.SignatureSize {
		return nil, nil, nil, ErrMalformed
	}
	addrAt := fixedSize + keyLen + 2
	n := int(binary.BigEndian.Uint16(b[addrAt-2 : addrAt]))
	if len(b) != addrAt+n+ed25519.SignatureSize {
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
	t.Kind = Kind(b[45])
	copy(t.Payload[:], b[46:46+sha256.Size])
	t.Key = append([]byte(nil), b[fixedSize:fixedSize+keyLen]...)
	if err := CheckKey(t.Kind, t.Key); err != nil {
		return nil, nil, nil, err
	}
	t.To = string(b[addrAt : addrAt+n])
	if err := CheckAddress(t.To); err != nil {
		return nil, nil, nil, err
	}
	body := b[:addrAt+n]
	return t, body, b[addrAt+n:], nil
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
