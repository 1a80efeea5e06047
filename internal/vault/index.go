package vault

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
)

// The title index lets a command without the agent find one item by title
// without decrypting every item: after the key derivation, `keyhold show
// TITLE` decrypts the index (ids, revisions, trash flags and titles, in
// indexBuckets sealed buckets) and then one item. docs/SPEC.md §10 gives
// the layout.
//
// The index is a cache, never the authority. Each bucket carries the XOR
// of the manifest entries of the items it lists, sealed with them; the
// buckets are trusted only if their counts and accumulators add up to the
// verified manifest's, and an item found through them must have the
// revision they name. Anything else — a missing, stale or damaged bucket,
// a title not found or found twice — falls back to decrypting everything,
// which also rebuilds the index.

// Each entry carries its 32-byte manifest entry, so buckets are twice as
// many as before entries did: a bucket stays small enough to sit in its
// database page without an overflow chain at common vault sizes.
const (
	indexBuckets = 64
	labelIndex   = "keyhold v1 title index"
	indexMagic   = "KHTI"
)

type indexEntry struct {
	id      ItemID
	rev     uint64
	prf     [32]byte // the item's manifest entry, bound to its box
	trashed bool
	title   string
}

type bucket struct {
	acc     [32]byte
	entries []indexEntry
}

func bucketOf(id ItemID) int { return int(id[15]) % indexBuckets }

func indexKey(b int) string { return fmt.Sprintf("index/%02d", b) }

func (s *Session) indexAD(b int) []byte {
	// Version 2: entries carry their manifest entry (SPEC §10); a bucket
	// of version 1 no longer opens and is rebuilt.
	ad := []byte(indexMagic)
	ad = append(ad, format.Version2)
	ad = append(ad, s.v.meta.accountID[:]...)
	ad = binary.BigEndian.AppendUint32(ad, s.kv)
	return append(ad, byte(b))
}

func (s *Session) sealBucket(b int, bk *bucket) ([]byte, error) {
	// Recompute the accumulator from the entries: it is sealed with them,
	// so a bucket can only claim the items it lists.
	bk.acc = [32]byte{}
	var pt []byte
	pt = binary.BigEndian.AppendUint32(pt, uint32(len(bk.entries)))
	for _, e := range bk.entries {
		format.XorInto(&bk.acc, e.prf)
	}
	pt = append(pt, bk.acc[:]...)
	for _, e := range bk.entries {
		pt = append(pt, e.id[:]...)
		pt = binary.BigEndian.AppendUint64(pt, e.rev)
		pt = append(pt, e.prf[:]...)
		var fl byte
		if e.trashed {
			fl = 1
		}
		pt = append(pt, fl)
		t := e.title
		if len(t) > 0xffff {
			t = t[:0xffff]
		}
		pt = binary.BigEndian.AppendUint16(pt, uint16(len(t)))
		pt = append(pt, t...)
	}
	return keys.Seal(s.ak[:], labelIndex, s.indexAD(b), pt)
}

var errIndex = errors.New("title index unusable")

func (s *Session) openBucket(b int, box []byte) (*bucket, error) {
	pt, err := keys.Open(s.ak[:], labelIndex, s.indexAD(b), box)
	if err != nil {
		return nil, errIndex
	}
	return parseBucket(pt)
}

// parseBucket decodes a bucket's plaintext (docs/SPEC.md §10).
func parseBucket(pt []byte) (*bucket, error) {
	if len(pt) < 36 {
		return nil, errIndex
	}
	n := binary.BigEndian.Uint32(pt)
	bk := &bucket{}
	copy(bk.acc[:], pt[4:36])
	p := pt[36:]
	for range n {
		if len(p) < 59 {
			return nil, errIndex
		}
		var e indexEntry
		copy(e.id[:], p[:16])
		e.rev = binary.BigEndian.Uint64(p[16:])
		copy(e.prf[:], p[24:56])
		e.trashed = p[56] == 1
		l := int(binary.BigEndian.Uint16(p[57:]))
		p = p[59:]
		if len(p) < l {
			return nil, errIndex
		}
		e.title = string(p[:l])
		p = p[l:]
		bk.entries = append(bk.entries, e)
	}
	if len(p) != 0 {
		return nil, errIndex
	}
	return bk, nil
}

// readIndex loads every bucket and checks them against the manifest.
func (s *Session) readIndex(ctx context.Context, q querier, m *format.Manifest) ([]*bucket, error) {
	bks := make([]*bucket, indexBuckets)
	var acc [32]byte
	var count uint64
	for b := range indexBuckets {
		box, err := getMeta(ctx, q, indexKey(b))
		if err != nil {
			// A missing bucket is rebuilt; a database that cannot be
			// read is reported, not papered over by a rebuild.
			if e := dbError(s.v.path(), err); e != err {
				return nil, e
			}
			return nil, errIndex
		}
		if bks[b], err = s.openBucket(b, box); err != nil {
			return nil, err
		}
		format.XorInto(&acc, bks[b].acc)
		count += uint64(len(bks[b].entries))
	}
	if count != m.Count || subtle.ConstantTimeCompare(acc[:], m.Acc[:]) != 1 {
		return nil, errIndex
	}
	return bks, nil
}

