package ledger

import "context"

// SyncTx is a Tx that also keeps what a device knows of its sync server
// (docs/SYNC.md, "The device's state"): for each item, the newest
// revision the server is known to hold (the remote table). The cursor and
// the verified sequence are meta values ("sync/cursor", "sync/verified").
// The sync rules (package replica) read and write these; the manifest
// does not cover them (docs/SPEC.md, the replica snapshot, says what
// tampering with them can do).
//
// The interface lives here, beside Tx, so that a store implements it
// with the ledger's types alone and never imports the rules.
type SyncTx interface {
	Tx
	// Remote returns the newest revision of an item the server is known
	// to hold, 0 if none.
	Remote(ctx context.Context, id [16]byte) (uint64, error)
	// SetRemote records that the server holds the item up to rev (> 0),
	// replacing what was recorded.
	SetRemote(ctx context.Context, id [16]byte, rev uint64) error
	// ClearRemote forgets every revision the server was known to hold.
	ClearRemote(ctx context.Context) error
	// Unsynced returns, sorted by id, up to limit (limit < 0: all) items
	// whose current revision is above their remote one.
	Unsynced(ctx context.Context, limit int) ([]Unsynced, error)
	// CountUnsynced counts those items.
	CountUnsynced(ctx context.Context) (int, error)
	// ServerHeld calls fn with each item of the remote table, at its
	// remote revision and with the box this device holds for that
	// revision (current or past), in no set order. A remote revision the
	// device does not hold is an error (the store is damaged).
	ServerHeld(ctx context.Context, fn func(Row) error) error
}

// Unsynced is an item with revisions the server has not seen: Cur is its
// current revision, Base the newest the server holds (0: none).
type Unsynced struct {
	ID        [16]byte
	Cur, Base uint64
}

// SyncTxn is a SyncTx that can be ended, as Txn.
type SyncTxn interface {
	SyncTx
	Commit() error
	Rollback() error
}

// SyncStore begins transactions with the sync bookkeeping.
type SyncStore interface {
	// BeginSync starts a transaction. A write transaction (write true)
	// is the only one running, as Store.Begin's; a read transaction sees
	// one consistent committed state and is never written nor
	// committed (the caller rolls it back).
	BeginSync(ctx context.Context, write bool) (SyncTxn, error)
}
