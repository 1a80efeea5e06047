package syncclient

import (
	"context"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// Local is the unlocked local vault a Syncer syncs: the CLI's is a
// *vault.Session, and a client with another store implements it over its
// own. Its types are package vaultsync's; the sync client never touches
// the vault's storage, files or locks itself.
type Local interface {
	AccountID() keys.AccountID
	// AccountKey returns the account key (not to be kept) and its version.
	AccountKey() (*keys.AccountKey, uint32)
	// LockSync keeps other processes from syncing the vault until the
	// returned function is called.
	LockSync() (func(), error)
	SyncState(ctx context.Context) (vaultsync.SyncState, error)
	Pending(ctx context.Context) (int, error)
	AdvanceCursor(ctx context.Context, from, to uint64) error
	RewindCursor(ctx context.Context, to uint64) error
	MarkVerified(ctx context.Context, head uint64) error
	Outgoing(ctx context.Context, max int) ([]vaultsync.Outgoing, error)
	MarkPushed(ctx context.Context, ps []vaultsync.Pushed) error
	ApplyIncoming(ctx context.Context, in []vaultsync.Incoming, cursor uint64) (*vaultsync.ApplyReport, error)
	ServerManifest(ctx context.Context, seq uint64, pushes []vaultsync.Outgoing) ([]byte, error)
	CheckServerManifest(ctx context.Context, blob []byte, head uint64) error
	AdoptEnvelope(ctx context.Context, b []byte) (bool, error)
	FollowRotation(ctx context.Context, rk *vaultsync.RotatedKeys, fetch func(check func(vaultsync.Incoming) error) ([]vaultsync.Incoming, uint64, []byte, error)) (*vaultsync.ApplyReport, *keys.SecretKey, error)
	RotateKey(ctx context.Context, pw []byte, publish func(*vaultsync.Rotation) error) (*vaultsync.Created, error)
}

// Account is the local vault as registering and logging in again need it:
// the CLI's is a *vault.Vault.
type Account interface {
	AccountID() keys.AccountID
	Envelope() *format.Envelope
	KeyCheckBytes() []byte
	KeyVersion() uint32
	// LegacyHeader is the header of the previous-version envelope the
	// vault was migrated from (SPEC §6), or nil.
	LegacyHeader() []byte
	// DeviceSecret returns this device's Secret Key (the caller wipes
	// it) and the strongest key derivation it has used.
	DeviceSecret() (*keys.SecretKey, keys.KDFParams, error)
	// AdoptServerEnvelope adopts an envelope the server sent, which
	// opened to ak with a password it just accepted.
	AdoptServerEnvelope(ctx context.Context, ak *keys.AccountKey, kv uint32, env []byte) error
}
