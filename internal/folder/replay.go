package folder

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"slices"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/merge"
)

// Replay computes the vault the folder's files describe: it starts from
// one snapshot (or from nothing) and applies, in one total order, every
// logged change the snapshot does not cover. Every device that holds the
// same files computes the same result:
//
//   - The snapshot is chosen by a rule that depends on the files alone:
//     among the snapshots whose uncovered logs are all present without a
//     gap, the one covering the most log files, then the smallest device
//     id, then the highest number (and if none is complete, the same
//     order among all). A snapshot that does not open is passed over.
//   - Each device's logs are applied from the one after the snapshot's
//     frontier, contiguously; a missing or unreadable log stops that
//     device's line there (its later logs wait for it).
//   - The entries are applied in the order (Lamport clock, device id, log
//     number, position in the log), each with merge.Merge(base = the
//     entry's base, local = the replayed item, remote = the entry's new
//     content): on equal modification times the entry later in the
//     order wins, as the server's head does in server sync.
//   - Every value that stops being current, and every entry's content
//     that the merge did not keep, goes to the item's history, so no
//     value any device wrote is lost.
type Replayer struct {
	Account keys.AccountID
	Ring    Ring
}

// Result is a replayed vault.
type Result struct {
	Items    map[[16]byte]*ItemState
	Frontier Frontier // the log files the result covers, per device
	Lamport  uint64   // the highest Lamport clock among them
	// Complete is false when a file was missing or did not open (a sync
	// client still copying, a damaged file): the result then lacks some
	// changes, and is neither applied nor written as a snapshot.
	Complete bool
	Skipped  []string // files that did not open this round
	Base     *SnapshotHead
	Applied  int // entries applied on top of the snapshot
	// Conflicts lists, per item, the parts that two changes set to
	// different values (the newer kept, the other in the history).
	Conflicts map[[16]byte][]merge.Conflict
}

type candidate struct {
	head     *SnapshotHead
	path     string
	complete bool
}

