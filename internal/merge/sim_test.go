package merge

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
)

// The simulation below plays the sync protocol at the level of one item:
// a server accepts a replica's revision only if it was made from the
// server's current one; otherwise the replica merges (with the revision it
// last synced as the ancestor) and tries again later, by which time another
// replica may have moved the server on once more.

// simServer is the server's copy of the item.
type simServer struct {
	cur *item.Item
	rev int
	// history is every revision the server accepted, oldest first, and
	// the losing local revisions replicas kept as Conflict asks.
	history []*item.Item
}

// replica is one device.
type replica struct {
	head    *item.Item // what the device shows
	base    *item.Item // the server revision head descends from
	baseRev int
	pending bool          // head has changes the server has not accepted
	kept    []*item.Item  // losing local revisions, sent with the next push
	merged  bool          // head was merged and not pushed since
	skew    time.Duration // the device clock's error
}

type simStats struct{ edits, pushes, merges, retries, conflicts int }

// sync is one attempt of a replica to sync. It reports whether the replica
// is now in step with the server.
func (s *simServer) sync(t *testing.T, rp *replica, st *simStats) bool {
	switch {
	case !rp.pending:
		rp.head, rp.base, rp.baseRev = s.cur.Clone(), s.cur.Clone(), s.rev
		return true
	case rp.baseRev == s.rev:
		if err := rp.head.Validate(); err != nil {
			t.Fatalf("replica pushes an invalid item: %v\n%s", err, describe(rp.head))
		}
		s.history = append(s.history, rp.kept...)
		s.history = append(s.history, rp.head.Clone())
		s.cur, s.rev = rp.head.Clone(), s.rev+1
		rp.base, rp.baseRev, rp.pending, rp.kept, rp.merged = rp.head.Clone(), s.rev, false, nil, false
		st.pushes++
		return true
	default:
		m, cs := checkedMerge(t, rp.base, rp.head, s.cur)
		st.merges++
		if rp.merged { // the server moved on again before this replica could push
			st.retries++
		}
		rp.merged = true
		st.conflicts += len(cs)
		if slices.ContainsFunc(cs, func(c Conflict) bool { return c.Winner == Remote }) {
			rp.kept = append(rp.kept, rp.head.Clone())
		}
		rp.head, rp.base, rp.baseRev = m, s.cur.Clone(), s.rev
		return false
	}
}

// values lists the values an item holds.
func values(it *item.Item) []string {
	v := []string{it.Title, it.Notes}
	for _, f := range it.Fields {
		v = append(v, f.Value)
	}
	return slices.Concat(v, it.URLs, it.Tags)
}

func TestConvergence(t *testing.T) {
	for _, tc := range []struct {
		seed            uint64
		replicas, steps int
	}{
		{1, 2, 3000}, {2, 3, 3000}, {3, 5, 4000}, {4, 8, 4000}, {5, 3, 3000},
	} {
		t.Run(fmt.Sprintf("seed%d-%dreplicas", tc.seed, tc.replicas), func(t *testing.T) {
			simulate(t, tc.seed, tc.replicas, tc.steps)
		})
	}
}

func simulate(t *testing.T, seed uint64, n, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0x73696d))
	g := &gen{rng: rng}
	first := g.item()
	first.Trashed = nil
	clock := first.Modified
	srv := &simServer{cur: first.Clone(), rev: 1, history: []*item.Item{first.Clone()}}
	written := make(map[string]bool)
	for _, v := range values(first) {
		written[v] = true
	}
	reps := make([]*replica, n)
	for i := range reps {
		reps[i] = &replica{head: first.Clone(), base: first.Clone(), baseRev: 1,
			skew: time.Duration(rng.IntN(5)-2) * time.Second}
	}
	var st simStats

	for range steps {
		rp := reps[rng.IntN(n)]
		clock = clock.Add(time.Duration(rng.IntN(3)) * time.Second)
		if rp.pending || rng.IntN(2) == 0 {
			srv.sync(t, rp, &st)
			continue
		}
		// An edit; a replica with unsynced changes syncs before it edits
		// again, so that every value written reaches a push.
		before := make(map[string]bool)
		for _, v := range values(rp.head) {
			before[v] = true
		}
		e := g.edit(rp.head)
		e.Modified = clock.Add(rp.skew)
		if e.Trashed != nil && !sameTime(e.Trashed, rp.head.Trashed) {
			tr := e.Modified
			e.Trashed = &tr
		}
		for _, v := range values(e) {
			if !before[v] {
				written[v] = true
			}
		}
		rp.head, rp.pending = e, true
		st.edits++
	}

	// Every replica syncs until the server takes its changes, then all
	// catch up with the last.
	for _, rp := range reps {
		for i := 0; !srv.sync(t, rp, &st) || rp.pending; i++ {
			if i > 3 {
				t.Fatal("a replica with nobody else syncing could not push")
			}
		}
	}
	for i, rp := range reps {
		srv.sync(t, rp, &st)
		if !sameItem(rp.head, srv.cur, true) {
			t.Errorf("replica %d did not converge:\nreplica %s\nserver  %s", i, describe(rp.head), describe(srv.cur))
		}
	}

	// No value written was lost: each is in the final item or in the
	// history the server holds.
	kept := make(map[string]bool)
	for _, it := range append(srv.history, srv.cur) {
		if err := it.Validate(); err != nil {
			t.Fatalf("server holds an invalid revision: %v", err)
		}
		for _, v := range values(it) {
			kept[v] = true
		}
	}
	for v := range written {
		if !kept[v] {
			t.Errorf("value %q was written but is neither in the item nor in its history", v)
		}
	}
	t.Logf("%+v, %d revisions in history", st, len(srv.history))
	if st.merges < steps/20 || st.conflicts == 0 || st.retries == 0 {
		t.Errorf("the simulation merged too little to test anything: %+v", st)
	}
}
