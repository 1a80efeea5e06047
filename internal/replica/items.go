package replica

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/merge"
)

// Add stores new items in one transaction and returns them as stored,
// each at revision 1 under a new UUIDv7.
func (r *Replica) Add(ctx context.Context, its ...*item.Item) ([]Current, error) {
	var out []Current
	err := r.Write(ctx, func(_ Tx, l *ledger.Ledger) error {
		var err error
		out, err = r.AddTx(ctx, l, its...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AddTx is Add through the caller's ledger.
func (r *Replica) AddTx(ctx context.Context, l *ledger.Ledger, its ...*item.Item) ([]Current, error) {
	var out []Current
	for _, it := range its {
		u, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		id := ItemID(u)
		box, err := r.Seal(id, 1, it)
		if err != nil {
			return nil, err
		}
		prf, err := l.Add(ctx, id, 1, box)
		if err != nil {
			return nil, r.damaged(err)
		}
		out = append(out, Current{ID: id, Revision: 1, Item: it.Clone(), Entry: prf})
	}
	return out, nil
}

// Put stores a new revision of an existing item. baseRev is the revision
// the caller edited; if the item has moved on since (another device's
// edit arrived by sync meanwhile), Put returns ErrConflict and changes
// nothing, so no edit is lost: the caller shows the item again, or
// merges (merge.Merge with the revision at baseRev from History). The old
// revision goes to the history.
func (r *Replica) Put(ctx context.Context, id ItemID, baseRev uint64, it *item.Item) (Current, error) {
	var out Current
	err := r.Write(ctx, func(_ Tx, l *ledger.Ledger) error {
		var err error
		out, err = r.PutTx(ctx, l, id, baseRev, it)
		return err
	})
	return out, err
}

// PutTx is Put through the caller's ledger.
func (r *Replica) PutTx(ctx context.Context, l *ledger.Ledger, id ItemID, baseRev uint64, it *item.Item) (Current, error) {
	rev, _, err := l.Tx().Current(ctx, id)
	if errors.Is(err, ledger.ErrMissing) {
		return Current{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	} else if err != nil {
		return Current{}, r.damaged(err)
	}
	if rev != baseRev {
		return Current{}, ErrConflict
	}
	nrev := rev + 1
	nbox, err := r.Seal(id, nrev, it)
	if err != nil {
		return Current{}, err
	}
	prf, err := l.Advance(ctx, id, nrev, nbox)
	if err != nil {
		return Current{}, r.damaged(err)
	}
	return Current{ID: id, Revision: nrev, Item: it.Clone(), Entry: prf}, nil
}

// Trash moves an item that is not in the trash there (a new revision
// with Trashed set). ErrNotFound if there is no such item out of the
// trash.
func (r *Replica) Trash(ctx context.Context, id ItemID) (Current, error) {
	return r.edit(ctx, id, false, func(it *item.Item) {
		t := r.now()
		it.Trashed = &t
		it.Modified = t
	})
}

// Restore takes an item out of the trash. ErrNotFound if there is no such
// item in the trash.
func (r *Replica) Restore(ctx context.Context, id ItemID) (Current, error) {
	return r.edit(ctx, id, true, func(it *item.Item) {
		it.Trashed = nil
		it.Modified = r.now()
	})
}

// edit changes the current revision of an item in the trash state
// trashed, in one transaction.
func (r *Replica) edit(ctx context.Context, id ItemID, trashed bool, change func(*item.Item)) (Current, error) {
	var out Current
	err := r.Write(ctx, func(tx Tx, l *ledger.Ledger) error {
		rev, box, err := tx.Current(ctx, id)
		if errors.Is(err, ledger.ErrMissing) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		} else if err != nil {
			return r.damaged(err)
		}
		it, err := r.Open(id, rev, box)
		if err != nil {
			return r.damaged(err)
		}
		if (it.Trashed != nil) != trashed {
			where := ""
			if trashed {
				where = " in the trash"
			}
			return fmt.Errorf("%w%s: %s", ErrNotFound, where, id)
		}
		change(it)
		out, err = r.PutTx(ctx, l, id, rev, it)
		return err
	})
	return out, err
}

// Revision is one past revision of an item.
type Revision struct {
	Revision uint64
	Item     *item.Item
}

// History returns an item's past revisions, oldest first. The manifest
// authenticates the history as a whole: the count and accumulator of
// every past revision are checked before any is returned.
func (r *Replica) History(ctx context.Context, id ItemID) ([]Revision, error) {
	var out []Revision
	err := r.read(ctx, func(tx Tx) error {
		m, err := r.ReadManifest(ctx, tx)
		if err != nil {
			return err
		}
		var sums ledger.Sums
		var rows []ledger.Row
		if err := tx.ScanPast(ctx, func(row ledger.Row) error {
			sums.Add(r.Keys(), row, true)
			if row.ID == id {
				rows = append(rows, row)
			}
			return nil
		}); err != nil {
			return r.damaged(err)
		}
		if _, hist := sums.Matches(m); !hist {
			return r.damaged(errors.New("the history does not match the manifest: a past revision was deleted, swapped or rolled back"))
		}
		sortRows(rows)
		for _, row := range rows {
			it, err := r.Open(id, row.Rev, row.Box)
			if err != nil {
				return r.damaged(err)
			}
			out = append(out, Revision{Revision: row.Rev, Item: it})
		}
		return nil
	})
	return out, err
}

// Items returns every current item, decrypted, in no set order, after
// checking that they are exactly those the manifest authenticates.
func (r *Replica) Items(ctx context.Context) ([]Current, error) {
	var out []Current
	err := r.read(ctx, func(tx Tx) error {
		m, err := r.ReadManifest(ctx, tx)
		if err != nil {
			return err
		}
		var acc [32]byte
		out = out[:0]
		// The items Join opened, handed out once (WithJoinedItems).
		joined := r.joined
		r.joined = nil
		if err := tx.ScanCurrent(ctx, func(row ledger.Row) error {
			var it *item.Item
			if j, ok := joined[row.ID]; ok && j.rev == row.Rev && bytes.Equal(j.box, row.Box) {
				it = j.it
			} else {
				var err error
				if it, err = r.Open(row.ID, row.Rev, row.Box); err != nil {
					return err
				}
			}
			e := format.Entry(r.mk, row.ID, row.Rev, row.Box)
			format.XorInto(&acc, e)
			out = append(out, Current{ID: row.ID, Revision: row.Rev, Item: it, Entry: e})
			return nil
		}); err != nil {
			return r.damaged(err)
		}
		if uint64(len(out)) != m.Count || subtle.ConstantTimeCompare(acc[:], m.Acc[:]) != 1 {
			return r.damaged(errors.New("the items do not match the manifest: an item was deleted, swapped or rolled back"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns one current item. Its box is bound to its id and revision,
// but only Items checks the set of items against the manifest: a store
// rolled back to an older revision of this one item shows it, until the
// next Items or sync finds it.
func (r *Replica) Get(ctx context.Context, id ItemID) (Current, error) {
	var out Current
	err := r.read(ctx, func(tx Tx) error {
		if _, err := r.ReadManifest(ctx, tx); err != nil {
			return err
		}
		rev, box, err := tx.Current(ctx, id)
		if errors.Is(err, ledger.ErrMissing) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		} else if err != nil {
			return r.damaged(err)
		}
		it, err := r.Open(id, rev, box)
		if err != nil {
			return r.damaged(err)
		}
		out = Current{ID: id, Revision: rev, Item: it, Entry: format.Entry(r.mk, id, rev, box)}
		return nil
	})
	return out, err
}

func sortRows(rs []ledger.Row) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Rev < rs[j-1].Rev; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// PutMerge is Put for an editor that may hold a stale revision (a
// browser tab open while a sync brought another device's edit): if the
// item is still at baseRev, it is Put. Otherwise the edit is merged field
// by field with the current revision, against baseRev as the common
// ancestor, as a pull merges (docs/MERGE.md): the edit is kept as its
// own revision in the history (current+1) and the merge becomes the
// current revision (current+2), so neither side's edit is lost. The
// fields both changed are returned. ErrConflict only if baseRev is not
// a revision the item had.
func (r *Replica) PutMerge(ctx context.Context, id ItemID, baseRev uint64, it *item.Item) (Current, []merge.Conflict, error) {
	var out Current
	var conflicts []merge.Conflict
	err := r.Write(ctx, func(tx Tx, l *ledger.Ledger) error {
		conflicts = nil
		cur, box, err := tx.Current(ctx, id)
		if errors.Is(err, ledger.ErrMissing) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		} else if err != nil {
			return r.damaged(err)
		}
		if cur == baseRev {
			out, err = r.PutTx(ctx, l, id, baseRev, it)
			return err
		}
		if baseRev == 0 || baseRev > cur {
			return ErrConflict
		}
		bbox, err := tx.Past(ctx, id, baseRev)
		if errors.Is(err, ledger.ErrMissing) {
			return ErrConflict
		} else if err != nil {
			return r.damaged(err)
		}
		base, err := r.Open(id, baseRev, bbox)
		if err != nil {
			return r.damaged(err)
		}
		head, err := r.Open(id, cur, box)
		if err != nil {
			return r.damaged(err)
		}
		if _, err := r.PutTx(ctx, l, id, cur, it); err != nil {
			return err
		}
		var merged *item.Item
		merged, conflicts = merge.Merge(base, it, head)
		out, err = r.PutTx(ctx, l, id, cur+1, merged)
		return err
	})
	return out, conflicts, err
}
