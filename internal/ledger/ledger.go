// Package ledger keeps a vault's items, their history and the signed
// manifest that authenticates them (docs/SPEC.md, the manifest) in step.
// Every change to a current revision or a past one goes through a Ledger,
// which updates the manifest's counts and accumulators with it; nothing
// else writes those rows. One forgotten update would show the user a
// "damaged vault" that is not.
//
// The Ledger works over a storage transaction (Tx): SQLite for the CLI
// (package sqlitestore), memory for tests and a browser client (package
// memstore). It knows nothing of files, processes or the OS, so it builds
// for GOOS=js GOARCH=wasm.
package ledger

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
)

// ManifestKey is the meta key under which the signed manifest is stored.
const ManifestKey = "manifest"

// ErrMissing is returned by a Tx read of a row that is not there.
var ErrMissing = errors.New("no such row")

// ErrRotated means the stored manifest is for a newer account key than
// the one in hand: another process rotated the key.
var ErrRotated = errors.New("the account key was rotated since this vault was unlocked; unlock it again")

// CheckManifest decodes a stored manifest and checks it for the account
// key of version kv: the current manifest version, that key version
// (ErrRotated for a newer one), and the signature. Any other failure
// means the stored manifest cannot be trusted: the caller reports the
// vault damaged.
func CheckManifest(b []byte, k Keys, kv uint32) (*format.Manifest, error) {
	m, err := format.ParseManifest(b)
	if err != nil {
		return nil, err
	}
	if m.Version != format.Version2 {
		// A version 1 manifest is migrated when the vault is first
		// unlocked; one found later was put back.
		return nil, fmt.Errorf("manifest of version %d where this vault keeps version %d", m.Version, format.Version2)
	}
	if m.KeyVersion > kv {
		return nil, ErrRotated
	}
	if m.KeyVersion != kv {
		return nil, fmt.Errorf("manifest: %w", format.ErrOldKey)
	}
	if err := m.Verify(k.MK, k.Account); err != nil {
		return nil, err
	}
	return m, nil
}

// Row is one revision of one item: its id, revision number and sealed
// box (format.SealItem).
type Row struct {
	ID  [16]byte
	Rev uint64
	Box []byte
}

// Tx is one storage transaction: the rows of items (one current revision
// per item) and history (past revisions), and the meta values (the
// manifest among them). Only a Ledger writes items, history and the
// manifest. Reads see the transaction's own writes.
type Tx interface {
	// Current returns an item's current revision, or ErrMissing.
	Current(ctx context.Context, id [16]byte) (rev uint64, box []byte, err error)
	// Past returns a past revision's box, or ErrMissing.
	Past(ctx context.Context, id [16]byte, rev uint64) ([]byte, error)
	// InsertCurrent adds the current revision of an item that has none.
	InsertCurrent(ctx context.Context, r Row) error
	// ReplaceCurrent sets the current revision of an item, which may
	// have one.
	ReplaceCurrent(ctx context.Context, r Row) error
	// DeleteCurrent removes an item's current revision.
	DeleteCurrent(ctx context.Context, id [16]byte) error
	// InsertPast adds a past revision.
	InsertPast(ctx context.Context, r Row) error
	// DeletePast removes a past revision.
	DeletePast(ctx context.Context, id [16]byte, rev uint64) error
	// Clear removes every current and past revision.
	Clear(ctx context.Context) error
	// ScanCurrent and ScanPast call fn with every row, in no set order.
	ScanCurrent(ctx context.Context, fn func(Row) error) error
	ScanPast(ctx context.Context, fn func(Row) error) error
	// Meta returns a meta value, or ErrMissing; PutMeta sets one.
	Meta(ctx context.Context, k string) ([]byte, error)
	PutMeta(ctx context.Context, k string, v []byte) error
}

// Store begins storage transactions. One write transaction runs at a
// time; it sees its own writes, and nothing of it is visible or kept
// until Commit.
type Store interface {
	Begin(ctx context.Context) (Txn, error)
}

// Txn is a storage transaction that can be ended. Rollback after Commit
// does nothing, so a deferred Rollback is always safe.
type Txn interface {
	Tx
	Commit() error
	Rollback() error
}

