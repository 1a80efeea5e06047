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
	// Known are log high-water marks the caller knows from its own state
	// (a device's own log counter): a replay that cannot reach them is not
	// complete, whatever the folder's files say.
	Known Frontier
}

// maxSnapshotTries bounds how many snapshots a replay reads in full
// before it gives up on them for this round.
const maxSnapshotTries = 4

// HighWater returns, per device, the highest log number the folder shows
// it has written: its highest log file name, the frontiers of every
// snapshot head that verifies, and known. A device deletes its own logs
// only once they are covered, and never its highest one, so a reader
// that starts below a device's high-water mark and lacks the logs in
// between knows it misses changes.
func (sc *Scan) HighWater(heads map[DeviceID][]*SnapshotHead, known Frontier) Frontier {
	hw := Frontier{}
	for d, n := range known {
		hw[d] = max(hw[d], n)
	}
	for d, f := range sc.Devices {
		hw[d] = max(hw[d], f.Max(KindLog))
	}
	for _, hs := range heads {
		for _, h := range hs {
			for d, n := range h.Frontier {
				hw[d] = max(hw[d], n)
			}
		}
	}
	return hw
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
	// HighWater is, per device, the highest log number known to exist
	// (Scan.HighWater).
	HighWater Frontier
}

type candidate struct {
	head     *SnapshotHead
	path     string
	complete bool
}

