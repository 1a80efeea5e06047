package vault

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
)

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
// elsewhere must not be lower), so it is the high-water mark, and the
// only epoch this device trusts. A pending envelope (a password change
// received but not yet opened here) is not authenticated: anyone serving
// bytes could have written its epoch, so it neither raises the floor nor
// the next epoch made here; a later envelope at or above the working
// epoch replaces it (SPEC §6).
//
// A vault made before epochs holds a previous-version envelope (epoch
// 0). The first time the password opens it, Unlock migrates it: the same
// account key, password, Secret Key, salt and key derivation, re-sealed
// as the current version at epoch 1 (migrateEnvelope). The previous
// envelope is remembered as the legacy one: the server (or a folder key
// file) still serving exactly it is nothing new, since the migration
// changed nothing the server holds; any other epoch-0 envelope is below
// the floor.

// metaLegacyEnvelope holds the previous-version envelope the vault was
// migrated from.
const metaLegacyEnvelope = "envelope/legacy"

// epochFloor is the lowest epoch an envelope from elsewhere may carry:
// the working envelope's.
func (v *Vault) epochFloor() uint32 {
	return v.meta.envelope.Epoch
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
// holds was forged or altered. Epoch 0 is the exception for a vault not
// yet migrated (see above): envelopes made before password epochs all
// carry it. (A sync folder may hold two of one epoch, written by devices
// that changed the password while apart, so folder envelopes are checked
// with checkEpoch.)
func checkServerEpoch(env *format.Envelope, floor uint32) error {
	if err := checkEpoch(env, floor, fromServer); err != nil {
		return err
	}
	if env.Epoch == floor && floor > 0 {
		return &OldEnvelopeError{From: fromServer, Epoch: env.Epoch, Adopted: floor, Same: true}
	}
	return nil
}

// nextEpoch is the epoch of an envelope made here: above the working
// envelope's, the highest epoch this device has authenticated. An honest
// server's epoch is never above it unless another device changed the
// password since, and then this device cannot prove the current password
// to the server anyway; a server that was ahead refuses the change
// (old_epoch) and the device syncs first. A pending envelope's epoch is
// not counted: a forged one must not exhaust the epochs.
func (v *Vault) nextEpoch() (uint32, error) {
	floor := v.epochFloor()
	if floor == math.MaxUint32 {
		return 0, errors.New("the account's password epoch is exhausted; set up a new account")
	}
	return floor + 1, nil
}

// legacyEnvelope returns the previous-version envelope the working one
// was migrated from, or nil: only while the working envelope is that
// migration (same key version and salt; a password change draws a new
// salt, a rotation a new key version), so after a real change the legacy
// envelope is as old as any other.
func (v *Vault) legacyEnvelope() *format.Envelope {
	var b []byte
	if err := v.db.QueryRow(`SELECT v FROM meta WHERE k = ?`, metaLegacyEnvelope).Scan(&b); err != nil {
		return nil
	}
	env, err := format.ParseEnvelope(b)
	cur := v.meta.envelope
	if err != nil || env.Version != format.Version1 || env.AccountID != cur.AccountID || env.KeyVersion != cur.KeyVersion ||
		env.Salt != cur.Salt || env.KDF != cur.KDF || env.SecretKeyCheck != cur.SecretKeyCheck {
		return nil
	}
	return env
}

// LegacyHeader returns the header of the previous-version envelope this
// vault was migrated from while the working envelope is its migration,
// or nil. Login parameters equal to it are the server's honest ones: the
// migration happened on this device alone.
func (v *Vault) LegacyHeader() []byte {
	if env := v.legacyEnvelope(); env != nil {
		return env.Header()
	}
	return nil
}

// pendingPreviousVersion reports whether the vault holds a password change
// of the previous version aside (an envelope without an epoch, which a
// migrated vault would refuse as older).
func (v *Vault) pendingPreviousVersion() bool {
	pend, err := v.pendingEnvelope()
	return err == nil && pend != nil && pend.Version == format.Version1
}

// migrateEnvelope replaces old, the working envelope of the previous
// version that the password just opened to ak with derived keys d, by
// the same wrap of the same key in the current version at epoch 1, and
// remembers old as the legacy envelope, in one transaction. The salt and
// key derivation stay, so the password and the login key (and so the
// server's login record) are unchanged. It returns the envelope now
// working.
func (v *Vault) migrateEnvelope(old *format.Envelope, ak *keys.AccountKey, d *keys.Derived) (*format.Envelope, error) {
	u, err := old.Upgrade(ak, d, old.Epoch+1)
	if err != nil {
		return nil, err
	}
	// Verify: decode what will be stored and open it.
	env, err := format.ParseEnvelope(u.Marshal())
	if err != nil {
		return nil, err
	}
	ak2, err := env.OpenDerived(d)
	if err != nil {
		return nil, fmt.Errorf("the migrated envelope does not open; nothing was changed: %w", err)
	}
	same := subtle.ConstantTimeCompare(ak2[:], ak[:]) == 1
	ak2.Wipe()
	if !same {
		return nil, errors.New("the migrated envelope holds another key; nothing was changed")
	}
	tx, err := v.db.Begin()
	if err != nil {
		return nil, dbError(v.path(), err)
	}
	defer tx.Rollback()
	var cur []byte
	if err := tx.QueryRow(`SELECT v FROM meta WHERE k = 'envelope'`).Scan(&cur); err != nil {
		return nil, dbError(v.path(), err)
	}
	if !bytes.Equal(cur, old.Marshal()) {
		// Another process changed it meanwhile (migrated it, or promoted
		// a password change); take what it wrote.
		now, err := format.ParseEnvelope(cur)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: envelope: %v", ErrDamaged, v.path(), err)
		}
		v.meta.envelope = now
		return now, nil
	}
	if _, err := tx.Exec(`UPDATE meta SET v = ? WHERE k = 'envelope'`, env.Marshal()); err != nil {
		return nil, dbError(v.path(), err)
	}
	if _, err := tx.Exec(`INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, metaLegacyEnvelope, old.Marshal()); err != nil {
		return nil, dbError(v.path(), err)
	}
	if err := tx.Commit(); err != nil {
		return nil, dbError(v.path(), err)
	}
	v.meta.envelope = env
	return env, nil
}
