package merge

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/item"
)

// seen counts which rules random merges reached, so that a generator that
// stopped producing some case fails the test instead of passing it by.
type seen map[string]int

func (s seen) note(base, l, r, m *item.Item, cs []Conflict) {
	for _, c := range cs {
		part := c.Field
		if strings.HasPrefix(part, "field:") {
			part = "field"
		}
		s["conflict "+part]++
	}
	if base != nil && base.Trashed == nil && (l.Trashed != nil || r.Trashed != nil) && m.Trashed == nil {
		s["restored"]++
	}
	if l.Trashed != nil && r.Trashed != nil && !sameTime(l.Trashed, r.Trashed) {
		s["both trashed"]++
	}
	if len(cs) == 0 && !sameItem(m, l, false) && !sameItem(m, r, false) {
		s["clean merge"]++
	}
}

func (s seen) require(t *testing.T, keys ...string) {
	t.Helper()
	t.Logf("reached: %v", map[string]int(s))
	for _, k := range keys {
		if s[k] == 0 {
			t.Errorf("no random merge reached %q; the generator needs fixing", k)
		}
	}
}

// TestRandomMerges checks the promises of docs/MERGE.md on random edits of
// random items.
func TestRandomMerges(t *testing.T) {
	s := make(seen)
	for seed := range uint64(8) {
		g := &gen{rng: rand.New(rand.NewPCG(seed, 0x6d65))}
		for range 1500 {
			base := g.item()
			l, r := g.edit(base), g.edit(base)
			if g.rng.IntN(4) == 0 { // a longer way on one side
				l = g.edit(l)
			}
			m, cs := checkedMerge(t, base, l, r)
			s.note(base, l, r, m, cs)
			checkIdentities(t, base, l, r)

			// Rule 7: the same heads without their ancestor.
			m, cs = checkedMerge(t, nil, l, r)
			checkIdentities(t, nil, l, r)
			s.note(nil, l, r, m, cs)
		}
	}
	s.require(t, "conflict type", "conflict title", "conflict field", "conflict notes",
		"conflict trashed", "restored", "both trashed", "clean merge")
}

// TestRandomMergesNearLimits checks random merges of items whose lists are
// close to item's limits, where a set merge may not fit (rules 4d, 5).
func TestRandomMergesNearLimits(t *testing.T) {
	s := make(seen)
	for seed := range uint64(4) {
		g := &gen{rng: rand.New(rand.NewPCG(seed, 0x6c69)), big: true}
		for range 60 {
			base := g.item()
			l, r := g.edit(base), g.edit(base)
			m, cs := checkedMerge(t, base, l, r)
			s.note(base, l, r, m, cs)
			checkIdentities(t, base, l, r)
		}
	}
	s.require(t, "conflict urls", "conflict tags", "conflict fields")
}
