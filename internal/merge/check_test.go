package merge

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
)

// t0 is the time test items are made around.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// sameItem reports whether a and b hold the same item: times compare as
// instants, and a nil list equals an empty one. Modified is compared only
// if withModified.
func sameItem(a, b *item.Item, withModified bool) bool {
	return a.V == b.V && a.Type == b.Type && a.Title == b.Title && a.Notes == b.Notes &&
		a.Favorite == b.Favorite && a.Match == b.Match && slices.Equal(a.Fields, b.Fields) &&
		slices.Equal(a.URLs, b.URLs) && slices.Equal(a.Tags, b.Tags) &&
		a.Created.Equal(b.Created) && sameTime(a.Trashed, b.Trashed) &&
		slices.EqualFunc(a.Attachments, b.Attachments, sameAttachment) &&
		(!withModified || a.Modified.Equal(b.Modified))
}

// describe shows an item in a test failure. Tests use made-up values only.
func describe(it *item.Item) string {
	if it == nil {
		return "<nil>"
	}
	tr := "-"
	if it.Trashed != nil {
		tr = it.Trashed.Sub(t0).String()
	}
	var att []string
	for _, a := range it.Attachments {
		att = append(att, fmt.Sprintf("%s:%q", a.Name, a.Data))
	}
	return fmt.Sprintf("{v%d %s %q fields=%v urls=%q notes=%q tags=%q fav=%v match=%q created=%s mod=%s trashed=%s attachments=%v}",
		it.V, it.Type, it.Title, it.Fields, it.URLs, it.Notes, it.Tags, it.Favorite, it.Match,
		it.Created.Sub(t0), it.Modified.Sub(t0), tr, att)
}

func cloneOrNil(it *item.Item) *item.Item {
	if it == nil {
		return nil
	}
	return it.Clone()
}

// checkedMerge runs Merge and checks, besides the invariants, that it does
// not modify its inputs, that it is deterministic and that its result
// shares no memory with the inputs (rules 9a, 9b).
func checkedMerge(t testing.TB, base, local, remote *item.Item) (*item.Item, []Conflict) {
	t.Helper()
	before := []*item.Item{cloneOrNil(base), local.Clone(), remote.Clone()}
	m, cs := Merge(base, local, remote)
	after := []*item.Item{base, local, remote}
	for i := range before {
		if !reflect.DeepEqual(before[i], after[i]) {
			t.Fatalf("Merge modified argument %d:\nbefore %s\nafter  %s", i, describe(before[i]), describe(after[i]))
		}
	}
	m2, cs2 := Merge(base, local, remote)
	if !reflect.DeepEqual(m, m2) || !slices.Equal(cs, cs2) {
		t.Fatalf("Merge is not deterministic:\n%s %v\n%s %v", describe(m), cs, describe(m2), cs2)
	}
	checkInvariants(t, base, local, remote, m, cs)

	// Scribble over the second result: the inputs must not change.
	for i := range m2.Fields {
		m2.Fields[i].Value += "!"
	}
	for i := range m2.URLs {
		m2.URLs[i] += "!"
	}
	for i := range m2.Tags {
		m2.Tags[i] += "!"
	}
	if m2.Trashed != nil {
		*m2.Trashed = m2.Trashed.Add(time.Hour)
	}
	for i := range before {
		if !reflect.DeepEqual(before[i], after[i]) {
			t.Fatalf("Merge result shares memory with argument %d", i)
		}
	}
	return m, cs
}

// keyedFields pairs fields across revisions as rule 5 does.
func keyedFields(fields []item.Field) ([]fieldKey, map[fieldKey]slot[item.Field]) {
	return index(fields)
}

