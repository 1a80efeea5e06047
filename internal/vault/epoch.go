package vault

import (
	"errors"
	"fmt"
	"math"

	"github.com/keyhold/keyhold/internal/format"
)

// ErrOldEnvelope means a server or sync folder handed this device an
// account key envelope whose password epoch is lower than one the device
// already adopted: a replay of an older password. Match it with
// errors.Is; the error itself is an *OldEnvelopeError.
var ErrOldEnvelope = errors.New("account key envelope older than one this device already adopted")

// OldEnvelopeError is ErrOldEnvelope with the epochs and who sent it.
type OldEnvelopeError struct {
	From    string // "the server", "the sync folder"
	Epoch   uint32 // the envelope's
	Adopted uint32 // the highest this device adopted
	// Same is set when the envelope is another one of the same epoch
	// as the one this device holds: the server stores an envelope only
	// when its epoch rises, so it never honestly holds two of one epoch.
	Same bool
}

func (e *OldEnvelopeError) Error() string {
	if e.Same {
		return fmt.Sprintf("%s sent an account key envelope that differs from the one this device holds at the same password epoch (%d): a server never keeps two of one epoch, so it was forged or altered; nothing was changed",
			e.From, e.Epoch)
	}
	return fmt.Sprintf("%s sent an account key envelope older than one this device already adopted (epoch %d < %d): it may be replaying an old password; nothing was changed",
		e.From, e.Epoch, e.Adopted)
}

// Is makes errors.Is(err, ErrOldEnvelope) hold.
func (e *OldEnvelopeError) Is(target error) bool { return target == ErrOldEnvelope }

// Where an envelope came from, for OldEnvelopeError.
const (
	fromServer = "the server"
	fromFolder = "the sync folder"
)

// The highest password epoch a device has adopted is the epoch of its
// working envelope: the one the password opened, whose header (and so
// whose epoch) the account key's wrap authenticates. The working
// envelope is only ever replaced by one of an equal or higher epoch (a
// password change or rotation made here raises it; one adopted from
// elsewhere must not be lower), so it is the high-water mark. A vault
// made before epochs holds a previous-version envelope, read as epoch 0:
// it needs no rewrite, and its first password change or rotation writes
// the current version.

// epochFloor is the lowest epoch an envelope from elsewhere may carry:
// the working envelope's, or the pending one's if it is higher (a
// password change already received must not be undone by an older one
// before it is used).
func (v *Vault) epochFloor() uint32 {
	floor := v.meta.envelope.Epoch
	if pend, err := v.pendingEnvelope(); err == nil && pend != nil {
		floor = max(floor, pend.Epoch)
	}
	return floor
}

// checkEpoch refuses an envelope older than floor.
func checkEpoch(env *format.Envelope, floor uint32, from string) error {
	if env.Epoch < floor {
		return &OldEnvelopeError{From: from, Epoch: env.Epoch, Adopted: floor}
	}
	return nil
}

// checkServerEpoch refuses an envelope from the server that differs from
// every one this device holds (the caller has compared the bytes) unless
// its epoch is above floor: the server stores a new envelope only when
// its epoch rises, so another envelope at an epoch the device already
// holds was forged or altered. Epoch 0 is the exception: envelopes made
// before password epochs all carry it. (A sync folder may hold two of one
// epoch, written by devices that changed the password while apart, so
// folder envelopes are checked with checkEpoch.)
func checkServerEpoch(env *format.Envelope, floor uint32) error {
	if err := checkEpoch(env, floor, fromServer); err != nil {
		return err
	}
	if env.Epoch == floor && floor > 0 {
		return &OldEnvelopeError{From: fromServer, Epoch: env.Epoch, Adopted: floor, Same: true}
	}
	return nil
}

// nextEpoch is the epoch of an envelope made here: above every epoch this
// device has seen, so that the server (which refuses an epoch that does
// not go up) and every other device take it as newer.
func (v *Vault) nextEpoch() (uint32, error) {
	floor := v.epochFloor()
	if floor == math.MaxUint32 {
		return 0, errors.New("the account's password epoch is exhausted; set up a new account")
	}
	return floor + 1, nil
}
