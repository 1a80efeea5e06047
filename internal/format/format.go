// Package format encodes and decodes Keyhold's versioned binary formats:
// the account key envelope, the key file armor, the key check, item boxes
// and the vault manifest. docs/SPEC.md specifies each byte; this code
// follows it in order. Every header byte is authenticated as associated
// data of the box that follows it.
package format

import "errors"

// Magic numbers and versions, as in docs/SPEC.md.
const (
	EnvelopeMagic      = "KHEK" // "Keyhold Encrypted Key"
	KeyCheckMagic      = "KHKC" // "Keyhold Key Check"
	ItemMagic          = "KHIT" // "Keyhold ITem"
	ManifestMagic      = "KHMF" // "Keyhold ManiFest"
	Version1      byte = 1
	// Version2 of the envelope adds the password epoch (SPEC §6).
	Version2 byte = 2

	// KDFArgon2id identifies Argon2id version 1.3 (RFC 9106).
	KDFArgon2id byte = 1
)

// Seal labels (HKDF info strings of keys.Seal).
const (
	labelEnvelope = "keyhold v1 envelope"
	labelKeyCheck = "keyhold v1 key check"
	labelItem     = "keyhold v1 item"
	labelManifest = "keyhold v1 manifest key"
)

// Errors shared by the decoders. Callers match them with errors.Is.
var (
	ErrMalformed  = errors.New("malformed data")
	ErrVersion    = errors.New("unsupported format version (made by a newer keyhold?)")
	ErrWrongMagic = errors.New("not a keyhold file of this kind")
	ErrWrongKey   = errors.New("wrong key")
	ErrTampered   = errors.New("data was changed or damaged")
	ErrWrongAcct  = errors.New("belongs to another account")
	ErrOldKey     = errors.New("was made for another version of the account key")
)
