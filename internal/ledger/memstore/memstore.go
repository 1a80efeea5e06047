// Package memstore keeps a ledger's rows in memory. Tests use it, and a
// browser client, which persists it to IndexedDB: there a transaction
// commits on its own once the code stops issuing requests, and Go called
// from JavaScript cannot wait for a promise, so the store never waits on
// storage. A transaction's changes are kept aside until Commit, which
// applies them at once and hands them back as one Batch to persist (or a
// Snapshot of everything); Load puts persisted batches back. A Batch's
// byte form (MarshalBinary, UnmarshalBatch, FromSnapshot; docs/SPEC.md
// §14.6) is what a browser writes. Besides the ledger's rows the store
// keeps the sync bookkeeping (ledger.SyncTx, through Sync), so that
// package replica runs the CLI's sync rules over it.
//
// Commit changes memory before the client has persisted the batch: if
// persisting then fails, memory is ahead of storage, and the client must
// start again from what it stored (a new Store and Load) rather than go
// on. The store keeps its own copies of every box and value: what goes in
// and what comes out (reads, batches, snapshots) shares no memory with it.
package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/keyhold/keyhold/internal/ledger"
)

// PastKey names a past revision.
type PastKey struct {
	ID  [16]byte
	Rev uint64
}

// Batch is one committed transaction's changes, in the order a persister
// applies them: Cleared first (every item and past revision removed),
// then deletions, then the rows and meta values set. The remote table
// (ledger.SyncTx) is emptied first if RemoteCleared, then set from Remote.
type Batch struct {
	Cleared        bool
	DeletedCurrent [][16]byte
	DeletedPast    []PastKey
	Current        []ledger.Row
	Past           []ledger.Row
	Meta           map[string][]byte
	RemoteCleared  bool
	Remote         map[[16]byte]uint64
}

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool {
	return !b.Cleared && len(b.DeletedCurrent) == 0 && len(b.DeletedPast) == 0 && len(b.Current) == 0 && len(b.Past) == 0 && len(b.Meta) == 0 &&
		!b.RemoteCleared && len(b.Remote) == 0
}

// ErrDone is returned by a transaction used after Commit or Rollback.
var ErrDone = errors.New("memstore: the transaction is over")

// ErrBusy is returned by Begin and Snapshot while a transaction is open:
// one runs at a time, and a browser's single thread could never wait
// for the open one to end.
var ErrBusy = errors.New("memstore: another transaction is open")

// ErrExists is returned by an insert of a row that is already there.
var ErrExists = errors.New("memstore: the row exists")

// Store is an in-memory vault store. One transaction runs at a time.
type Store struct {
	w     sync.Mutex // held by the open transaction
	items map[[16]byte]ledger.Row
	past  map[PastKey][]byte
	meta  map[string][]byte
	// remote is the sync bookkeeping: the newest revision of each item
	// the server is known to hold.
	remote map[[16]byte]uint64
}

// New returns an empty store.
func New() *Store {
	return &Store{items: map[[16]byte]ledger.Row{}, past: map[PastKey][]byte{}, meta: map[string][]byte{}, remote: map[[16]byte]uint64{}}
}

// Begin starts a transaction, or fails with ErrBusy while one is open.
func (s *Store) Begin() (*Tx, error) {
	if !s.w.TryLock() {
		return nil, ErrBusy
	}
	return &Tx{s: s, items: map[[16]byte]*ledger.Row{}, past: map[PastKey]*[]byte{}, meta: map[string][]byte{}, remote: map[[16]byte]uint64{}}, nil
}

// Snapshot returns the whole committed state as one batch (Cleared set),
// for persisting it in one piece.
func (s *Store) Snapshot() (*Batch, error) {
	if !s.w.TryLock() {
		return nil, ErrBusy
	}
	defer s.w.Unlock()
	b := &Batch{Cleared: true, Meta: map[string][]byte{}, RemoteCleared: true, Remote: map[[16]byte]uint64{}}
	for id, rev := range s.remote {
		b.Remote[id] = rev
	}
	for _, r := range s.items {
		b.Current = append(b.Current, ledger.Row{ID: r.ID, Rev: r.Rev, Box: bytes.Clone(r.Box)})
	}
	for k, box := range s.past {
		b.Past = append(b.Past, ledger.Row{ID: k.ID, Rev: k.Rev, Box: bytes.Clone(box)})
	}
	for k, v := range s.meta {
		b.Meta[k] = bytes.Clone(v)
	}
	sortRows(b.Current)
	sortRows(b.Past)
	return b, nil
}