// checkInvariants checks what docs/MERGE.md promises of m, cs =
// Merge(base, l, r), without recomputing the merge.
func checkInvariants(t testing.TB, base, l, r, m *item.Item, cs []Conflict) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nbase   %s\nlocal  %s\nremote %s\nmerged %s\nconflicts %v",
			fmt.Sprintf(format, args...), describe(base), describe(l), describe(r), describe(m), cs)
	}
	b := base
	if b == nil {
		b = &item.Item{} // rule 7
	}
	newer := Remote
	if l.Modified.After(r.Modified) {
		newer = Local
	}
	head := func(side string) *item.Item {
		if side == Local {
			return l
		}
		return r
	}

	// Conflicts are well formed, at most one per part (fields aside).
	conflicts := make(map[string]string)
	fieldConflicts := 0
	for _, c := range cs {
		if c.Winner != Local && c.Winner != Remote {
			fail("conflict %q has winner %q", c.Field, c.Winner)
		}
		switch c.Field {
		case "type", "title", "urls", "notes", "tags", "favorite", "match", "trashed", "fields", "attachments":
		default:
			switch {
			case strings.HasPrefix(c.Field, "field:"):
				fieldConflicts++
			case strings.HasPrefix(c.Field, "attachment:"):
			default:
				fail("conflict on unknown part %q", c.Field)
			}
			continue
		}
		if _, dup := conflicts[c.Field]; dup {
			fail("conflict %q reported twice", c.Field)
		}
		conflicts[c.Field] = c.Winner
	}

	// Rule 9c.
	if l.Validate() == nil && r.Validate() == nil {
		if err := m.Validate(); err != nil {
			fail("merged item is invalid: %v", err)
		}
	}

	// Rule 3 on each value part: the result is one head's value; a change
	// is lost only to a reported conflict; a conflict is reported only
	// when both sides changed the part to different values, and the newer
	// side wins it.
	checkValue := func(part string, bv, lv, rv, mv any) {
		t.Helper()
		if mv != lv && mv != rv {
			fail("%s: merged value is neither head's", part)
		}
		w, ok := conflicts[part]
		if ok {
			if lv == bv || rv == bv || lv == rv {
				fail("%s: conflict reported but not both sides changed it differently", part)
			}
			if w != newer {
				fail("%s: conflict won by %s, newer is %s", part, w, newer)
			}
		}
		if lv != bv && mv != lv && (!ok || w != Remote) {
			fail("%s: local change lost without a conflict won by remote", part)
		}
		if rv != bv && mv != rv && (!ok || w != Local) {
			fail("%s: remote change lost without a conflict won by local", part)
		}
	}
	// Rule 9: each merged attachment is one head's, and one that both
	// heads hold unchanged from the base survives.
	for _, a := range m.Attachments {
		inHead := false
		for _, h := range []*item.Item{l, r} {
			for _, ha := range h.Attachments {
				inHead = inHead || sameAttachment(a, ha)
			}
		}
		if !inHead {
			fail("attachment %q is in neither head", a.Name)
		}
	}
	for _, ba := range b.Attachments {
		keptL := slices.ContainsFunc(l.Attachments, func(x item.Attachment) bool { return sameAttachment(x, ba) })
		keptR := slices.ContainsFunc(r.Attachments, func(x item.Attachment) bool { return sameAttachment(x, ba) })
		if keptL && keptR && conflicts["attachments"] == "" &&
			!slices.ContainsFunc(m.Attachments, func(x item.Attachment) bool { return sameAttachment(x, ba) }) {
			fail("attachment %q both heads kept is gone", ba.Name)
		}
	}
	checkValue("type", b.Type, l.Type, r.Type, m.Type)
	checkValue("title", b.Title, l.Title, r.Title, m.Title)
	checkValue("notes", b.Notes, l.Notes, r.Notes, m.Notes)
	checkValue("favorite", b.Favorite, l.Favorite, r.Favorite, m.Favorite)
	checkValue("match", b.Match, l.Match, r.Match, m.Match)
	if m.V != l.V && m.V != r.V {
		fail("schema version is neither head's")
	}

	// Rule 4.
	checkSet := func(part string, list func(*item.Item) []string, limit int) {
		t.Helper()
		bl, ll, rl, ml := list(b), list(l), list(r), list(m)
		inB, inL, inR, inM := members(bl), members(ll), members(rl), members(ml)
		if w, ok := conflicts[part]; ok {
			if w != newer || !slices.Equal(ml, list(head(w))) {
				fail("%s: overflow conflict must keep the newer side's list", part)
			}
			union := make(map[string]bool)
			for _, s := range bl {
				if inL[s] && inR[s] {
					union[s] = true
				}
			}
			for _, s := range append(slices.Clone(ll), rl...) {
				if !inB[s] {
					union[s] = true
				}
			}
			if len(union) <= limit {
				fail("%s: conflict reported though the merged set (%d) fits", part, len(union))
			}
			return
		}
		for _, s := range ml {
			if !inL[s] && !inR[s] {
				fail("%s: merged entry %q is in neither head", part, s)
			}
		}
		for _, s := range ll {
			if !inB[s] && !inM[s] {
				fail("%s: local addition %q lost", part, s)
			}
		}
		for _, s := range rl {
			if !inB[s] && !inM[s] {
				fail("%s: remote addition %q lost", part, s)
			}
		}
		for _, s := range bl {
			if (!inL[s] || !inR[s]) && inM[s] {
				fail("%s: removal of %q not applied", part, s)
			}
		}
		if slices.Equal(ll, bl) && !slices.Equal(ml, rl) {
			fail("%s: local left the list alone but the result is not remote's list", part)
		}
		if slices.Equal(rl, bl) && !slices.Equal(ml, ll) {
			fail("%s: remote left the list alone but the result is not local's list", part)
		}
	}
	checkSet("urls", func(it *item.Item) []string { return it.URLs }, item.MaxURLs)
	checkSet("tags", func(it *item.Item) []string { return it.Tags }, item.MaxTags)

	// Rule 5. Names pair without regard to case, checked here without the
	// package's own folding: heads that never repeat a name give a result
	// that does not either.
	repeatsName := func(fs []item.Field) bool {
		for i := range fs {
			for j := range i {
				if strings.EqualFold(fs[i].Name, fs[j].Name) {
					return true
				}
			}
		}
		return false
	}
	if !repeatsName(b.Fields) && !repeatsName(l.Fields) && !repeatsName(r.Fields) && repeatsName(m.Fields) {
		fail("fields: the result repeats a name (compared without regard to case) that no head repeats")
	}
	bKeys, bs := keyedFields(b.Fields)
	lKeys, ls := keyedFields(l.Fields)
	rKeys, rs := keyedFields(r.Fields)
	mKeys, ms := keyedFields(m.Fields)
	repeated := slices.ContainsFunc(slices.Concat(bKeys, lKeys, rKeys, mKeys), func(k fieldKey) bool { return k.n > 0 })
	if w, ok := conflicts["fields"]; ok {
		if w != newer || !slices.Equal(m.Fields, head(w).Fields) {
			fail("fields: overflow conflict must keep the newer side's fields")
		}
		if fieldConflicts != 0 {
			fail("fields: per-field conflicts reported with the overflow conflict")
		}
	} else if repeated {
		// A name used twice in one item: the result's occurrences need not
		// line up with the heads' (removing the first "pin" makes the
		// second the first), so check by value: every merged field is a
		// head's, and a field a head changed is kept unless a conflict on
		// its name was lost.
		for _, f := range m.Fields {
			if !slices.Contains(l.Fields, f) && !slices.Contains(r.Fields, f) {
				fail("field %q: merged field is neither head's", f.Name)
			}
		}
		lostTo := func(f item.Field, winner string) bool {
			return slices.ContainsFunc(cs, func(c Conflict) bool {
				name, ok := strings.CutPrefix(c.Field, "field:")
				return ok && c.Winner == winner && strings.EqualFold(name, f.Name)
			})
		}
		for _, f := range l.Fields {
			if !slices.Contains(b.Fields, f) && !slices.Contains(m.Fields, f) && !lostTo(f, Remote) {
				fail("field %q: local change lost without a conflict", f.Name)
			}
		}
		for _, f := range r.Fields {
			if !slices.Contains(b.Fields, f) && !slices.Contains(m.Fields, f) && !lostTo(f, Local) {
				fail("field %q: remote change lost without a conflict", f.Name)
			}
		}
	} else {
		wantConflicts := 0
		all := slices.Concat(bKeys, lKeys, rKeys, mKeys)
		seen := make(map[fieldKey]bool)
		for _, k := range all {
			if seen[k] {
				continue
			}
			seen[k] = true
			bv, lv, rv, mv := bs[k], ls[k], rs[k], ms[k]
			if mv != lv && mv != rv {
				fail("field %q: merged field is neither head's", k.name)
			}
			both := lv != bv && rv != bv && lv != rv
			if both {
				wantConflicts++
				w := newer
				if !lv.ok || !rv.ok {
					w = Local // 5d: the side that changed it wins
					if !lv.ok {
						w = Remote
					}
				}
				if !mv.ok || !slices.Contains(cs, Conflict{Field: "field:" + mv.v.Name, Winner: w}) {
					fail("field %q: both sides changed it; want a conflict won by %s", k.name, w)
				}
			}
			if lv != bv && mv != lv && !(both && mv == rv) {
				fail("field %q: local change lost without a conflict", k.name)
			}
			if rv != bv && mv != rv && !(both && mv == lv) {
				fail("field %q: remote change lost without a conflict", k.name)
			}
		}
		if fieldConflicts != wantConflicts {
			fail("%d field conflicts reported, want %d", fieldConflicts, wantConflicts)
		}
		if slices.Equal(l.Fields, b.Fields) && !slices.Equal(m.Fields, r.Fields) ||
			slices.Equal(r.Fields, b.Fields) && !slices.Equal(m.Fields, l.Fields) {
			fail("fields: one side left the list alone but the result is not the other's list")
		}
	}

	// Rule 6.
	bt, lt, rt, mt := b.Trashed, l.Trashed, r.Trashed, m.Trashed
	if mt != nil && !sameTime(mt, lt) && !sameTime(mt, rt) {
		fail("trashed: merged trash time is neither head's")
	}
	if mt == nil && lt != nil && rt != nil {
		fail("trashed: both heads are trashed but the result is not")
	}
	w, ok := conflicts["trashed"]
	lChanged, rChanged := !sameTime(lt, bt), !sameTime(rt, bt)
	bothTrashed := lChanged && rChanged && lt != nil && rt != nil
	if bothTrashed && (mt == nil || mt.After(*lt) || mt.After(*rt) || ok) {
		fail("trashed: both trashed it; want the earlier time and no conflict")
	}
	if ok && !sameTime(mt, head(w).Trashed) {
		fail("trashed: the result's trash state is not the winner's")
	}
	if lChanged && !sameTime(mt, lt) && !bothTrashed && (!ok || w != Remote) {
		fail("trashed: local change lost without a conflict won by remote")
	}
	if rChanged && !sameTime(mt, rt) && !bothTrashed && (!ok || w != Local) {
		fail("trashed: remote change lost without a conflict won by local")
	}
	// 6c: an edit racing a delete restores the item; 6d: a delete alone
	// stays.
	for _, sides := range [][2]*item.Item{{l, r}, {r, l}} {
		trasher, other := sides[0], sides[1]
		if trasher.Trashed == nil || sameTime(trasher.Trashed, bt) || other.Trashed != nil {
			continue
		}
		edited := contentChanged(b, other)
		if edited && mt != nil {
			fail("trashed: one side trashed it, the other edited it; want it restored")
		}
		if !edited && sameTime(other.Trashed, bt) && mt == nil {
			fail("trashed: one side trashed it, the other changed nothing; want it trashed")
		}
	}

	// Rule 8.
	if !m.Created.Equal(l.Created) && !m.Created.Equal(r.Created) {
		fail("created is neither head's")
	}
	if base != nil && l.Created.Equal(base.Created) && r.Created.Equal(base.Created) && !m.Created.Equal(base.Created) {
		fail("created is not the base's")
	}
	if base == nil && (m.Created.After(l.Created) || m.Created.After(r.Created)) {
		fail("created without a base is not the earlier")
	}
	if !l.Created.Equal(b.Created) && !r.Created.Equal(b.Created) &&
		(m.Created.After(l.Created) || m.Created.After(r.Created)) {
		fail("created changed on both sides, but the result is not the earlier")
	}
	if m.Modified.Before(l.Modified) || m.Modified.Before(r.Modified) ||
		!m.Modified.Equal(l.Modified) && !m.Modified.Equal(r.Modified) {
		fail("modified is not the later of the heads'")
	}
}

