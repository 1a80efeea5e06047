package syncclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// ErrNoProof means an account change reached the server without a fresh
// proof of the password (docs/LOGIN.md "Fresh proof").
var ErrNoProof = errors.New("the server wants a fresh proof of the current password for this change; run the command again")

// Reauth proves the current login key for the session in cl (a login
// finished in reauth mode, docs/LOGIN.md "Fresh proof"): the server then
// allows this session one account change within a few minutes. A session
// that has ended is logged in again first with the same key, and cfg
// keeps the new token (the caller saves it).
func Reauth(ctx context.Context, cl *api.Client, cfg *Config, id keys.AccountID, login *keys.Key32) error {
	if cl.Token() == "" {
		if err := Login(ctx, cl, cfg, id, login); err != nil {
			return err
		}
	}
	err := reauth(ctx, cl, cfg, id, login)
	if errors.Is(err, ErrLoginNeeded) {
		if err := Login(ctx, cl, cfg, id, login); err != nil {
			return err
		}
		err = reauth(ctx, cl, cfg, id, login)
	}
	return err
}

func reauth(ctx context.Context, cl *api.Client, cfg *Config, id keys.AccountID, login *keys.Key32) error {
	_, err := runLogin(ctx, cl, cfg, id, login, true)
	if api.IsCode(err, api.CodeUnauthorized) {
		return authError(err)
	}
	return err
}

// prove runs y.Prove if set.
func (y *Syncer) prove(ctx context.Context) error {
	if y.Prove == nil {
		return nil
	}
	return y.Prove(ctx)
}

// Relogin logs this device in again with a password typed now. The login
// key is derived from the server's login parameters, not from the vault's
// envelope: after a password change on another device the vault still
// holds the old envelope, and only the server's opens with the new
// password. The parameters are checked like the envelope they come from
// (this account, no weaker key derivation than this device last used,
// this device's Secret Key). If the server's envelope is a newer one of
// the same key version, it is kept aside as pending (as a sync would keep
// it), so that the new password opens the vault from now on. cfg keeps
// the new token (the caller saves it).
func Relogin(ctx context.Context, cl *api.Client, cfg *Config, v Account, pw []byte) error {
	return relogin(ctx, keys.Argon2ID, cl, cfg, v, pw, nil)
}

// ReloginWith is Relogin with the key derivation's Argon2id step
// computed by h (keys.Argon2): the web vault runs it in a Web Worker.
func ReloginWith(ctx context.Context, h keys.Argon2, cl *api.Client, cfg *Config, v Account, pw []byte) error {
	return relogin(ctx, h, cl, cfg, v, pw, nil)
}

// ErrNotRevoked means setup was asked to re-join a device that the server
// has not revoked: it only needs keyhold sync.
var ErrNotRevoked = errors.New("this device is set up already and is not revoked on the server; run keyhold sync")

// Rejoin re-joins a revoked device to its account: with the password and
// the recovery kit's Secret Key (sk), it logs in under a new device id
// (the server never lets a revoked id back in), keeping the vault and the
// edits it has not synced, which the next sync merges and pushes. If the
// device is not revoked it logs in and gives ErrNotRevoked. cfg keeps the
// new device id and token (the caller saves it).
func Rejoin(ctx context.Context, cl *api.Client, cfg *Config, v Account, pw []byte, sk *keys.SecretKey) error {
	err := relogin(ctx, keys.Argon2ID, cl, cfg, v, pw, sk)
	if err == nil {
		return ErrNotRevoked
	}
	if !errors.Is(err, ErrRevoked) {
		return err
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return err
	}
	cfg.DeviceID, cfg.Token = id.String(), ""
	return relogin(ctx, keys.Argon2ID, cl, cfg, v, pw, sk)
}

// relogin is Relogin with the Secret Key sk (nil: this device's) and the
// Argon2id of h.
func relogin(ctx context.Context, h keys.Argon2, cl *api.Client, cfg *Config, v Account, pw []byte, sk *keys.SecretKey) error {
	id := v.AccountID()
	params, err := cl.LoginParams(ctx, uuid.UUID(id).String())
	if err != nil {
		return err
	}
	hdr, err := format.ParseEnvelopeHeader(params.Header)
	if err != nil {
		return fmt.Errorf("%w (its login parameters: %v)", vaultsync.ErrServerMismatch, err)
	}
	if hdr.AccountID != id {
		return fmt.Errorf("%w (its login parameters are for another account)", vaultsync.ErrServerMismatch)
	}
	own, floor, err := v.DeviceSecret()
	if err != nil {
		return err
	}
	defer own.Wipe()
	if hdr.KDF.Weaker(floor) {
		return fmt.Errorf("%w (the server's login parameters: %s, this device last used %s); the server's parameters were refused", keys.ErrKDFDowngrade, hdr.KDF, floor)
	}
	// Login parameters from before a password change this device adopted
	// would make the old password log in again: a server replaying them
	// is refused before any password is tried with it. The exception is
	// the header of the previous-version envelope this vault was
	// migrated from (SPEC §6): the migration changed nothing on the
	// server, so those are still its honest parameters, for this very
	// password.
	legacy := v.LegacyHeader()
	isLegacy := legacy != nil && bytes.Equal(hdr.Header(), legacy)
	if cur := v.Envelope(); hdr.KeyVersion == cur.KeyVersion && hdr.Epoch < cur.Epoch && !isLegacy {
		return &vaultsync.OldEnvelopeError{From: "the server", Epoch: hdr.Epoch, Adopted: cur.Epoch}
	}
	if sk == nil {
		sk = own
	}
	d, err := hdr.DeriveWith(h, pw, sk)
	if err != nil {
		return err
	}
	defer d.Wipe()
	if isLegacy && sk == own {
		// Same salt and derivation as this device's envelope: a password
		// that does not open it will not log in either, and need not be
		// tried on the server (and in its audit log).
		ak, err := v.Envelope().OpenDerived(d)
		if err != nil {
			return fmt.Errorf("%w (%s)", ErrLoginFailed, cl.URL())
		}
		ak.Wipe()
	}
	cl.SetToken("")
	if err := Login(ctx, cl, cfg, id, &d.Login); err != nil {
		return err
	}
	k, err := cl.Keys(ctx)
	if err != nil {
		return authError(err)
	}
	if k.KeyVersion != v.KeyVersion() {
		return nil // a rotation: the next sync follows it
	}
	env, err := format.ParseEnvelope(k.Envelope)
	if err != nil {
		return fmt.Errorf("%w (its account key envelope: %v)", vaultsync.ErrServerMismatch, err)
	}
	if bytes.Equal(env.Marshal(), v.Envelope().Marshal()) || !bytes.Equal(env.Header(), hdr.Header()) {
		return nil // nothing new, or changed again since the login: the next sync picks it up
	}
	ak, err := env.OpenDerived(d)
	if err != nil {
		return fmt.Errorf("%w (its account key envelope does not open with the password it just accepted)", vaultsync.ErrServerMismatch)
	}
	err = v.AdoptServerEnvelope(ctx, ak, env.KeyVersion, k.Envelope)
	ak.Wipe()
	return err
}