// Load applies a persisted batch (a snapshot or a later transaction's),
// as when a client starts from what it stored.
func (s *Store) Load(b *Batch) {
	s.w.Lock()
	defer s.w.Unlock()
	s.apply(b)
}

func (s *Store) apply(b *Batch) {
	if b.Cleared {
		s.items, s.past = map[[16]byte]ledger.Row{}, map[PastKey][]byte{}
	}
	for _, id := range b.DeletedCurrent {
		delete(s.items, id)
	}
	for _, k := range b.DeletedPast {
		delete(s.past, k)
	}
	for _, r := range b.Current {
		s.items[r.ID] = ledger.Row{ID: r.ID, Rev: r.Rev, Box: bytes.Clone(r.Box)}
	}
	for _, r := range b.Past {
		s.past[PastKey{r.ID, r.Rev}] = bytes.Clone(r.Box)
	}
	for k, v := range b.Meta {
		s.meta[k] = bytes.Clone(v)
	}
	if b.RemoteCleared {
		s.remote = map[[16]byte]uint64{}
	}
	for id, rev := range b.Remote {
		s.remote[id] = rev
	}
}

func sortRows(rs []ledger.Row) {
	slices.SortFunc(rs, func(a, b ledger.Row) int {
		if c := bytes.Compare(a.ID[:], b.ID[:]); c != 0 {
			return c
		}
		switch {
		case a.Rev < b.Rev:
			return -1
		case a.Rev > b.Rev:
			return 1
		}
		return 0
	})
}

// Tx is a transaction on a Store: its changes are kept aside (nil: a
// deletion) and applied by Commit.
type Tx struct {
	s       *Store
	done    bool
	batch   *Batch
	cleared bool
	items   map[[16]byte]*ledger.Row
	past    map[PastKey]*[]byte
	meta    map[string][]byte
	// remote holds the revisions set in this transaction; remoteCleared
	// hides the store's.
	remote        map[[16]byte]uint64
	remoteCleared bool
}

var _ ledger.Tx = (*Tx)(nil)

// Ledger returns the store as a ledger.Store.
func (s *Store) Ledger() ledger.Store { return txnStore{s} }

type txnStore struct{ s *Store }

func (t txnStore) Begin(context.Context) (ledger.Txn, error) {
	tx, err := t.s.Begin()
	if err != nil {
		return nil, err
	}
	return tx, nil
}

var _ ledger.Txn = (*Tx)(nil)

// Commit applies the transaction. Batch then returns its changes, to
// persist.
func (t *Tx) Commit() error {
	_, err := t.CommitBatch()
	return err
}

// Batch returns the changes of a committed transaction (nil before).
func (t *Tx) Batch() *Batch { return t.batch }

// CommitBatch applies the transaction and returns its changes.
func (t *Tx) CommitBatch() (*Batch, error) {
	if t.done {
		return nil, ErrDone
	}
	b := &Batch{Cleared: t.cleared, Meta: t.meta, RemoteCleared: t.remoteCleared, Remote: t.remote}
	for id, r := range t.items {
		if r == nil {
			b.DeletedCurrent = append(b.DeletedCurrent, id)
		} else {
			b.Current = append(b.Current, *r)
		}
	}
	for k, box := range t.past {
		if box == nil {
			b.DeletedPast = append(b.DeletedPast, k)
		} else {
			b.Past = append(b.Past, ledger.Row{ID: k.ID, Rev: k.Rev, Box: *box})
		}
	}
	sortRows(b.Current)
	sortRows(b.Past)
	t.s.apply(b)
	t.batch = b
	t.end()
	return b, nil
}

// Rollback drops the transaction's changes. It may be called after
// Commit (it does nothing then).
func (t *Tx) Rollback() error {
	if !t.done {
		t.end()
	}
	return nil
}

func (t *Tx) end() {
	t.done = true
	t.s.w.Unlock()
}