// writeIndex stores the whole index built from entries.
func (s *Session) writeIndex(ctx context.Context, tx *sql.Tx, entries map[ItemID]*Entry) error {
	bks := make([]*bucket, indexBuckets)
	for i := range bks {
		bks[i] = &bucket{}
	}
	for _, e := range entries {
		b := bucketOf(e.ID)
		bks[b].entries = append(bks[b].entries, indexEntry{id: e.ID, rev: e.Revision, prf: e.prf, trashed: e.Item.Trashed != nil, title: e.Item.Title})
	}
	for b, bk := range bks {
		box, err := s.sealBucket(b, bk)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)`, indexKey(b), box); err != nil {
			return err
		}
	}
	return nil
}

// updateIndex applies changed entries to their buckets inside a write
// transaction. If the index is absent or unusable it is dropped; the next
// full load rebuilds it.
func (s *Session) updateIndex(ctx context.Context, tx *sql.Tx, changed []*Entry) error {
	byBucket := map[int][]*Entry{}
	for _, e := range changed {
		byBucket[bucketOf(e.ID)] = append(byBucket[bucketOf(e.ID)], e)
	}
	for b, es := range byBucket {
		box, err := getMeta(ctx, tx, indexKey(b))
		var bk *bucket
		if err == nil {
			bk, err = s.openBucket(b, box)
		}
		if err != nil {
			_, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE k LIKE 'index/%'`)
			return err
		}
		for _, e := range es {
			ie := indexEntry{id: e.ID, rev: e.Revision, prf: e.prf, trashed: e.Item.Trashed != nil, title: e.Item.Title}
			found := false
			for i := range bk.entries {
				if bk.entries[i].id == e.ID {
					bk.entries[i] = ie
					found = true
					break
				}
			}
			if !found {
				bk.entries = append(bk.entries, ie)
			}
		}
		nbox, err := s.sealBucket(b, bk)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET v = ? WHERE k = ?`, nbox, indexKey(b)); err != nil {
			return err
		}
	}
	return nil
}

// resolveByIndex finds one item by exact title or id through the index and
// decrypts only that item. It returns errIndex whenever the full path must
// decide (including not found and ambiguous, so their errors stay exact).
func (s *Session) resolveByIndex(ctx context.Context, ref string, f Filter) (*Entry, error) {
	tx, err := s.v.readTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	m, err := s.readManifest(ctx, tx)
	if err != nil {
		return nil, err
	}
	bks, err := s.readIndex(ctx, tx, m)
	if err != nil {
		return nil, err
	}
	tref := strings.TrimSpace(ref)
	var uid ItemID
	isID := false
	if u, err := uuid.Parse(tref); err == nil {
		uid, isID = ItemID(u), true
	}
	var hit *indexEntry
	for _, bk := range bks {
		for i := range bk.entries {
			e := &bk.entries[i]
			if e.trashed != (f == Trash) && f != All {
				continue
			}
			if (isID && e.id == uid) || strings.EqualFold(e.title, tref) {
				if hit != nil {
					return nil, errIndex
				}
				hit = e
			}
		}
	}
	if hit == nil {
		return nil, errIndex
	}
	var rev uint64
	var box []byte
	if err := tx.QueryRowContext(ctx, `SELECT rev, box FROM items WHERE id = ?`, hit.id[:]).Scan(&rev, &box); err != nil {
		return nil, errIndex
	}
	if rev != hit.rev {
		return nil, errIndex
	}
	// The row must hold the very box the index (and so the manifest)
	// names: another genuine box of this revision is left to the full
	// path, which reports it.
	if e := format.Entry(s.mk, hit.id, rev, box); subtle.ConstantTimeCompare(e[:], hit.prf[:]) != 1 {
		return nil, errIndex
	}
	it, err := s.open(hit.id, rev, box)
	if err != nil {
		return nil, s.damaged(err)
	}
	return s.newEntry(hit.id, rev, box, it), nil
}

// rebuildIndex writes a fresh index from the loaded cache if the stored
// one is unusable. Best effort: a failure only means the next command
// without the agent takes the slow path again.
func (s *Session) rebuildIndex(ctx context.Context, m *format.Manifest) {
	if _, err := s.readIndex(ctx, s.v.db, m); err == nil || errors.Is(err, ErrDamaged) {
		return
	}
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return
	}
	defer tx.Rollback()
	cur, err := s.readManifest(ctx, tx)
	if err != nil || cur.Seq != m.Seq {
		return // someone wrote meanwhile; they or a later load rebuild it
	}
	if s.writeIndex(ctx, tx, s.entries) == nil {
		tx.Commit()
	}
}
