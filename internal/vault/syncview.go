package vault

import (
	"context"
	"fmt"
	"time"

	"github.com/keyhold/keyhold/internal/keys"
)

// The sync client works with a Session and its Vault through interfaces
// (package syncclient), so that it does not depend on this package's
// storage. These methods give it, on the Session it syncs, what it reads
// and moves on the Vault, and on the Vault what logging in again needs.

// AccountID returns the vault's account id.
func (s *Session) AccountID() keys.AccountID { return s.v.AccountID() }

// SyncState is Vault.SyncState.
func (s *Session) SyncState(ctx context.Context) (SyncState, error) { return s.v.SyncState(ctx) }

// Pending is Vault.Pending.
func (s *Session) Pending(ctx context.Context) (int, error) { return s.v.Pending(ctx) }

// AdvanceCursor is Vault.AdvanceCursor.
func (s *Session) AdvanceCursor(ctx context.Context, from, to uint64) error {
	return s.v.AdvanceCursor(ctx, from, to)
}

// RewindCursor is Vault.RewindCursor.
func (s *Session) RewindCursor(ctx context.Context, to uint64) error {
	return s.v.RewindCursor(ctx, to)
}

// MarkVerified is Vault.MarkVerified.
func (s *Session) MarkVerified(ctx context.Context, head uint64) error {
	return s.v.MarkVerified(ctx, head)
}

// DeviceSecret returns this device's Secret Key (the caller wipes it)
// and the strongest key derivation it has used (Device).
func (v *Vault) DeviceSecret() (*keys.SecretKey, keys.KDFParams, error) {
	di, err := v.Device()
	if err != nil {
		return nil, keys.KDFParams{}, err
	}
	return di.SecretKey, di.KDFFloor, nil
}

// AdoptServerEnvelope adopts env, an envelope the server sent that opened
// to ak (key version kv) with a password it just accepted: ak must pass
// the key check (else the server is blamed), then env is adopted as
// AdoptEnvelope says.
func (v *Vault) AdoptServerEnvelope(ctx context.Context, ak *keys.AccountKey, kv uint32, env []byte) error {
	s, err := v.UnlockWithKey(ak, kv)
	if err != nil {
		return fmt.Errorf("%w (its account key envelope holds another key: %v)", ErrServerMismatch, err)
	}
	defer s.Close()
	_, err = s.AdoptEnvelope(ctx, env)
	return err
}

// LockSync takes the vault directory's sync lock (LockSync), waiting up
// to two minutes for another process's sync to end.
func (s *Session) LockSync() (func(), error) { return LockSync(s.v.Dir, 2*time.Minute) }
