// Package memstore keeps a ledger's rows in memory. Tests use it, and a
// browser client, which persists it to IndexedDB: there a transaction
// commits on its own once the code stops issuing requests, and Go called
// from JavaScript cannot wait for a promise, so the store never waits on
// storage. A transaction's changes are kept aside until Commit, which
// applies them at once and hands them back as one Batch to persist (or a
// Snapshot of everything); Load puts persisted batches back.
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
// then deletions, then the rows and meta values set.
type Batch struct {
	Cleared        bool
	DeletedCurrent [][16]byte
	DeletedPast    []PastKey
	Current        []ledger.Row
	Past           []ledger.Row
	Meta           map[string][]byte
}

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool {
	return !b.Cleared && len(b.DeletedCurrent) == 0 && len(b.DeletedPast) == 0 && len(b.Current) == 0 && len(b.Past) == 0 && len(b.Meta) == 0
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
}

// New returns an empty store.
func New() *Store {
	return &Store{items: map[[16]byte]ledger.Row{}, past: map[PastKey][]byte{}, meta: map[string][]byte{}}
}

// Begin starts a transaction, or fails with ErrBusy while one is open.
func (s *Store) Begin() (*Tx, error) {
	if !s.w.TryLock() {
		return nil, ErrBusy
	}
	return &Tx{s: s, items: map[[16]byte]*ledger.Row{}, past: map[PastKey]*[]byte{}, meta: map[string][]byte{}}, nil
}

// Snapshot returns the whole committed state as one batch (Cleared set),
// for persisting it in one piece.
func (s *Store) Snapshot() (*Batch, error) {
	if !s.w.TryLock() {
		return nil, ErrBusy
	}
	defer s.w.Unlock()
	b := &Batch{Cleared: true, Meta: map[string][]byte{}}
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
	b := &Batch{Cleared: t.cleared, Meta: t.meta}
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