// Replay replays the files of sc.
func (r *Replayer) Replay(sc *Scan) (*Result, error) {
	var cands []candidate
	for dev, f := range sc.Devices {
		for seq, p := range f.Snaps {
			sh, err := readSnapshotHead(p)
			if err != nil || sh.Device != dev || sh.Seq != seq || sh.AccountID != r.Account {
				continue
			}
			cands = append(cands, candidate{head: sh, path: p, complete: sc.gapless(sh.Frontier)})
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if a.complete != b.complete {
			if a.complete {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.head.Frontier.Sum(), a.head.Frontier.Sum()); c != 0 {
			return c
		}
		if c := bytes.Compare(a.head.Device[:], b.head.Device[:]); c != 0 {
			return c
		}
		return cmp.Compare(b.head.Seq, a.head.Seq)
	})
	res := &Result{Items: map[[16]byte]*ItemState{}, Frontier: Frontier{}, Complete: true, Conflicts: map[[16]byte][]merge.Conflict{}}
	st := newState()
	var skipped []string
	chosen := false
	for _, c := range cands {
		if !c.complete && sc.gapless(Frontier{}) {
			break // starting from nothing is complete: better than this
		}
		b, err := readLimited(c.path, MaxSnapshotSize)
		if err != nil {
			skipped = append(skipped, c.path)
			continue
		}
		snap, err := OpenSnapshot(b, r.Ring, r.Account, c.head.Device, c.head.Seq)
		if err != nil {
			skipped = append(skipped, c.path)
			continue
		}
		for _, it := range snap.Items {
			st.load(it)
		}
		res.Frontier = snap.Frontier.Clone()
		res.Lamport = snap.Lamport
		res.Base = &SnapshotHead{Header: snap.Header, Frontier: snap.Frontier}
		res.Complete = c.complete
		chosen = true
		break
	}
	if !chosen {
		res.Complete = sc.gapless(Frontier{})
	}
	if len(skipped) > 0 && !chosen {
		res.Complete = false
	}
	res.Skipped = skipped

	// The logs the snapshot does not cover, each device's line
	// contiguous from its frontier.
	type ordered struct {
		lamport uint64
		dev     DeviceID
		seq     uint64
		idx     int
		e       Entry
	}
	var all []ordered
	devs := make([]DeviceID, 0, len(sc.Devices))
	for d := range sc.Devices {
		devs = append(devs, d)
	}
	slices.SortFunc(devs, func(a, b DeviceID) int { return bytes.Compare(a[:], b[:]) })
	for _, dev := range devs {
		f := sc.Devices[dev]
		next := res.Frontier[dev] + 1
		for {
			p, ok := f.Logs[next]
			if !ok {
				if next <= f.Max(KindLog) {
					res.Complete = false // a gap: wait for the missing file
				}
				break
			}
			b, err := readLimited(p, MaxLogSize)
			var l *Log
			if err == nil {
				l, err = OpenLog(b, r.Ring, r.Account, dev, next)
			}
			if err != nil {
				res.Skipped = append(res.Skipped, p)
				res.Complete = false
				break
			}
			for i, e := range l.Entries {
				all = append(all, ordered{lamport: l.Lamport, dev: dev, seq: next, idx: i, e: e})
			}
			res.Lamport = max(res.Lamport, l.Lamport)
			res.Frontier[dev] = next
			next++
		}
	}
	slices.SortFunc(all, func(a, b ordered) int {
		if c := cmp.Compare(a.lamport, b.lamport); c != 0 {
			return c
		}
		if c := bytes.Compare(a.dev[:], b.dev[:]); c != 0 {
			return c
		}
		if c := cmp.Compare(a.seq, b.seq); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	for _, o := range all {
		if cs := st.apply(o.e); len(cs) > 0 {
			res.Conflicts[o.e.ID] = append(res.Conflicts[o.e.ID], cs...)
		}
	}
	res.Applied = len(all)
	for id, s := range st.items {
		res.Items[id] = s.ItemState
	}
	return res, nil
}

// gapless reports whether, starting from frontier f, every device's logs
// above it are all present (by name) without a gap.
func (sc *Scan) gapless(f Frontier) bool {
	for dev, files := range sc.Devices {
		from := f[dev]
		var n uint64
		m := from
		for s := range files.Logs {
			if s > from {
				n++
				m = max(m, s)
			}
		}
		if n != m-from {
			return false
		}
	}
	return true
}

// state is a replay in progress: each item with the hashes of the values
// it holds, for deduplicating its history.
type state struct {
	items map[[16]byte]*itemState
}

type itemState struct {
	*ItemState
	cur  [32]byte
	seen map[[32]byte]bool
}

func newState() *state { return &state{items: map[[16]byte]*itemState{}} }

func digest(it *item.Item) [32]byte {
	b, err := it.Marshal()
	if err != nil {
		// Items come from Unmarshal or Merge of valid items; marshalling
		// them cannot fail. Hash nothing rather than panic.
		return [32]byte{}
	}
	defer clear(b)
	return sha256.Sum256(b)
}

// Same reports whether two items have the same content, byte for byte
// in their encoding.
func Same(a, b *item.Item) bool { return digest(a) == digest(b) }

func (s *state) load(it *ItemState) {
	is := &itemState{ItemState: it, cur: digest(it.Cur), seen: map[[32]byte]bool{}}
	for _, h := range it.Hist {
		is.seen[digest(h)] = true
	}
	s.items[it.ID] = is
}

func (is *itemState) addHist(it *item.Item, d [32]byte) {
	if is.seen[d] || d == is.cur {
		return
	}
	is.seen[d] = true
	is.Hist = append(is.Hist, it.Clone())
}

func (s *state) apply(e Entry) []merge.Conflict {
	is := s.items[e.ID]
	nd := digest(e.New)
	if is == nil {
		is = &itemState{ItemState: &ItemState{ID: e.ID, Cur: e.New.Clone()}, cur: nd, seen: map[[32]byte]bool{}}
		s.items[e.ID] = is
		if e.Base != nil {
			is.addHist(e.Base, digest(e.Base))
		}
		for _, h := range e.Hist {
			is.addHist(h, digest(h))
		}
		return nil
	}
	for _, h := range e.Hist {
		is.addHist(h, digest(h))
	}
	merged, cs := merge.Merge(e.Base, is.Cur, e.New)
	md := digest(merged)
	if md != is.cur {
		old, od := is.Cur, is.cur
		is.Cur, is.cur = merged, md
		is.addHist(old, od)
	}
	if nd != md {
		is.addHist(e.New, nd)
	}
	return cs
}

// Sorted returns the result's items ordered by id.
func (r *Result) Sorted() []*ItemState {
	out := make([]*ItemState, 0, len(r.Items))
	for _, it := range r.Items {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b *ItemState) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

// Compactable returns the numbers of device me's own logs that every
// device's newest snapshot covers, and which may therefore be deleted: no
// device will need them again, since every device starts its replay from
// a snapshot at least as new as its own newest. A device that has written
// no snapshot yet, or whose newest snapshot cannot be read, holds back
// everything.
func (sc *Scan) Compactable(me DeviceID) []uint64 {
	var k uint64
	first := true
	for _, f := range sc.Devices {
		seqs := f.Sorted(KindSnapshot)
		var cov uint64
		for i := len(seqs) - 1; i >= 0; i-- {
			if sh, err := readSnapshotHead(f.Snaps[seqs[i]]); err == nil {
				cov = sh.Frontier[me]
				break
			}
		}
		if first || cov < k {
			k, first = cov, false
		}
	}
	var out []uint64
	for _, s := range sc.Device(me).Sorted(KindLog) {
		if s <= k {
			out = append(out, s)
		}
	}
	return out
}
