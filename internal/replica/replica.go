// Package replica holds a device's copy of the vault and the rules by
// which it syncs with a keyhold server (docs/SYNC.md): what to push, how
// pulled revisions are checked, applied and merged field by field with
// this device's edits, the server manifest, the cursor; and the item
// writes (add, edit, trash, restore) and reads (items, history) that the
// rules rely on. The CLI's vault (package vault, over SQLite) and the
// browser's (over memstore) both run these rules, so two devices merge
// the same edits the same way.
//
// A Replica works over a ledger.SyncStore: every change to items,
// history and the manifest goes through a ledger.Ledger, and the sync
// bookkeeping (the remote table, "sync/cursor", "sync/verified") through
// ledger.SyncTx. It implements every method of syncclient.Local but the
// device's own: LockSync (a browser tab needs no file lock; the CLI takes
// one), AdoptEnvelope, FollowRotation and RotateKey (they replace the
// keys and envelope, which a client keeps beside the replica). A client
// embeds a Replica and adds those.
//
// Each rule also exists as a method that works inside a transaction the
// caller runs (…Tx), for a client that writes more in the same
// transaction (the vault's title index).
//
// A browser client: Join fills a memstore from syncclient.Setup's
// download (its Create); WithCommitted hands each committed transaction
// over, whose memstore batch (or the store's SnapshotBytes) it persists;
// a remembered browser rebuilds the store (memstore.FromSnapshot), reads
// the envelope (ReadAccount), derives the account key and calls Open.
package replica

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// Store is the storage a Replica works over (ledger.SyncStore; the
// interface lives in package ledger so that stores never import the
// rules): sqlitestore.Store for the CLI, memstore's Sync() in a browser.
type Store = ledger.SyncStore

// Tx is one transaction of a Store.
type Tx = ledger.SyncTx

// The types a Replica exchanges with a sync client are package
// vaultsync's.
type (
	ItemID        = vaultsync.ItemID
	SyncState     = vaultsync.SyncState
	OutRev        = vaultsync.OutRev
	Outgoing      = vaultsync.Outgoing
	Pushed        = vaultsync.Pushed
	Incoming      = vaultsync.Incoming
	MergeConflict = vaultsync.MergeConflict
	ApplyReport   = vaultsync.ApplyReport
)

// Errors. The server's misbehaviour is reported with vaultsync's errors
// (ErrServerMismatch, ErrServerRollback), which package vault names too,
// so errors.Is matches whichever name a caller uses.
var (
	// ErrNotFound means no current item has the id (or, for Trash and
	// Restore, none in the state asked for).
	ErrNotFound = errors.New("no such item")
	// ErrConflict means the item moved on since the revision an edit was
	// made on; nothing was written, so no edit is lost.
	ErrConflict = errors.New("the item was changed by another command meanwhile; run the command again")
	// ErrDamaged means the stored copy is not what the manifest signed,
	// or a box this device wrote does not open. Options can replace it
	// (WithDamaged).
	ErrDamaged = errors.New("the stored vault is damaged")
	// ErrServerMismatch and ErrServerRollback are vaultsync's.
	ErrServerMismatch = vaultsync.ErrServerMismatch
	ErrServerRollback = vaultsync.ErrServerRollback
)

// Meta keys of the sync bookkeeping: each a decimal number.
const (
	CursorKey   = "sync/cursor"   // the server sequence pulled to
	VerifiedKey = "sync/verified" // the newest sequence whose manifest matched
)

// Replica is a device's copy of one account's vault, unlocked: a Store and
// the account key. Its methods are safe for concurrent use: each runs its
// transaction under the Replica's lock, so that a store which refuses a
// second transaction rather than wait (memstore, ErrBusy) never sees
// one from the same Replica. The …Tx methods run in the caller's
// transaction and take no lock.
type Replica struct {
	mu    sync.Mutex
	st    Store
	ak    *keys.AccountKey
	kv    uint32
	acct  keys.AccountID
	mk    *keys.Key32
	ownMK bool
	ownAK bool // Join's copy of the account key

	damaged   func(error) error
	now       func() time.Time
	committed func(ledger.SyncTxn)

	// keepJoined: Join keeps the current items it opened in joined,
	// for the first Items call (WithJoinedItems).
	keepJoined bool
	joined     map[ItemID]joinedItem
}

// joinedItem is an item Join opened: its current revision and box, and
// what they opened to.
type joinedItem struct {
	rev uint64
	box []byte
	it  *item.Item
}

// Option changes how a Replica behaves.
type Option func(*Replica)

// WithDamaged makes f wrap every error that means the store is damaged
// or unreadable (default: wrapping ErrDamaged). The vault names its file.
func WithDamaged(f func(error) error) Option { return func(r *Replica) { r.damaged = f } }

// WithClock gives the time Trash and Restore stamp (default time.Now).
func WithClock(now func() time.Time) Option { return func(r *Replica) { r.now = now } }

// WithManifestKey gives the manifest key (format.ManifestKey of the
// account key) when the caller already holds it; the Replica then
// neither derives nor wipes one.
func WithManifestKey(mk *keys.Key32) Option { return func(r *Replica) { r.mk = mk } }

// WithCommitted calls f after each write transaction committed, with the
// ended transaction: a browser client takes memstore's batch
// (tx.(*memstore.Tx).Batch()) to persist it.
func WithCommitted(f func(ledger.SyncTxn)) Option { return func(r *Replica) { r.committed = f } }

