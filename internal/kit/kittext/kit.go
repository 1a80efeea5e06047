// Package kittext is the recovery kit's record and its versioned
// one-line text form, the "setup code" (docs/SPEC.md §12), with nothing
// of the kit's renderings: package kit draws and reads its QR code and
// PDF, which need image and PDF libraries that a client reading only the
// typed code (the web vault's main module) does not link.
package kittext

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// textPrefix is the version-1 prefix of the text form: "KH" for
	// Keyhold, the format number, and a hyphen.
	textPrefix = "KH1-"

	// checkLabel is the domain separation prefix hashed before the payload
	// to compute the check bytes: "keyhold kit v1" followed by a NUL byte.
	checkLabel = "keyhold kit v1\x00"

	// checkLen is the number of SHA-256 bytes appended as check bytes.
	// Three bytes (24 bits) catch every typo a person is likely to make
	// and all but one in sixteen million random ones, while keeping the
	// text short enough to type.
	checkLen = 3

	// alphabet is the base32 alphabet of the text form: digits and upper
	// case letters without 0, 1, I and O, so that no two characters look
	// alike on paper or in a photo.
	alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

	// groupLen is the number of characters between hyphens in the text.
	groupLen = 5

	// MaxSyncLocation is the largest SyncLocation, in bytes, that a kit
	// may carry. It bounds the text form at a size that still fits a QR
	// code a phone can scan from paper.
	MaxSyncLocation = 512

	// fixedLen is the size of the data without the sync location: account
	// id, Secret Key, length field and check bytes.
	fixedLen = 16 + 16 + 2 + checkLen
)

// encoding is base32 (RFC 4648 bit order) over alphabet, without padding.
var encoding = base32.NewEncoding(alphabet).WithPadding(base32.NoPadding)

// Errors returned by Parse. Each is wrapped with detail; test with
// errors.Is. None of them ever contains the kit text.
var (
	// ErrNotKit means the text does not start with "KH", a format number
	// and a hyphen.
	ErrNotKit = errors.New("this is not a keyhold recovery kit (it should start with KH1-)")

	// ErrKitVersion means the text is a kit in a format this keyhold does
	// not know, made by a newer keyhold.
	ErrKitVersion = errors.New("this kit was made by a newer keyhold")

	// ErrKitChar means the text contains a character that never appears
	// in a kit.
	ErrKitChar = errors.New("the kit text has a character that is never used in a kit")

	// ErrKitChecksum means the check characters do not match the rest:
	// the text has a typo.
	ErrKitChecksum = errors.New("the kit text has a typo: its check characters do not match; compare it with the printed kit again")

	// ErrKitTruncated means the text is too short, or too long, for the
	// data it declares: characters or whole groups are missing or extra.
	ErrKitTruncated = errors.New("the kit text is incomplete: characters are missing or extra; compare it with the printed kit again")

	// ErrKitMalformed means the text decodes and its check characters
	// match, but what it holds is not a valid kit (a sync location that is
	// too long, not UTF-8, or contains control characters; or trailing
	// bytes). Only a broken or hostile kit maker produces this.
	ErrKitMalformed = errors.New("the kit is malformed")
)

// Kit is what a new device needs, besides the password, to join an
// account.
//
// SecretKey is secret: String, Format, GoString and LogValue never show
// it; only Text does, because the text form is the kit itself.
type Kit struct {
	// AccountID is the account's UUID, as its 16 bytes.
	AccountID [16]byte
	// SecretKey is the raw 128-bit Secret Key.
	SecretKey [16]byte
	// SyncLocation tells the new device where the vault lives: "" for
	// none, a server URL, or a folder. UTF-8 without control characters,
	// at most MaxSyncLocation bytes.
	SyncLocation string
}

// Wipe zeroes the Secret Key. The account id and sync location are not
// secret and are kept, so the kit can still be described in messages.
func (k *Kit) Wipe() {
	clear(k.SecretKey[:])
}

// Validate reports whether k can be written as text: whether SyncLocation
// is UTF-8 without control characters and at most MaxSyncLocation bytes.
// Kits returned by Parse are always valid.
func (k Kit) Validate() error {
	return validateSyncLocation(k.SyncLocation)
}

func validateSyncLocation(s string) error {
	if len(s) > MaxSyncLocation {
		return fmt.Errorf("%w: its sync location is %d bytes long; the limit is %d", ErrKitMalformed, len(s), MaxSyncLocation)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: its sync location is not valid UTF-8", ErrKitMalformed)
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: its sync location has a control character (%U) at byte %d", ErrKitMalformed, r, i)
		}
	}
	return nil
}