// checkIdentities checks rule 9d, and 9e where it applies.
func checkIdentities(t testing.TB, base, l, r *item.Item) {
	t.Helper()
	for _, x := range []*item.Item{l, r} {
		if got, cs := Merge(base, x, x); !sameItem(got, x, true) || len(cs) != 0 {
			t.Fatalf("Merge(base, x, x) != x:\nx   %s\ngot %s %v", describe(x), describe(got), cs)
		}
	}
	if base != nil {
		if got, cs := Merge(base, base, r); !sameItem(got, r, false) || len(cs) != 0 {
			t.Fatalf("Merge(base, base, r) != r:\nr   %s\ngot %s %v", describe(r), describe(got), cs)
		}
		if got, cs := Merge(base, l, base); !sameItem(got, l, false) || len(cs) != 0 {
			t.Fatalf("Merge(base, l, base) != l:\nl   %s\ngot %s %v", describe(l), describe(got), cs)
		}
	}
	if !fixpointHolds(base, l, r) {
		return
	}
	m, _ := Merge(base, l, r)
	if again, _ := Merge(base, m, r); !sameItem(again, m, true) {
		t.Fatalf("Merge(base, m, remote) != m:\nbase   %s\nlocal  %s\nremote %s\nm      %s\ngot    %s",
			describe(base), describe(l), describe(r), describe(m), describe(again))
	}
	if again, _ := Merge(base, l, m); !sameItem(again, m, true) {
		t.Fatalf("Merge(base, local, m) != m:\nbase   %s\nlocal  %s\nremote %s\nm      %s\ngot    %s",
			describe(base), describe(l), describe(r), describe(m), describe(again))
	}
}