// Update runs fn in one transaction of st on top of the stored manifest,
// which must pass CheckManifest for key version kv, and commits with the
// manifest at the next sequence number. Nothing is kept if the check or
// fn fails.
func Update(ctx context.Context, st Store, k Keys, kv uint32, fn func(*Ledger) error) error {
	tx, err := st.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	b, err := tx.Meta(ctx, ManifestKey)
	if err != nil {
		return err
	}
	m, err := CheckManifest(b, k, kv)
	if err != nil {
		return err
	}
	l := Continue(tx, k, m)
	if err := fn(l); err != nil {
		return err
	}
	if err := l.Commit(ctx); err != nil {
		return err
	}
	return tx.Commit()
}

// Keys are what the manifest's entries and signature are computed with.
type Keys struct {
	MK      *keys.Key32 // the manifest key (format.ManifestKey)
	Account keys.AccountID
}

// Ledger applies the vault's write rules inside one storage transaction.
// It holds the manifest as it will be after the transaction; Commit signs
// and stores it. A Ledger is not safe for concurrent use.
type Ledger struct {
	tx   Tx
	k    Keys
	m    *format.Manifest
	bump bool
}

// Continue starts changes on top of m, the verified manifest read in tx.
// Commit stores it with the next sequence number.
func Continue(tx Tx, k Keys, m *format.Manifest) *Ledger {
	return &Ledger{tx: tx, k: k, m: m, bump: true}
}

// Fresh starts an empty manifest for key version kv, to be stored at
// sequence seq: for a new vault, or one rebuilt under a new key (after
// Clear).
func Fresh(tx Tx, k Keys, kv uint32, seq uint64) *Ledger {
	return &Ledger{tx: tx, k: k, m: &format.Manifest{KeyVersion: kv, Seq: seq}}
}

// Manifest returns the manifest as it stands (not yet signed).
func (l *Ledger) Manifest() *format.Manifest { return l.m }

// Tx returns the storage transaction, for reads.
func (l *Ledger) Tx() Tx { return l.tx }

// Entry returns the manifest entry of a current revision, which a cache
// may keep to check later loads against the manifest.
func (l *Ledger) Entry(id [16]byte, rev uint64, box []byte) [32]byte {
	return format.Entry(l.k.MK, id, rev, box)
}

func (l *Ledger) addCurrent(id [16]byte, rev uint64, box []byte) [32]byte {
	e := format.Entry(l.k.MK, id, rev, box)
	format.XorInto(&l.m.Acc, e)
	return e
}

func (l *Ledger) addPast(id [16]byte, rev uint64, box []byte) {
	format.XorInto(&l.m.HAcc, format.HistoryEntry(l.k.MK, id, rev, box))
}

// Add stores the current revision of a new item and returns its manifest
// entry. The item must have no current revision.
func (l *Ledger) Add(ctx context.Context, id [16]byte, rev uint64, box []byte) ([32]byte, error) {
	if err := l.tx.InsertCurrent(ctx, Row{id, rev, box}); err != nil {
		return [32]byte{}, err
	}
	l.m.Count++
	return l.addCurrent(id, rev, box), nil
}

// AddPast stores a past revision.
func (l *Ledger) AddPast(ctx context.Context, id [16]byte, rev uint64, box []byte) error {
	if err := l.tx.InsertPast(ctx, Row{id, rev, box}); err != nil {
		return err
	}
	l.addPast(id, rev, box)
	l.m.HCount++
	return nil
}

// Advance makes rev the current revision of an existing item and moves
// the one it replaces to the history, where it stays as it was (bound to
// its own revision number). It returns the new revision's entry.
func (l *Ledger) Advance(ctx context.Context, id [16]byte, rev uint64, box []byte) ([32]byte, error) {
	orev, obox, err := l.tx.Current(ctx, id)
	if err != nil {
		return [32]byte{}, err
	}
	if rev <= orev {
		return [32]byte{}, fmt.Errorf("item %x: revision %d does not follow the current %d", id, rev, orev)
	}
	if err := l.AddPast(ctx, id, orev, obox); err != nil {
		return [32]byte{}, err
	}
	if err := l.tx.ReplaceCurrent(ctx, Row{id, rev, box}); err != nil {
		return [32]byte{}, err
	}
	format.XorInto(&l.m.Acc, format.Entry(l.k.MK, id, orev, obox))
	return l.addCurrent(id, rev, box), nil
}

