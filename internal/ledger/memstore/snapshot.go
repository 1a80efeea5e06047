package memstore

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/keyhold/keyhold/internal/ledger"
)

// The persisted form of a Batch (docs/SPEC.md §14.6, "Replica store"):
// a browser keeps the whole store as one such blob (a snapshot, Cleared
// and RemoteCleared set) and may add later batches after it. The bytes
// are canonical: every list sorted, no duplicates, so decoding and
// encoding again gives the same bytes.

// SnapshotMagic starts every encoded batch.
const SnapshotMagic = "KHRS"

// SnapshotVersion is the format version this package writes and reads.
const SnapshotVersion = 1

// Flag bits of the header.
const (
	flagCleared       = 1 << 0
	flagRemoteCleared = 1 << 1
)

// ErrSnapshot means bytes are not a batch this package wrote: truncated,
// changed, of another version, or not a batch at all. The error says
// which; match it with errors.Is.
var ErrSnapshot = errors.New("the stored vault copy is damaged or unreadable")

func snapErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrSnapshot, fmt.Sprintf(format, a...))
}

// MarshalBinary encodes the batch.
func (b *Batch) MarshalBinary() ([]byte, error) {
	var flags byte
	if b.Cleared {
		flags |= flagCleared
	}
	if b.RemoteCleared {
		flags |= flagRemoteCleared
	}
	out := append([]byte(SnapshotMagic), SnapshotVersion, flags)
	u32 := func(n int) error {
		if uint64(n) > 1<<32-1 {
			return fmt.Errorf("memstore: %d is too large to encode", n)
		}
		out = binary.BigEndian.AppendUint32(out, uint32(n))
		return nil
	}
	dc := slices.Clone(b.DeletedCurrent)
	slices.SortFunc(dc, func(x, y [16]byte) int { return bytes.Compare(x[:], y[:]) })
	if err := u32(len(dc)); err != nil {
		return nil, err
	}
	for _, id := range dc {
		out = append(out, id[:]...)
	}
	dp := slices.Clone(b.DeletedPast)
	slices.SortFunc(dp, cmpPastKey)
	if err := u32(len(dp)); err != nil {
		return nil, err
	}
	for _, k := range dp {
		out = append(out, k.ID[:]...)
		out = binary.BigEndian.AppendUint64(out, k.Rev)
	}
	for _, rows := range [][]ledger.Row{b.Current, b.Past} {
		rs := slices.Clone(rows)
		sortRows(rs)
		if err := u32(len(rs)); err != nil {
			return nil, err
		}
		for _, r := range rs {
			out = append(out, r.ID[:]...)
			out = binary.BigEndian.AppendUint64(out, r.Rev)
			if err := u32(len(r.Box)); err != nil {
				return nil, err
			}
			out = append(out, r.Box...)
		}
	}
	keys := slices.Sorted(maps.Keys(b.Meta))
	if err := u32(len(keys)); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if len(k) == 0 || len(k) > 1<<16-1 {
			return nil, fmt.Errorf("memstore: meta key of %d bytes cannot be encoded", len(k))
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(k)))
		out = append(out, k...)
		if err := u32(len(b.Meta[k])); err != nil {
			return nil, err
		}
		out = append(out, b.Meta[k]...)
	}
	ids := slices.SortedFunc(maps.Keys(b.Remote), func(x, y [16]byte) int { return bytes.Compare(x[:], y[:]) })
	if err := u32(len(ids)); err != nil {
		return nil, err
	}
	for _, id := range ids {
		out = append(out, id[:]...)
		out = binary.BigEndian.AppendUint64(out, b.Remote[id])
	}
	sum := sha256.Sum256(out)
	return append(out, sum[:]...), nil
}

func cmpPastKey(x, y PastKey) int {
	if c := bytes.Compare(x.ID[:], y.ID[:]); c != 0 {
		return c
	}
	return cmp.Compare(x.Rev, y.Rev)
}

// decoder reads the fields of an encoded batch; the first error sticks.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.err = snapErr("truncated in %s at byte %d", what, d.off)
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) u16(what string) int {
	p := d.take(2, what)
	if p == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(p))
}

func (d *decoder) u32(what string) int {
	p := d.take(4, what)
	if p == nil {
		return 0
	}
	return int(binary.BigEndian.Uint32(p))
}

