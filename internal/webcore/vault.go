package webcore

import (
	"context"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/merge"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// Vault is the browser's local vault: the ledger over an in-memory store,
// driven by the device-side sync rules every client shares (package
// replica, MemVaults). The web vault adds only what is specific to a
// browser (deviceLocal): the sync lock, the envelope it keeps, and its
// answer to a key rotation.
type Vault interface {
	// SyncLocal is the part of syncclient.Local the shared rules
	// implement.
	SyncLocal

	// Items returns every item's current revision, decrypted, after
	// checking them against the signed manifest.
	Items(ctx context.Context) ([]Entry, error)
	// Changed returns the items written since the last call (by this
	// session or a sync), decrypted; all reports that everything must be
	// read again (Items).
	Changed(ctx context.Context) (es []Entry, all bool, err error)
	// Add stores a new item.
	Add(ctx context.Context, it *item.Item) (Entry, error)
	// PutMerge stores an edit made on top of revision base; if the item
	// moved on since, the edit is kept in the history and merged field by
	// field with the current revision, as a sync merges (docs/MERGE.md).
	PutMerge(ctx context.Context, id vaultsync.ItemID, base uint64, it *item.Item) (Entry, []merge.Conflict, error)
	// History returns an item's past revisions, oldest first.
	History(ctx context.Context, id vaultsync.ItemID) ([]Entry, error)
	// Snapshot returns the store's content as it is stored: the items
	// stay sealed boxes under the account key, the manifest signed.
	Snapshot() ([]byte, error)
	// Changes returns what was committed since the last Changes or
	// Snapshot, as batches Vaults.Open applies after a snapshot, oldest
	// first.
	Changes() ([][]byte, error)
	// DropChanges forgets what was committed since the last Changes or
	// Snapshot without encoding it: a browser that is not remembered
	// stores nothing, and the snapshot it takes at Lock holds it all.
	DropChanges()
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
	// Open opens a snapshot with the changes stored after it (Changes's
	// batches, in order).
	Open(ctx context.Context, snapshot []byte, changes [][]byte, id keys.AccountID, ak *keys.AccountKey, kv uint32) (Vault, error)
}