// fixpointHolds reports whether rule 9e promises anything for these
// inputs: no head repeats a URL, tag or field name, and no list was only
// reordered by both heads, differently.
func fixpointHolds(base, l, r *item.Item) bool {
	b := base
	if b == nil {
		b = &item.Item{}
	}
	for _, x := range []*item.Item{l, r} {
		if hasDup(x.URLs) || hasDup(x.Tags) {
			return false
		}
		keys, _ := keyedFields(x.Fields)
		for _, k := range keys {
			if k.n > 0 {
				return false
			}
		}
	}
	bothReordered := func(bl, ll, rl []string) bool {
		return reordered(bl, ll) && reordered(bl, rl) && !slices.Equal(ll, rl)
	}
	names := func(it *item.Item) []string {
		var s []string
		for _, f := range it.Fields {
			s = append(s, fmt.Sprintf("%q %q %q %v", f.Name, f.Kind, f.Value, f.Custom))
		}
		return s
	}
	return !bothReordered(b.URLs, l.URLs, r.URLs) && !bothReordered(b.Tags, l.Tags, r.Tags) &&
		!bothReordered(names(b), names(l), names(r))
}

func hasDup(list []string) bool { return len(members(list)) != len(list) }

// reordered reports whether y holds the same entries as x in another order.
func reordered(x, y []string) bool {
	if slices.Equal(x, y) || len(x) != len(y) {
		return false
	}
	return slices.Equal(slices.Sorted(slices.Values(x)), slices.Sorted(slices.Values(y)))
}