func (t *Tx) current(id [16]byte) (ledger.Row, bool) {
	if r, ok := t.items[id]; ok {
		if r == nil {
			return ledger.Row{}, false
		}
		return *r, true
	}
	if t.cleared {
		return ledger.Row{}, false
	}
	r, ok := t.s.items[id]
	r.Box = bytes.Clone(r.Box)
	return r, ok
}

func (t *Tx) pastBox(k PastKey) ([]byte, bool) {
	if b, ok := t.past[k]; ok {
		if b == nil {
			return nil, false
		}
		return *b, true
	}
	if t.cleared {
		return nil, false
	}
	b, ok := t.s.past[k]
	return bytes.Clone(b), ok
}

// Current implements ledger.Tx.
func (t *Tx) Current(_ context.Context, id [16]byte) (uint64, []byte, error) {
	if t.done {
		return 0, nil, ErrDone
	}
	r, ok := t.current(id)
	if !ok {
		return 0, nil, ledger.ErrMissing
	}
	return r.Rev, r.Box, nil
}

// Past implements ledger.Tx.
func (t *Tx) Past(_ context.Context, id [16]byte, rev uint64) ([]byte, error) {
	if t.done {
		return nil, ErrDone
	}
	b, ok := t.pastBox(PastKey{id, rev})
	if !ok {
		return nil, ledger.ErrMissing
	}
	return b, nil
}

// InsertCurrent implements ledger.Tx.
func (t *Tx) InsertCurrent(_ context.Context, r ledger.Row) error {
	if t.done {
		return ErrDone
	}
	if _, ok := t.current(r.ID); ok {
		return ErrExists
	}
	r.Box = bytes.Clone(r.Box)
	t.items[r.ID] = &r
	return nil
}

// ReplaceCurrent implements ledger.Tx.
func (t *Tx) ReplaceCurrent(_ context.Context, r ledger.Row) error {
	if t.done {
		return ErrDone
	}
	r.Box = bytes.Clone(r.Box)
	t.items[r.ID] = &r
	return nil
}

// DeleteCurrent implements ledger.Tx.
func (t *Tx) DeleteCurrent(_ context.Context, id [16]byte) error {
	if t.done {
		return ErrDone
	}
	t.items[id] = nil
	return nil
}

// InsertPast implements ledger.Tx.
func (t *Tx) InsertPast(_ context.Context, r ledger.Row) error {
	if t.done {
		return ErrDone
	}
	k := PastKey{r.ID, r.Rev}
	if _, ok := t.pastBox(k); ok {
		return ErrExists
	}
	b := bytes.Clone(r.Box)
	t.past[k] = &b
	return nil
}

// DeletePast implements ledger.Tx.
func (t *Tx) DeletePast(_ context.Context, id [16]byte, rev uint64) error {
	if t.done {
		return ErrDone
	}
	t.past[PastKey{id, rev}] = nil
	return nil
}

// Clear implements ledger.Tx.
func (t *Tx) Clear(context.Context) error {
	if t.done {
		return ErrDone
	}
	t.cleared = true
	t.items, t.past = map[[16]byte]*ledger.Row{}, map[PastKey]*[]byte{}
	return nil
}

