package webcore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/ledger/memstore"
	"github.com/keyhold/keyhold/internal/merge"
	"github.com/keyhold/keyhold/internal/replica"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

type memVaults struct{ now func() time.Time }

// MemVaults keeps the vault in memory (package ledger/memstore) under the
// device-side sync rules every client shares (package replica). now is
// the clock (nil: time.Now).
func MemVaults(now func() time.Time) Vaults {
	if now == nil {
		now = time.Now
	}
	return memVaults{now: now}
}

func (m memVaults) Create(ctx context.Context, j *vaultsync.Join, kv uint32) (Vault, error) {
	v := &memVault{st: memstore.New()}
	// The list is made right after joining: it takes the items Join
	// opened rather than opening every box once more.
	r, err := replica.Join(ctx, v.st.Sync(), j, kv, append(v.options(m.now), replica.WithJoinedItems())...)
	if err != nil {
		return nil, err
	}
	v.Replica = r
	return v, nil
}

func (m memVaults) Open(ctx context.Context, snapshot []byte, changes [][]byte, id keys.AccountID, ak *keys.AccountKey, kv uint32) (Vault, error) {
	st, err := memstore.FromSnapshot(snapshot, changes...)
	if err != nil {
		return nil, fmt.Errorf("%w (the vault: %v)", ErrDamagedStore, err)
	}
	v := &memVault{st: st}
	// Open checks the account key against the key check Join stored and
	// verifies the stored manifest before anything is used.
	r, err := replica.Open(ctx, st.Sync(), ak, v.options(m.now)...)
	if err != nil {
		return nil, fmt.Errorf("%w (the vault: %v)", ErrDamagedStore, err)
	}
	if _, rkv := r.AccountKey(); r.AccountID() != id || rkv != kv {
		r.Close()
		return nil, fmt.Errorf("%w (the vault is of another account or key version than the device record)", ErrDamagedStore)
	}
	v.Replica = r
	return v, nil
}

// memVault is a Replica over a memstore. It notes the items each
// committed transaction wrote, so that the item list opens only those
// again after a sync, and keeps each committed transaction's changes
// until Changes or Snapshot takes them, for the browser to store.
type memVault struct {
	*replica.Replica
	st *memstore.Store

	mu      sync.Mutex
	changed map[vaultsync.ItemID]ledger.Row
	all     bool
	batches []*memstore.Batch
}

func (v *memVault) options(now func() time.Time) []replica.Option {
	return []replica.Option{replica.WithClock(now), replica.WithCommitted(v.committed)}
}

func (v *memVault) committed(tx ledger.SyncTxn) {
	mt, ok := tx.(*memstore.Tx)
	if !ok {
		return
	}
	b := mt.Batch()
	if b == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.batches = append(v.batches, b)
	if b.Cleared || len(b.DeletedCurrent) > 0 {
		v.all, v.changed = true, nil
		return
	}
	if v.changed == nil {
		v.changed = map[vaultsync.ItemID]ledger.Row{}
	}
	for _, r := range b.Current {
		v.changed[r.ID] = r
	}
}

func entryOf(c replica.Current) Entry { return Entry{ID: c.ID, Rev: c.Revision, Item: c.Item} }

// Items returns every current item.
func (v *memVault) Items(ctx context.Context) ([]Entry, error) {
	v.mu.Lock()
	v.changed, v.all = nil, false
	v.mu.Unlock()
	cs, err := v.Replica.Items(ctx)
	if err != nil {
		return nil, err
	}
	es := make([]Entry, len(cs))
	for i, c := range cs {
		es[i] = entryOf(c)
	}
	return es, nil
}

// Changed returns the items written since the last call.
func (v *memVault) Changed(ctx context.Context) ([]Entry, bool, error) {
	v.mu.Lock()
	rows, all := v.changed, v.all
	v.changed, v.all = nil, false
	v.mu.Unlock()
	if all {
		return nil, true, nil
	}
	es := make([]Entry, 0, len(rows))
	for id, r := range rows {
		it, err := v.Open(id, r.Rev, r.Box)
		if err != nil {
			return nil, false, err
		}
		es = append(es, Entry{ID: id, Rev: r.Rev, Item: it})
	}
	return es, false, nil
}

func (v *memVault) Add(ctx context.Context, it *item.Item) (Entry, error) {
	cs, err := v.Replica.Add(ctx, it)
	if err != nil {
		return Entry{}, err
	}
	return entryOf(cs[0]), nil
}

func (v *memVault) PutMerge(ctx context.Context, id vaultsync.ItemID, base uint64, it *item.Item) (Entry, []merge.Conflict, error) {
	c, conflicts, err := v.Replica.PutMerge(ctx, id, base, it)
	if errors.Is(err, replica.ErrConflict) {
		err = fmt.Errorf("%w: %w", ErrConflict, err)
	}
	if errors.Is(err, replica.ErrNotFound) {
		err = fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return Entry{}, nil, err
	}
	return entryOf(c), conflicts, nil
}

func (v *memVault) History(ctx context.Context, id vaultsync.ItemID) ([]Entry, error) {
	rs, err := v.Replica.History(ctx, id)
	if err != nil {
		return nil, err
	}
	es := make([]Entry, len(rs))
	for i, r := range rs {
		es[i] = Entry{ID: id, Rev: r.Revision, Item: r.Item}
	}
	return es, nil
}

// Snapshot waits for a transaction of the Replica's to end: memstore
// refuses a snapshot meanwhile rather than wait. The changes kept so far
// are dropped: the snapshot holds them.
//
// A transaction may commit after the changes were dropped and before
// the snapshot is taken (its changes are handed to committed only after
// the store applied them, and committed waits for v.mu): then the
// snapshot holds it and Changes returns it again. Applying it once more
// after the snapshot changes nothing, since a batch sets values rather
// than adding to them, and no later transaction can be in the snapshot:
// the Replica commits the next one only after committed returned.
func (v *memVault) Snapshot() ([]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.batches = nil
	for range 5000 {
		b, err := v.st.SnapshotBytes()
		if !errors.Is(err, memstore.ErrBusy) {
			return b, err
		}
		time.Sleep(time.Millisecond)
	}
	return nil, memstore.ErrBusy
}

// Changes returns the changes committed since the last Changes or
// Snapshot, encoded, oldest first.
func (v *memVault) Changes() ([][]byte, error) {
	v.mu.Lock()
	bs := v.batches
	v.batches = nil
	v.mu.Unlock()
	out := make([][]byte, 0, len(bs))
	for _, b := range bs {
		e, err := b.MarshalBinary()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (v *memVault) DropChanges() {
	v.mu.Lock()
	v.batches = nil
	v.mu.Unlock()
}

func (v *memVault) Close() { v.Replica.Close() }