// gen makes random items and random edits of them.
type gen struct {
	rng *rand.Rand
	n   int
	big bool // lists near item's limits
}

var (
	fieldNames  = []string{"username", "password", "totp", "pin", "PIN", "Pin", "recovery", "api key", "email", "number"}
	kinds       = []item.Kind{item.Text, item.Hidden, item.URL, item.TOTP}
	matchValues = []string{item.MatchDefault, item.MatchDomain, item.MatchHost}
	shared      = []string{"same-1", "same-2", "same-3"}
)

// value returns a value: often one both sides may pick, so that equal
// changes happen, otherwise a fresh one.
func (g *gen) value() string {
	if g.rng.IntN(3) == 0 {
		return shared[g.rng.IntN(len(shared))]
	}
	g.n++
	return fmt.Sprintf("v%d", g.n)
}

func (g *gen) pick(pool []string) string { return pool[g.rng.IntN(len(pool))] }

func (g *gen) urlPool() int {
	if g.big {
		return 80
	}
	return 10
}

func (g *gen) item() *item.Item {
	created := at(g.rng.IntN(100))
	it := &item.Item{V: item.SchemaVersion, Type: item.Types[g.rng.IntN(len(item.Types))],
		Title: g.value(), Created: created, Modified: created.Add(time.Duration(g.rng.IntN(10)) * time.Second)}
	nf, nu, nt := g.rng.IntN(5), g.rng.IntN(4), g.rng.IntN(4)
	if g.big {
		nf, nu, nt = item.MaxFields-g.rng.IntN(3), item.MaxURLs-g.rng.IntN(3), item.MaxTags-g.rng.IntN(3)
	}
	for len(it.Fields) < nf {
		g.setField(it)
	}
	for range nu {
		g.addTo(&it.URLs, "https://%d.example", g.urlPool())
	}
	for range nt {
		g.addTo(&it.Tags, "tag%d", g.urlPool())
	}
	if g.rng.IntN(2) == 0 {
		it.Notes = g.value()
	}
	it.Favorite = g.rng.IntN(4) == 0
	it.Match = matchValues[g.rng.IntN(len(matchValues))]
	if g.rng.IntN(6) == 0 {
		tr := it.Modified
		it.Trashed = &tr
	}
	return it
}