// ScanCurrent implements ledger.Tx.
func (t *Tx) ScanCurrent(_ context.Context, fn func(ledger.Row) error) error {
	if t.done {
		return ErrDone
	}
	var all []ledger.Row
	if !t.cleared {
		for id, r := range t.s.items {
			if _, ok := t.items[id]; !ok {
				all = append(all, ledger.Row{ID: r.ID, Rev: r.Rev, Box: bytes.Clone(r.Box)})
			}
		}
	}
	for _, r := range t.items {
		if r != nil {
			all = append(all, *r)
		}
	}
	for _, r := range all {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// ScanPast implements ledger.Tx.
func (t *Tx) ScanPast(_ context.Context, fn func(ledger.Row) error) error {
	if t.done {
		return ErrDone
	}
	var all []ledger.Row
	if !t.cleared {
		for k, b := range t.s.past {
			if _, ok := t.past[k]; !ok {
				all = append(all, ledger.Row{ID: k.ID, Rev: k.Rev, Box: bytes.Clone(b)})
			}
		}
	}
	for k, b := range t.past {
		if b != nil {
			all = append(all, ledger.Row{ID: k.ID, Rev: k.Rev, Box: *b})
		}
	}
	for _, r := range all {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Meta implements ledger.Tx.
func (t *Tx) Meta(_ context.Context, k string) ([]byte, error) {
	if t.done {
		return nil, ErrDone
	}
	if v, ok := t.meta[k]; ok {
		return v, nil
	}
	if v, ok := t.s.meta[k]; ok {
		return bytes.Clone(v), nil
	}
	return nil, ledger.ErrMissing
}

// PutMeta implements ledger.Tx.
func (t *Tx) PutMeta(_ context.Context, k string, v []byte) error {
	if t.done {
		return ErrDone
	}
	t.meta[k] = bytes.Clone(v)
	return nil
}

// BeginSync implements ledger.SyncStore. A read transaction is a
// transaction like any other (one at a time), which the caller rolls
// back.
func (t txnStore) BeginSync(context.Context, bool) (ledger.SyncTxn, error) {
	tx, err := t.s.Begin()
	if err != nil {
		return nil, err
	}
	return tx, nil
}

// Sync returns the store as a ledger.SyncStore: the ledger's rows with
// the sync bookkeeping, for package replica.
func (s *Store) Sync() ledger.SyncStore { return txnStore{s} }

var _ ledger.SyncTxn = (*Tx)(nil)

// Remote implements ledger.SyncTx.
func (t *Tx) Remote(_ context.Context, id [16]byte) (uint64, error) {
	if t.done {
		return 0, ErrDone
	}
	return t.remoteRev(id), nil
}

func (t *Tx) remoteRev(id [16]byte) uint64 {
	if rev, ok := t.remote[id]; ok {
		return rev
	}
	if t.remoteCleared {
		return 0
	}
	return t.s.remote[id]
}

// SetRemote implements ledger.SyncTx.
func (t *Tx) SetRemote(_ context.Context, id [16]byte, rev uint64) error {
	if t.done {
		return ErrDone
	}
	t.remote[id] = rev
	return nil
}

// ClearRemote implements ledger.SyncTx.
func (t *Tx) ClearRemote(context.Context) error {
	if t.done {
		return ErrDone
	}
	t.remoteCleared = true
	t.remote = map[[16]byte]uint64{}
	return nil
}

// currentRevs returns every item's current revision as the transaction
// sees it.
func (t *Tx) currentRevs() map[[16]byte]uint64 {
	revs := map[[16]byte]uint64{}
	if !t.cleared {
		for id, r := range t.s.items {
			revs[id] = r.Rev
		}
	}
	for id, r := range t.items {
		if r == nil {
			delete(revs, id)
		} else {
			revs[id] = r.Rev
		}
	}
	return revs
}

// Unsynced implements ledger.SyncTx.
func (t *Tx) Unsynced(_ context.Context, limit int) ([]ledger.Unsynced, error) {
	if t.done {
		return nil, ErrDone
	}
	var ps []ledger.Unsynced
	for id, cur := range t.currentRevs() {
		if base := t.remoteRev(id); cur > base {
			ps = append(ps, ledger.Unsynced{ID: id, Cur: cur, Base: base})
		}
	}
	slices.SortFunc(ps, func(a, b ledger.Unsynced) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	if limit >= 0 && len(ps) > limit {
		ps = ps[:limit]
	}
	return ps, nil
}

// CountUnsynced implements ledger.SyncTx.
func (t *Tx) CountUnsynced(ctx context.Context) (int, error) {
	ps, err := t.Unsynced(ctx, -1)
	return len(ps), err
}

// ServerHeld implements ledger.SyncTx.
func (t *Tx) ServerHeld(_ context.Context, fn func(ledger.Row) error) error {
	if t.done {
		return ErrDone
	}
	revs := map[[16]byte]uint64{}
	if !t.remoteCleared {
		for id, rev := range t.s.remote {
			revs[id] = rev
		}
	}
	for id, rev := range t.remote {
		revs[id] = rev
	}
	var all []ledger.Row
	for id, rev := range revs {
		box, ok := t.pastBox(PastKey{id, rev})
		if !ok {
			if r, cur := t.current(id); cur && r.Rev == rev {
				box, ok = r.Box, true
			}
		}
		if !ok {
			return fmt.Errorf("bad remote row: item %x: the server's revision %d is not held", id, rev)
		}
		all = append(all, ledger.Row{ID: id, Rev: rev, Box: box})
	}
	for _, r := range all {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