func (d *decoder) u64(what string) uint64 {
	p := d.take(8, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (d *decoder) id(what string) [16]byte {
	p := d.take(16, what)
	if p == nil {
		return [16]byte{}
	}
	return [16]byte(p)
}

// count reads a list's length and checks that the rest of the input can
// hold that many entries of at least min bytes, so that a forged count
// allocates nothing.
func (d *decoder) count(min int, what string) int {
	n := d.u32(what)
	if d.err == nil && n > (len(d.b)-d.off)/min {
		d.err = snapErr("%s claims %d entries, more than the %d bytes left hold", what, n, len(d.b)-d.off)
	}
	if d.err != nil {
		return 0
	}
	return n
}

// UnmarshalBatch decodes a batch that MarshalBinary encoded. Any other
// input — truncated, with a byte changed, of another version — fails
// with an error wrapping ErrSnapshot, and nothing is returned.
func UnmarshalBatch(data []byte) (*Batch, error) {
	if len(data) < len(SnapshotMagic)+2+sha256.Size {
		return nil, snapErr("%d bytes are too few", len(data))
	}
	if string(data[:len(SnapshotMagic)]) != SnapshotMagic {
		return nil, snapErr("it does not start with %q", SnapshotMagic)
	}
	if v := data[len(SnapshotMagic)]; v != SnapshotVersion {
		return nil, snapErr("version %d, where this version of keyhold reads %d", v, SnapshotVersion)
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	want := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(want[:], sum) != 1 {
		return nil, snapErr("its checksum does not match (truncated or changed)")
	}
	d := &decoder{b: body, off: len(SnapshotMagic) + 1}
	flags := d.take(1, "the header")[0]
	if flags&^(flagCleared|flagRemoteCleared) != 0 {
		return nil, snapErr("unknown flags %#02x", flags)
	}
	b := &Batch{Cleared: flags&flagCleared != 0, RemoteCleared: flags&flagRemoteCleared != 0, Meta: map[string][]byte{}, Remote: map[[16]byte]uint64{}}
	// order checks that each list is strictly increasing: canonical, no
	// duplicates.
	order := func(c int, what string) {
		if c >= 0 && d.err == nil {
			d.err = snapErr("%s out of order or repeated at byte %d", what, d.off)
		}
	}
	n := d.count(16, "deleted items")
	for i := range n {
		id := d.id("deleted items")
		if i > 0 {
			order(bytes.Compare(b.DeletedCurrent[i-1][:], id[:]), "deleted items")
		}
		b.DeletedCurrent = append(b.DeletedCurrent, id)
	}
	n = d.count(24, "deleted past revisions")
	for i := range n {
		k := PastKey{d.id("deleted past revisions"), d.u64("deleted past revisions")}
		if i > 0 {
			order(cmpPastKey(b.DeletedPast[i-1], k), "deleted past revisions")
		}
		b.DeletedPast = append(b.DeletedPast, k)
	}
	for _, list := range []struct {
		rows *[]ledger.Row
		what string
		past bool
	}{{&b.Current, "items", false}, {&b.Past, "past revisions", true}} {
		n = d.count(28, list.what)
		for i := range n {
			r := ledger.Row{ID: d.id(list.what), Rev: d.u64(list.what)}
			r.Box = bytes.Clone(d.take(d.u32(list.what), list.what))
			if i > 0 {
				prev := (*list.rows)[i-1]
				c := bytes.Compare(prev.ID[:], r.ID[:])
				if list.past && c == 0 {
					c = cmp.Compare(prev.Rev, r.Rev)
				}
				order(c, list.what)
			}
			*list.rows = append(*list.rows, r)
		}
	}
	n = d.count(7, "meta values")
	prev := ""
	for i := range n {
		klen := d.u16("meta values")
		if klen == 0 && d.err == nil {
			d.err = snapErr("an empty meta key at byte %d", d.off)
		}
		k := string(d.take(klen, "meta values"))
		if i > 0 {
			order(cmp.Compare(prev, k), "meta values")
		}
		prev = k
		v := bytes.Clone(d.take(d.u32("meta values"), "meta values"))
		if d.err == nil {
			b.Meta[k] = v
		}
	}
	n = d.count(24, "server revisions")
	var last [16]byte
	for i := range n {
		id := d.id("server revisions")
		rev := d.u64("server revisions")
		if i > 0 {
			order(bytes.Compare(last[:], id[:]), "server revisions")
		}
		last = id
		if d.err == nil {
			b.Remote[id] = rev
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.off != len(body) {
		return nil, snapErr("%d bytes follow the last entry", len(body)-d.off)
	}
	return b, nil
}

// SnapshotBytes returns the whole committed state encoded (Snapshot,
// then MarshalBinary), or ErrBusy while a transaction is open.
func (s *Store) SnapshotBytes() ([]byte, error) {
	b, err := s.Snapshot()
	if err != nil {
		return nil, err
	}
	return b.MarshalBinary()
}

// FromSnapshot rebuilds a store from SnapshotBytes's output, and then
// from any later batches' MarshalBinary output, in order. The first must
// be a whole snapshot (Cleared and RemoteCleared set), so that nothing
// of a damaged list of batches is taken for the whole vault. Nothing the
// bytes hold is trusted beyond their checksum: items, history and the
// manifest are checked by the ledger's manifest on use (package
// replica), and what that does not cover is in docs/SPEC.md.
func FromSnapshot(snapshot []byte, later ...[]byte) (*Store, error) {
	b, err := UnmarshalBatch(snapshot)
	if err != nil {
		return nil, err
	}
	if !b.Cleared || !b.RemoteCleared {
		return nil, snapErr("the first part is a change, not a whole snapshot")
	}
	s := New()
	s.apply(b)
	for i, p := range later {
		b, err := UnmarshalBatch(p)
		if err != nil {
			return nil, fmt.Errorf("change %d: %w", i+1, err)
		}
		s.apply(b)
	}
	return s, nil
}