// Text returns the kit's one-line text form, such as
// "KH1-ABCDE-FGHJK-…". This is the secret-bearing form: it is the kit.
//
// Text panics if k is not valid (see Validate): that is a bug in the
// caller, which must validate a sync location when it accepts one. Kits
// returned by Parse are always valid.
func (k Kit) Text() string {
	if err := k.Validate(); err != nil {
		panic("kit: Text called on an invalid kit: " + err.Error())
	}
	data := make([]byte, 0, fixedLen+len(k.SyncLocation))
	data = append(data, k.AccountID[:]...)
	data = append(data, k.SecretKey[:]...)
	data = binary.BigEndian.AppendUint16(data, uint16(len(k.SyncLocation)))
	data = append(data, k.SyncLocation...)
	sum := checkSum(data)
	data = append(data, sum[:checkLen]...)

	body := encoding.EncodeToString(data)
	clear(data)
	return textPrefix + group(body)
}

// checkSum returns SHA-256(checkLabel || payload).
func checkSum(payload []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(checkLabel))
	h.Write(payload)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// group splits body into groups of groupLen characters joined by hyphens.
func group(body string) string {
	var b strings.Builder
	b.Grow(len(body) + len(body)/groupLen)
	for i := 0; i < len(body); i += groupLen {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(body[i:min(i+groupLen, len(body))])
	}
	return b.String()
}

// Parse reads a kit from its text form. It is forgiving about what people
// and scanners do to text — surrounding space, lower case, line breaks,
// missing or extra hyphens, spaces instead of hyphens (even after "KH1")
// — and strict about everything else, so that
// every kit has exactly one canonical text (Parse(s).Text()).
//
// Errors wrap ErrNotKit, ErrKitVersion, ErrKitChar, ErrKitChecksum,
// ErrKitTruncated or ErrKitMalformed, and never contain the text, except
// for a single offending character and its position.
func Parse(s string) (Kit, error) {
	body, err := normalize(s)
	if err != nil {
		return Kit{}, err
	}

	if len(body) > encoding.EncodedLen(fixedLen+MaxSyncLocation) {
		return Kit{}, fmt.Errorf("%w (it is longer than any kit)", ErrKitTruncated)
	}
	// Lengths of 1, 3 or 6 characters modulo 8 are impossible in base32:
	// a character was lost or added.
	switch len(body) % 8 {
	case 1, 3, 6:
		return Kit{}, fmt.Errorf("%w (%d characters is not a possible length)", ErrKitTruncated, len(body))
	}
	data := make([]byte, encoding.DecodedLen(len(body)))
	defer clear(data)
	n, err := encoding.Decode(data, []byte(body))
	if err != nil {
		// Unreachable: characters and length were checked above.
		return Kit{}, fmt.Errorf("%w (it does not decode)", ErrKitTruncated)
	}
	data = data[:n]
	if len(data) < fixedLen {
		return Kit{}, fmt.Errorf("%w (it is too short)", ErrKitTruncated)
	}

	// When the check fails and the length field disagrees with the
	// amount of data, characters were most likely lost or added (a
	// missing group, a line not copied) rather than mistyped.
	syncLen := int(binary.BigEndian.Uint16(data[32:34]))
	lengthErr := func() error {
		if fixedLen+syncLen > len(data) {
			return fmt.Errorf("%w (it is shorter than it says)", ErrKitTruncated)
		}
		return fmt.Errorf("%w (it is longer than it says)", ErrKitTruncated)
	}
	mismatch := fixedLen+syncLen != len(data)

	// The decoder ignores the unused low bits of the last character, so
	// a text whose last character differs only in those bits would decode
	// to the same kit. Reject it, so that each kit has exactly one text.
	if encoding.EncodeToString(data) != body {
		if mismatch {
			return Kit{}, lengthErr()
		}
		return Kit{}, fmt.Errorf("%w (the last character cannot end a kit)", ErrKitChecksum)
	}

	payload, check := data[:len(data)-checkLen], data[len(data)-checkLen:]
	sum := checkSum(payload)
	if subtle.ConstantTimeCompare(sum[:checkLen], check) != 1 {
		if mismatch {
			return Kit{}, lengthErr()
		}
		return Kit{}, ErrKitChecksum
	}

	switch {
	case syncLen > MaxSyncLocation:
		return Kit{}, fmt.Errorf("%w: its sync location is %d bytes long; the limit is %d", ErrKitMalformed, syncLen, MaxSyncLocation)
	case fixedLen+syncLen > len(data):
		return Kit{}, lengthErr()
	case fixedLen+syncLen < len(data):
		return Kit{}, fmt.Errorf("%w: it has %d bytes of trailing data", ErrKitMalformed, len(data)-fixedLen-syncLen)
	}

	var k Kit
	copy(k.AccountID[:], data[0:16])
	copy(k.SecretKey[:], data[16:32])
	k.SyncLocation = string(data[34 : 34+syncLen])
	if err := validateSyncLocation(k.SyncLocation); err != nil {
		k.Wipe()
		return Kit{}, err
	}
	return k, nil
}