// SetCurrent makes rev the current revision of an item, adding the item
// if it has none. A current revision it replaces is dropped, not kept:
// the caller has put its content elsewhere (a merge renumbers it).
func (l *Ledger) SetCurrent(ctx context.Context, id [16]byte, rev uint64, box []byte) ([32]byte, error) {
	orev, obox, err := l.tx.Current(ctx, id)
	switch {
	case errors.Is(err, ErrMissing):
		l.m.Count++
	case err != nil:
		return [32]byte{}, err
	default:
		format.XorInto(&l.m.Acc, format.Entry(l.k.MK, id, orev, obox))
	}
	if err := l.tx.ReplaceCurrent(ctx, Row{id, rev, box}); err != nil {
		return [32]byte{}, err
	}
	return l.addCurrent(id, rev, box), nil
}

// DropPast removes a past revision from the history.
func (l *Ledger) DropPast(ctx context.Context, id [16]byte, rev uint64) error {
	box, err := l.tx.Past(ctx, id, rev)
	if err != nil {
		return err
	}
	if err := l.tx.DeletePast(ctx, id, rev); err != nil {
		return err
	}
	l.addPast(id, rev, box)
	l.m.HCount--
	return nil
}

// Clear removes every item and every past revision, leaving an empty
// manifest: the start of a rebuild under a new key. Use it with Fresh.
func (l *Ledger) Clear(ctx context.Context) error {
	if err := l.tx.Clear(ctx); err != nil {
		return err
	}
	l.m.Count, l.m.HCount, l.m.Acc, l.m.HAcc = 0, 0, [32]byte{}, [32]byte{}
	return nil
}

// Recount sets the manifest's counts and accumulators from the rows as
// they stand: for a migration that first proved those rows right by
// other means.
func (l *Ledger) Recount(ctx context.Context) error {
	l.m.Count, l.m.HCount, l.m.Acc, l.m.HAcc = 0, 0, [32]byte{}, [32]byte{}
	if err := l.tx.ScanCurrent(ctx, func(r Row) error {
		l.m.Count++
		l.addCurrent(r.ID, r.Rev, r.Box)
		return nil
	}); err != nil {
		return err
	}
	return l.tx.ScanPast(ctx, func(r Row) error {
		l.m.HCount++
		l.addPast(r.ID, r.Rev, r.Box)
		return nil
	})
}

// Commit signs the manifest (with the next sequence number, for a
// Continue ledger) and stores it in the transaction. The caller commits
// the transaction.
func (l *Ledger) Commit(ctx context.Context) error {
	if l.bump {
		l.m.Seq++
		l.bump = false
	}
	l.m.Sign(l.k.MK, l.k.Account)
	return l.tx.PutMeta(ctx, ManifestKey, l.m.Marshal())
}

// Sums are the counts and accumulators of the rows as stored, for
// checking them against a manifest.
type Sums struct {
	Count, HCount uint64
	Acc, HAcc     [32]byte
}

// Matches reports, in constant time for the accumulators, whether the
// current revisions and the history agree with m.
func (s *Sums) Matches(m *format.Manifest) (items, history bool) {
	return s.Count == m.Count && constEq(s.Acc, m.Acc), s.HCount == m.HCount && constEq(s.HAcc, m.HAcc)
}

func constEq(a, b [32]byte) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Sum adds the manifest entry of r, a current revision (past false) or a
// past one (past true).
func (s *Sums) Add(k Keys, r Row, past bool) {
	if past {
		s.HCount++
		format.XorInto(&s.HAcc, format.HistoryEntry(k.MK, r.ID, r.Rev, r.Box))
		return
	}
	s.Count++
	format.XorInto(&s.Acc, format.Entry(k.MK, r.ID, r.Rev, r.Box))
}
