package api

import "encoding/binary"

// Where the public fields the server needs lie in an envelope (SPEC §6).
// The server may not import the package that parses envelopes (it never
// handles what unwraps the account key), so it reads these alone.
const (
	envelopeMagic   = "KHEK"
	envelopeV1      = 1
	envelopeV2      = 2
	envelopeEpochAt = 25 // u32, after magic, version, account id, key version
)

// EnvelopeHeaderLen returns the length of the public header that starts
// the envelope b, from its magic and version byte, or 0 if b does not
// start like an envelope of a version this code knows.
func EnvelopeHeaderLen(b []byte) int {
	if len(b) < 5 || string(b[:4]) != envelopeMagic {
		return 0
	}
	switch b[4] {
	case envelopeV1:
		return EnvelopeHeaderSizeV1
	case envelopeV2:
		return EnvelopeHeaderSize
	}
	return 0
}

// EnvelopeEpoch returns the password epoch of the envelope (or envelope
// header) b: 0 for the previous version, which has none. ok is false if
// b is not long enough to be an envelope header of a known version. The
// epoch is inside the envelope's authenticated header, so a device that
// later opens the envelope sees the same number the server compared.
func EnvelopeEpoch(b []byte) (epoch uint32, ok bool) {
	n := EnvelopeHeaderLen(b)
	if n == 0 || len(b) < n {
		return 0, false
	}
	if b[4] == envelopeV1 {
		return 0, true
	}
	return binary.BigEndian.Uint32(b[envelopeEpochAt:]), true
}

// CodeOldEpoch refuses a password change or key rotation whose envelope's
// password epoch is not above the account's current one (409): another
// device changed the password or rotated meanwhile, or the request is a
// replay. The device syncs, unlocks with the newest password, and tries
// again.
const CodeOldEpoch = "old_epoch"