// normalize checks the prefix of s and returns its body: the characters
// after the prefix, upper-cased, without spaces, tabs, line breaks and
// hyphens, all in the alphabet.
func normalize(s string) (string, error) {
	s = strings.TrimSpace(s)

	// "KH" + format number + "-", case-insensitive.
	if len(s) < 2 || !strings.EqualFold(s[:2], "KH") {
		return "", ErrNotKit
	}
	i := 2
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	digits := s[2:i]
	if digits == "" || i == len(s) || digits[0] == '0' {
		return "", ErrNotKit
	}
	switch s[i] {
	case '-', ' ', '\t', '\n', '\r':
		i++
	default:
		// Typed without separators ("kh122al6…"): the body may start
		// with a digit, so the format number is the first digit alone.
		i = 3
		digits = s[2:3]
	}
	if digits != "1" {
		if len(digits) > 6 {
			return "", ErrNotKit
		}
		return "", fmt.Errorf("%w (format %s); upgrade keyhold to read it", ErrKitVersion, digits)
	}
	rest := s[i:]

	b := make([]byte, 0, len(rest))
	pos := 0 // index of the next character in the body
	for _, r := range rest {
		switch r {
		case ' ', '\t', '\n', '\r', '-':
			continue
		}
		if r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		if r > unicode.MaxASCII || strings.IndexByte(alphabet, byte(r)) < 0 {
			clear(b)
			return "", charError(r, pos)
		}
		b = append(b, byte(r))
		pos++
	}
	return string(b), nil
}

// charError describes a character outside the alphabet at body index pos.
// The position is given in the printed grouping, which is what the user
// compares against.
func charError(r rune, pos int) error {
	// Lower case was folded to upper case before we get here, so the
	// look-alikes left are these four.
	hint := "; kits use only the digits 2-9 and the letters A-Z (0/O and 1/I are never used)"
	switch r {
	case '0', 'O', '1', 'I':
		hint = "; kits never use 0, O, 1 or I, so read that character again on the printed kit"
	}
	return fmt.Errorf("%w: %s in group %d, position %d%s", ErrKitChar,
		quoteChar(r), pos/groupLen+1, pos%groupLen+1, hint)
}

// quoteChar shows r so that it is visible even if it is a control or
// space-like character.
func quoteChar(r rune) string {
	if r == utf8.RuneError {
		return "an invalid byte"
	}
	if unicode.IsPrint(r) && r != ' ' {
		return strconv.Quote(string(r))
	}
	return fmt.Sprintf("character %U", r)
}

// Alphabet is the text form's base32 alphabet.
const Alphabet = alphabet

// AccountIDString formats the account id the way UUIDs are usually shown.
func (k Kit) AccountIDString() string { return k.accountString() }

// accountString formats the account id the way UUIDs are usually shown.
func (k Kit) accountString() string {
	h := hex.EncodeToString(k.AccountID[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// String returns a redacted description of the kit: the account id and
// sync location, never the Secret Key.
func (k Kit) String() string {
	return fmt.Sprintf("kit{account %s, secret key REDACTED, sync location %q}", k.accountString(), k.SyncLocation)
}

// GoString is the same as String, so %#v never shows the Secret Key.
func (k Kit) GoString() string { return k.String() }

// Format makes every fmt verb (%v, %+v, %#v, %s, %x, %q, …) print the
// redacted String, so a kit cannot leak through a format string.
func (k Kit) Format(f fmt.State, verb rune) {
	fmt.Fprint(f, k.String())
}

// LogValue keeps the Secret Key out of structured logs.
func (k Kit) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account", k.accountString()),
		slog.String("secret_key", "REDACTED"),
		slog.String("sync_location", k.SyncLocation),
	)
}

var (
	_ fmt.Stringer   = Kit{}
	_ fmt.GoStringer = Kit{}
	_ fmt.Formatter  = Kit{}
	_ slog.LogValuer = Kit{}
)