// Replay replays the files of sc.
func (r *Replayer) Replay(sc *Scan) (*Result, error) {
	heads := sc.VerifiedHeads(r.Ring, r.Account)
	hw := sc.HighWater(heads, r.Known)
	sc.prevs = sc.logPrevs(r.Ring, r.Account)
	var cands []candidate
	for dev, hs := range heads {
		for _, sh := range hs {
			cands = append(cands, candidate{head: sh, path: sc.Devices[dev].Snaps[sh.Seq], complete: sc.gapless(sh.Frontier, hw)})
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
	if len(cands) > maxSnapshotTries {
		cands = cands[:maxSnapshotTries]
	}
	res := &Result{Items: map[[16]byte]*ItemState{}, Frontier: Frontier{}, Complete: true, Conflicts: map[[16]byte][]merge.Conflict{}, HighWater: hw}
	st := newState()
	var skipped []string
	chosen := false
	for _, c := range cands {
		if !c.complete && sc.gapless(Frontier{}, hw) {
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
		res.Complete = sc.gapless(Frontier{}, hw)
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
		for {
			next, ok := sc.nextLog(dev, res.Frontier[dev])
			if !ok {
				if res.Frontier[dev] < max(f.Max(KindLog), hw[dev]) {
					res.Complete = false // a gap: wait for the missing file
				}
				break
			}
			p := f.Logs[next]
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
		}
	}
	for dev, n := range hw {
		if sc.Devices[dev] == nil && res.Frontier[dev] < n {
			res.Complete = false // a device whose logs are gone, not covered
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

// logPrevs reads the heads of every log present: for each device, which
// log each one follows (Log.Prev). A head that does not verify counts as
// following the log before it; opening the log fails later, and the
// replay waits.
func (sc *Scan) logPrevs(ring Ring, acct keys.AccountID) map[DeviceID]map[uint64]uint64 {
	out := make(map[DeviceID]map[uint64]uint64, len(sc.Devices))
	for dev, f := range sc.Devices {
		m := make(map[uint64]uint64, len(f.Logs))
		for n, p := range f.Logs {
			m[n] = n - 1
			if lh, err := ReadLogHead(p); err == nil && VerifyLogHead(lh, ring, acct, dev, n) == nil {
				m[n] = lh.Prev
			}
		}
		out[dev] = m
	}
	return out
}

// nextLog returns the number of the log of dev that follows log from in
// its line: from+1 if present, else the lowest present log above it that
// declares the numbers in between void (Log.Prev ≤ from); the logs it
// passes over were declared void with them.
func (sc *Scan) nextLog(dev DeviceID, from uint64) (uint64, bool) {
	f := sc.Devices[dev]
	if f == nil {
		return 0, false
	}
	if _, ok := f.Logs[from+1]; ok {
		return from + 1, true
	}
	var best uint64
	found := false
	for n := range f.Logs {
		if n <= from || (found && n >= best) {
			continue
		}
		prev, ok := sc.prevs[dev][n]
		if !ok {
			prev = n - 1
		}
		if prev <= from {
			best, found = n, true
		}
	}
	return best, found
}

// LineEnd returns the last log of dev's line that can be reached from
// log from through the logs present (numbers a log declares void are
// passed over). It uses the log heads a replay of sc has read.
func (sc *Scan) LineEnd(dev DeviceID, from uint64) uint64 {
	for {
		n, ok := sc.nextLog(dev, from)
		if !ok {
			return from
		}
		from = n
	}
}

// gapless reports whether, starting from frontier f, every device's line
// of logs above it is present without a gap (numbers a log declares void
// are no gap), up to the device's high-water mark hw or its highest log
// name, whichever is higher.
func (sc *Scan) gapless(f, hw Frontier) bool {
	for dev, n := range hw {
		if sc.Devices[dev] == nil && f[dev] < n {
			return false
		}
	}
	for dev, files := range sc.Devices {
		cur := f[dev]
		for {
			n, ok := sc.nextLog(dev, cur)
			if !ok {
				break
			}
			cur = n
		}
		if cur < max(hw[dev], files.Max(KindLog)) {
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
	base := is.base(e)
	for _, h := range e.Hist {
		is.addHist(h, digest(h))
	}
	if base == e.New {
		// The item holds this entry's content already (the same entry
		// written again): it has nothing to add. Merging it would only
		// move the modification time to the entry's.
		return nil
	}
	merged, cs := merge.Merge(base, is.Cur, e.New)
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

// base returns the revision an entry is merged against: the newest of
// its base, its intermediate revisions and its new content that the item
// already holds (current or in its history), else the entry's base. An
// entry written again after its writer's logs were lost starts from the
// base of the first lost entry (SPEC 16.6, lost logs), but a replay that
// starts from a snapshot covering some of the lost logs holds their
// content already: merged against the older base, the writer's own later
// revisions would look like another device's edits racing this entry, and
// for instance undo a trash (MERGE.md rule 6c) or a change back to an
// earlier value. Every value the item holds came from an applied entry
// (an item's content includes its modification time, so two revisions
// made apart do not collide), so the changes up to the revision found are
// in the item already and merging against it loses nothing.
func (is *itemState) base(e Entry) *item.Item {
	if d := digest(e.New); d == is.cur || is.seen[d] {
		return e.New
	}
	for i := len(e.Hist) - 1; i >= 0; i-- {
		if d := digest(e.Hist[i]); d == is.cur || is.seen[d] {
			return e.Hist[i]
		}
	}
	return e.Base
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
// a snapshot at least as new as its own newest. Only snapshot heads that
// verify under ring count (a forged head claiming to cover everything
// makes nothing deletable), and a device that has written no snapshot
// yet, or whose snapshots do not verify, holds back everything. The
// device's highest log is never returned: it keeps the device's
// high-water mark visible to readers whose snapshots are older.
func (sc *Scan) Compactable(me DeviceID, ring Ring, acct keys.AccountID) []uint64 {
	heads := sc.VerifiedHeads(ring, acct)
	var k uint64
	first := true
	for dev := range sc.Devices {
		var cov uint64
		if hs := heads[dev]; len(hs) > 0 {
			cov = hs[0].Frontier[me]
		}
		if first || cov < k {
			k, first = cov, false
		}
	}
	var out []uint64
	seqs := sc.Device(me).Sorted(KindLog)
	for i, s := range seqs {
		if s <= k && i < len(seqs)-1 {
			out = append(out, s)
		}
	}
	return out
}
