// Package kit is the Keyhold recovery kit: the small record (account id,
// Secret Key, sync location) that lets a new device join an account, its
// versioned one-line text form (the "setup code"), and its renderings as a
// QR code, a printable PDF and a terminal drawing, plus reading a kit back
// from any of them.
//
// The kit never carries the password, and never the encrypted account key:
// a kit alone, or a kit plus a stolen vault, is not enough for an offline
// password guess without the other half.
//
// The text form is a published format, specified in docs/SPEC.md §12, with
// known-answer vectors in testdata/vectors/kit/.
package kit

import "github.com/keyhold/keyhold/internal/kit/kittext"

// The kit's record and text form live in package kittext, which links
// nothing of the renderings below; these names keep every caller's.
type (
	// Kit is what a new device needs, besides the password, to join an
	// account (kittext.Kit).
	Kit = kittext.Kit
	// Sheet is what the printable kit shows (kittext.Sheet).
	Sheet = kittext.Sheet
)

// MaxSyncLocation is the largest sync location a kit may carry.
const MaxSyncLocation = kittext.MaxSyncLocation

// Errors of the text form (see kittext).
var (
	ErrNotKit       = kittext.ErrNotKit
	ErrKitVersion   = kittext.ErrKitVersion
	ErrKitChar      = kittext.ErrKitChar
	ErrKitChecksum  = kittext.ErrKitChecksum
	ErrKitTruncated = kittext.ErrKitTruncated
	ErrKitMalformed = kittext.ErrKitMalformed
	ErrNoSecretKey  = kittext.ErrNoSecretKey
)

// Parse reads a kit from its text form (kittext.Parse).
func Parse(s string) (Kit, error) { return kittext.Parse(s) }

// ParsePrinted reads the account id and Secret Key as printed on the kit
// (kittext.ParsePrinted).
func ParsePrinted(s string) (Kit, error) { return kittext.ParsePrinted(s) }

func parseTyped(s string) (Kit, error) { return kittext.ParseTyped(s) }