// WithJoinedItems makes Join keep the current items it opened (to check
// the download) until the first Items call, which then hands out those
// instead of opening the same boxes again: a client that lists every
// item right after joining (the web vault) decrypts each once less.
// Items still reads every box from the store and checks the set against
// the manifest; it reuses an opened item only for the same id, revision
// and box bytes, and Close drops what is kept.
func WithJoinedItems() Option { return func(r *Replica) { r.keepJoined = true } }

// New returns the replica in st of account acct, unlocked with ak at key
// version kv. ak is used, not copied: the caller keeps it alive while it
// uses the Replica and wipes it after Close.
func New(st Store, ak *keys.AccountKey, kv uint32, acct keys.AccountID, opts ...Option) *Replica {
	r := &Replica{st: st, ak: ak, kv: kv, acct: acct, now: time.Now}
	r.damaged = func(err error) error {
		if errors.Is(err, ErrDamaged) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	for _, o := range opts {
		o(r)
	}
	if r.mk == nil {
		r.mk = format.ManifestKey(ak)
		r.ownMK = true
	}
	return r
}

// Close wipes the manifest key the Replica derived. The account key is
// the caller's to wipe (but Join's copy, which Close wipes).
func (r *Replica) Close() {
	r.mu.Lock()
	r.joined = nil
	r.mu.Unlock()
	if r.ownMK {
		r.mk.Wipe()
	}
	if r.ownAK {
		r.ak.Wipe()
	}
}

// AccountID returns the account's id.
func (r *Replica) AccountID() keys.AccountID { return r.acct }

// AccountKey returns the account key (not to be kept) and its version.
func (r *Replica) AccountKey() (*keys.AccountKey, uint32) { return r.ak, r.kv }

// Keys are what the replica's ledgers sign the manifest with.
func (r *Replica) Keys() ledger.Keys { return ledger.Keys{MK: r.mk, Account: r.acct} }

func (r *Replica) damaged0(err error) error {
	if err == nil {
		return nil
	}
	return r.damaged(err)
}

func (r *Replica) ref(id ItemID, rev uint64) format.ItemRef {
	return format.ItemRef{AccountID: r.acct, ItemID: id, Revision: rev}
}

// Open opens revision rev of item id from its box. Its errors name the
// item and revision.
func (r *Replica) Open(id ItemID, rev uint64, box []byte) (*item.Item, error) {
	return vaultsync.OpenItem(r.ak, r.kv, r.acct, id, rev, box)
}

// Seal seals it as revision rev of item id.
func (r *Replica) Seal(id ItemID, rev uint64, it *item.Item) ([]byte, error) {
	pt, err := it.Marshal()
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return format.SealItem(r.ak, r.kv, r.ref(id, rev), pt)
}

// Current is an item's current revision, decrypted, with its manifest
// entry (which a cache keeps to check later loads against the manifest).
type Current struct {
	ID       ItemID
	Revision uint64
	Item     *item.Item
	Entry    [32]byte
}

// getU64 reads a number the sync bookkeeping keeps in meta; 0 if unset.
func getU64(ctx context.Context, tx ledger.Tx, k string) (uint64, error) {
	b, err := tx.Meta(ctx, k)
	if errors.Is(err, ledger.ErrMissing) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(b), 10, 64)
}

func putU64(ctx context.Context, tx ledger.Tx, k string, n uint64) error {
	return tx.PutMeta(ctx, k, []byte(strconv.FormatUint(n, 10)))
}

// read runs fn in a read transaction.
func (r *Replica) read(ctx context.Context, fn func(Tx) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tx, err := r.st.BeginSync(ctx, false)
	if err != nil {
		return r.damaged(err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// update runs fn in a write transaction that changes no items (the sync
// bookkeeping only), and commits it.
func (r *Replica) update(ctx context.Context, fn func(Tx) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tx, err := r.st.BeginSync(ctx, true)
	if err != nil {
		return r.damaged(err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return r.damaged(err)
	}
	r.after(tx)
	return nil
}

func (r *Replica) after(tx ledger.SyncTxn) {
	if r.committed != nil {
		r.committed(tx)
	}
}

// ReadManifest reads and checks the stored manifest: ledger.ErrRotated
// as it is, any other failure as damage.
func (r *Replica) ReadManifest(ctx context.Context, tx ledger.Tx) (*format.Manifest, error) {
	b, err := tx.Meta(ctx, ledger.ManifestKey)
	if err != nil {
		return nil, r.damaged(err)
	}
	m, err := ledger.CheckManifest(b, r.Keys(), r.kv)
	if errors.Is(err, ledger.ErrRotated) {
		return nil, err
	}
	if err != nil {
		return nil, r.damaged(err)
	}
	return m, nil
}

// Write runs fn in one write transaction with a ledger over the verified
// manifest, and commits with the manifest at the next sequence number.
// Nothing is kept if fn fails.
func (r *Replica) Write(ctx context.Context, fn func(tx Tx, l *ledger.Ledger) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tx, err := r.st.BeginSync(ctx, true)
	if err != nil {
		return r.damaged(err)
	}
	defer tx.Rollback()
	m, err := r.ReadManifest(ctx, tx)
	if err != nil {
		return err
	}
	l := ledger.Continue(tx, r.Keys(), m)
	if err := fn(tx, l); err != nil {
		return err
	}
	if err := l.Commit(ctx); err != nil {
		return r.damaged(err)
	}
	if err := tx.Commit(); err != nil {
		return r.damaged(err)
	}
	r.after(tx)
	return nil
}
