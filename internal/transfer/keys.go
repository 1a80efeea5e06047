package transfer

import (
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
)

// Scrypt work factors (log2 of scrypt's N) for passphrase exports.
const (
	// DefaultWorkFactor is age's default for new files, about a second on
	// a current machine; PassphraseRecipient uses it when given 0.
	DefaultWorkFactor = 18
	// MaxWorkFactor is the most PassphraseRecipient accepts: age's own
	// cap when decrypting, so every export written can be read back.
	MaxWorkFactor = 22
)

// PassphraseRecipient returns the age scrypt recipient that encrypts an
// export to a passphrase. workFactor 0 means age's default
// (DefaultWorkFactor). Lower values are for tests and benchmarks only: they
// make guessing the passphrase proportionally cheaper.
//
// age's API takes the passphrase as a string, so it is converted here, at
// the last moment; that copy cannot be wiped, and lives until the garbage
// collector reclaims it (age keeps its own []byte copy in the recipient).
// The caller may wipe pass after this returns.
func PassphraseRecipient(pass []byte, workFactor int) (age.Recipient, error) {
	if len(pass) == 0 {
		return nil, errors.New("the export passphrase is empty; choose one")
	}
	if workFactor < 0 || workFactor > MaxWorkFactor {
		return nil, fmt.Errorf("the scrypt work factor must be between 1 and %d (or 0 for the default)", MaxWorkFactor)
	}
	r, err := age.NewScryptRecipient(string(pass))
	if err != nil {
		return nil, err
	}
	if workFactor != 0 {
		r.SetWorkFactor(workFactor)
	}
	return r, nil
}

// PassphraseIdentity returns the age scrypt identity that decrypts an
// export protected by a passphrase. It accepts work factors up to age's
// cap (MaxWorkFactor, some fifteen seconds), so a hostile file cannot make
// ReadExport work for longer than that. As for PassphraseRecipient, the
// passphrase becomes a string at the last moment because age requires one.
func PassphraseIdentity(pass []byte) (age.Identity, error) {
	if len(pass) == 0 {
		return nil, errors.New("the export passphrase is empty")
	}
	id, err := age.NewScryptIdentity(string(pass))
	if err != nil {
		return nil, err
	}
	id.SetMaxWorkFactor(MaxWorkFactor)
	return id, nil
}

// ParseRecipient parses an age X25519 recipient ("age1…"), the public half
// of a key made by age-keygen. Its errors never repeat the input, in case
// a secret was pasted by mistake.
func ParseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "AGE-SECRET-KEY-"):
		return nil, errors.New("this is an age identity (a secret key), not a recipient; give its public recipient, printed by age-keygen -y")
	case strings.HasPrefix(s, "age1pq1"):
		return nil, errors.New("post-quantum age recipients (age1pq1…) are not supported yet; use an X25519 recipient (age1…)")
	case strings.HasPrefix(s, "ssh-"):
		return nil, errors.New("SSH keys are not supported as export recipients; use an age recipient (age1…)")
	}
	r, err := age.ParseX25519Recipient(s)
	if err != nil {
		return nil, errors.New("not a valid age recipient; expected the public key printed by age-keygen, starting with age1")
	}
	return r, nil
}
