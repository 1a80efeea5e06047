package webcore

import (
	"context"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// Vault is the browser's local vault: the ledger over an in-memory store,
// driven by the device-side sync rules every client shares (package
// replica). The web vault adds only what is specific to a browser
// (deviceLocal): the sync lock, the envelope it keeps, and its answer to
// a key rotation.
type Vault interface {
	// SyncLocal is the part of syncclient.Local the shared rules
	// implement.
	SyncLocal

	// Revs returns every item's current revision number.
	Revs(ctx context.Context) (map[vaultsync.ItemID]uint64, error)
	// Item returns an item's current revision, decrypted.
	Item(ctx context.Context, id vaultsync.ItemID) (Entry, error)
	// Add stores a new item.
	Add(ctx context.Context, it *item.Item) (Entry, error)
	// Put stores a new revision of an item made on top of revision
	// base; a base that is no longer current is refused (ErrConflict)
	// and changes nothing.
	Put(ctx context.Context, id vaultsync.ItemID, base uint64, it *item.Item) (Entry, error)
	// History returns an item's past revisions, oldest first.
	History(ctx context.Context, id vaultsync.ItemID) ([]Entry, error)
	// Snapshot returns the store's content, sealed as it is stored (the
	// items stay sealed boxes under the account key, the manifest
	// signed), for keeping in the browser.
	Snapshot() ([]byte, error)
	// Close drops the keys.
	Close()
}

// SyncLocal is syncclient.Local without the methods a device implements
// itself (LockSync, AdoptEnvelope, FollowRotation, RotateKey).
type SyncLocal interface {
	AccountID() keys.AccountID
	AccountKey() (*keys.AccountKey, uint32)
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
}

// Vaults makes the local vault: from a new device's verified download,
// or from a snapshot the browser kept. Both keep their own copy of the
// account key; the caller wipes ak.
type Vaults interface {
	Create(ctx context.Context, j *vaultsync.Join, kv uint32) (Vault, error)
	Open(ctx context.Context, snapshot []byte, id keys.AccountID, ak *keys.AccountKey, kv uint32) (Vault, error)
}