func (g *gen) setField(it *item.Item) {
	if len(it.Fields) >= item.MaxFields {
		it.Fields[g.rng.IntN(len(it.Fields))].Value = g.value()
		return
	}
	if g.big && g.rng.IntN(4) != 0 {
		// Add a fresh name, never a case variant of one present.
		for {
			name := fmt.Sprintf("f%d", g.rng.IntN(2*item.MaxFields))
			if _, ok := it.Get(name); !ok {
				it.Set(name, g.value(), kinds[g.rng.IntN(len(kinds))])
				return
			}
		}
	}
	it.Set(g.pick(fieldNames), g.value(), kinds[g.rng.IntN(len(kinds))])
}

// addTo adds an entry not yet in the list, if the list has room.
func (g *gen) addTo(list *[]string, format string, pool int) {
	if len(*list) >= min(item.MaxURLs, item.MaxTags, pool) {
		return
	}
	for {
		s := fmt.Sprintf(format, g.rng.IntN(pool))
		if !slices.Contains(*list, s) {
			*list = append(*list, s)
			return
		}
	}
}

// edit returns a random edit of it, made at most 3 s later.
func (g *gen) edit(it *item.Item) *item.Item {
	c := it.Clone()
	n := g.rng.IntN(5)
	if g.big {
		n += 3
	}
	for range n {
		g.editOnce(c)
	}
	if g.big && g.rng.IntN(2) == 0 {
		// Fill the lists to their limits, so that merges may not fit.
		for range 1 + g.rng.IntN(3) {
			g.addTo(&c.URLs, "https://%d.example", g.urlPool())
			g.addTo(&c.Tags, "tag%d", g.urlPool())
			g.setField(c)
		}
	}
	c.Modified = it.Modified.Add(time.Duration(g.rng.IntN(4)) * time.Second)
	return c
}

func (g *gen) editOnce(c *item.Item) {
	swap := func(n int, f func(i, j int)) {
		if n >= 2 {
			f(g.rng.IntN(n), g.rng.IntN(n))
		}
	}
	switch g.rng.IntN(20) {
	case 0:
		c.Title = g.value()
	case 1:
		c.Notes = g.value()
	case 2:
		c.Notes = ""
	case 3:
		c.Favorite = !c.Favorite
	case 4:
		if g.rng.IntN(3) == 0 {
			c.Type = item.Types[g.rng.IntN(len(item.Types))]
		}
	case 5, 6:
		g.setField(c)
	case 7:
		if len(c.Fields) > 0 {
			c.Fields[g.rng.IntN(len(c.Fields))].Kind = kinds[g.rng.IntN(len(kinds))]
		}
	case 8:
		if len(c.Fields) > 0 {
			i := g.rng.IntN(len(c.Fields))
			c.Fields = slices.Delete(c.Fields, i, i+1)
		}
	case 9:
		if len(c.Fields) > 0 { // a change of spelling only
			f := &c.Fields[g.rng.IntN(len(c.Fields))]
			f.Name = strings.ToUpper(f.Name)
		}
	case 10:
		swap(len(c.Fields), func(i, j int) { c.Fields[i], c.Fields[j] = c.Fields[j], c.Fields[i] })
	case 11:
		g.addTo(&c.URLs, "https://%d.example", g.urlPool())
	case 12:
		if len(c.URLs) > 0 {
			i := g.rng.IntN(len(c.URLs))
			c.URLs = slices.Delete(c.URLs, i, i+1)
		}
	case 13:
		swap(len(c.URLs), func(i, j int) { c.URLs[i], c.URLs[j] = c.URLs[j], c.URLs[i] })
	case 14:
		g.addTo(&c.Tags, "tag%d", g.urlPool())
	case 15:
		if len(c.Tags) > 0 {
			i := g.rng.IntN(len(c.Tags))
			c.Tags = slices.Delete(c.Tags, i, i+1)
		}
	case 16:
		tr := c.Modified.Add(time.Duration(g.rng.IntN(4)) * time.Second)
		c.Trashed = &tr
	case 17:
		c.Trashed = nil
	case 18:
		if g.rng.IntN(3) == 0 { // an import correcting the date
			c.Created = c.Created.Add(-time.Duration(1+g.rng.IntN(3)) * time.Hour)
		}
	case 19:
		c.Match = matchValues[g.rng.IntN(len(matchValues))]
	}
}
