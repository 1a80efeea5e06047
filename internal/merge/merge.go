// Package merge combines two edits of one item made apart, field by field,
// against the revision both started from.
//
// Two devices that edit the same item offline each produce a revision
// descending from the one they last synced. The second to sync merges its
// head with the server's instead of overwriting it. The rules, numbered,
// are in docs/MERGE.md; the comments here cite them. The promise is that no
// value is dropped without a Conflict saying so, and for each Conflict the
// caller keeps the losing revision in the item's history.
package merge

import (
	"bytes"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/keyhold/keyhold/internal/item"
)

// Sides of a merge, as named in Conflict.Winner.
const (
	Local  = "local"
	Remote = "remote"
)

// Conflict reports a part of the item that both sides changed to different
// values. It names the part and the side whose value was kept, never a
// value: values are secrets, and conflicts are shown and logged.
type Conflict struct {
	// Field is "type", "title", "field:NAME", "urls", "notes", "tags",
	// "favorite", "match" or "trashed", or "fields" when the merged field
	// list would exceed item.MaxFields and one side's list was kept whole.
	Field string
	// Winner is Local or Remote.
	Winner string
}

// Merge combines two heads, local and remote, that both descend from base,
// their common ancestor. base may be nil when no ancestor is known; local
// and remote must not be nil.
//
// Merge never loses a value silently: every part that both sides changed
// to different values is reported as a Conflict, and the caller keeps the
// losing side's revision in the item's history. Merge does not modify its
// arguments, and the result shares no memory with them.
func Merge(base, local, remote *item.Item) (*item.Item, []Conflict) {
	m := &merger{local: local, remote: remote, base: base}
	if base == nil {
		// Rule 7: an empty base, so that whatever either head holds is an
		// addition, and parts both heads hold differently conflict.
		m.base = &item.Item{Created: earlier(local.Created, remote.Created)}
	}
	// Rule 2: the later Modified is newer; on a tie the server's.
	m.newer = Remote
	if local.Modified.After(remote.Modified) {
		m.newer = Local
	}
	b, l, r := m.base, local, remote

	out := &item.Item{
		// Rule 8c.
		V: value(b.V, l.V, r.V, m.newer),
	}
	// Rule 1 gives the order in which parts, and so conflicts, come.
	out.Type = scalar(m, "type", b.Type, l.Type, r.Type)
	out.Title = scalar(m, "title", b.Title, l.Title, r.Title)
	out.Fields = m.fields()
	out.URLs = m.set("urls", b.URLs, l.URLs, r.URLs, item.MaxURLs)
	out.Notes = scalar(m, "notes", b.Notes, l.Notes, r.Notes)
	out.Tags = m.set("tags", b.Tags, l.Tags, r.Tags, item.MaxTags)
	out.Favorite = scalar(m, "favorite", b.Favorite, l.Favorite, r.Favorite)
	out.Match = scalar(m, "match", b.Match, l.Match, r.Match)
	out.Trashed = m.trashed()
	out.Attachments = m.attachments()

	// Rule 8a.
	created, winner := merge3(b.Created, l.Created, r.Created, time.Time.Equal, m.newer)
	if winner != "" || base == nil {
		created = earlier(l.Created, r.Created)
	}
	out.Created = created
	// Rule 8b.
	out.Modified = r.Modified
	if l.Modified.After(r.Modified) {
		out.Modified = l.Modified
	}
	return out, m.conflicts
}

// merger holds the inputs and the conflicts found so far.
type merger struct {
	base, local, remote *item.Item
	newer               string // Local or Remote, rule 2
	conflicts           []Conflict
}

func (m *merger) conflict(part, winner string) {
	m.conflicts = append(m.conflicts, Conflict{Field: part, Winner: winner})
}

// newerItem returns the newer head (rule 2).
func (m *merger) newerItem() *item.Item {
	if m.newer == Local {
		return m.local
	}
	return m.remote
}

// merge3 is rule 3 for one part. It returns the merged value and, when
// both sides changed the part to different values, the side that won;
// otherwise "".
func merge3[T any](b, l, r T, eq func(x, y T) bool, newer string) (T, string) {
	switch {
	case eq(l, b):
		return r, "" // 3a, or 3b for remote's change
	case eq(r, b), eq(l, r):
		return l, "" // 3b for local's change, or 3c
	case newer == Local:
		return l, Local // 3d
	default:
		return r, Remote // 3d
	}
}

// value is rule 3 for a part that is never reported.
func value[T comparable](b, l, r T, newer string) T {
	v, _ := merge3(b, l, r, equal, newer)
	return v
}

// scalar is rule 3 for a reported part.
func scalar[T comparable](m *merger, part string, b, l, r T) T {
	v, winner := merge3(b, l, r, equal, m.newer)
	if winner != "" {
		m.conflict(part, winner)
	}
	return v
}

func equal[T comparable](x, y T) bool { return x == y }

// set is rule 4, for the URLs and the tags.
func (m *merger) set(part string, b, l, r []string, limit int) []string {
	// 4a: a list one side left alone, or both made alike, is taken whole.
	if v, winner := merge3(b, l, r, slices.Equal, m.newer); winner == "" {
		return slices.Clone(v)
	}
	// 4b, 4c.
	inB, inL, inR := members(b), members(l), members(r)
	var out []string
	seen := make(map[string]bool)
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range b {
		if inL[s] && inR[s] {
			add(s)
		}
	}
	for _, s := range l {
		if !inB[s] {
			add(s)
		}
	}
	for _, s := range r {
		if !inB[s] {
			add(s)
		}
	}
	// 4d.
	if len(out) > limit {
		m.conflict(part, m.newer)
		if m.newer == Local {
			return slices.Clone(l)
		}
		return slices.Clone(r)
	}
	return out
}

func members(list []string) map[string]bool {
	set := make(map[string]bool, len(list))
	for _, s := range list {
		set[s] = true
	}
	return set
}

// slot is a field or an attachment as one revision holds it, or its
// absence (ok false).
type slot[V any] struct {
	v  V
	ok bool
}

// fieldKey identifies a field across revisions (rule 5): its name folded
// as strings.EqualFold folds it, and which occurrence of that name it is.
type fieldKey struct {
	name string
	n    int
}

// fields is rule 5.
func (m *merger) fields() []item.Field {
	b, l, r := m.base.Fields, m.local.Fields, m.remote.Fields
	// Order: a list one side left alone, or both made alike, is taken
	// whole (as in 4a).
	if v, winner := merge3(b, l, r, slices.Equal, m.newer); winner == "" {
		return slices.Clone(v)
	}
	out, conflicts := keyed(m, b, l, r, index, equal[item.Field], func(f item.Field) string { return "field:" + f.Name })
	if len(out) > item.MaxFields {
		m.conflict("fields", m.newer)
		return slices.Clone(m.newerItem().Fields)
	}
	m.conflicts = append(m.conflicts, conflicts...)
	return out
}

// keyed merges a list whose entries pair across the revisions by key
// (fields, rule 5; attachments, rule 10): each key's entry is merged as a
// value (5a, 5b, 5c, 5e, 5f), and one removed on one side and changed on
// the other is kept, changed (5d). The result lists the base's survivors,
// then local's additions, then remote's; part names an entry's conflict.
func keyed[K comparable, V any](m *merger, b, l, r []V, index func([]V) ([]K, map[K]slot[V]),
	eq func(x, y V) bool, part func(V) string) ([]V, []Conflict) {
	bKeys, bSlots := index(b)
	lKeys, lSlots := index(l)
	rKeys, rSlots := index(r)
	same := func(x, y slot[V]) bool { return x.ok == y.ok && (!x.ok || eq(x.v, y.v)) }

	var out []V
	var conflicts []Conflict
	done := make(map[K]bool)
	for _, keys := range [][]K{bKeys, lKeys, rKeys} {
		for _, k := range keys {
			if done[k] {
				continue
			}
			done[k] = true
			ls, rs := lSlots[k], rSlots[k]
			v, winner := merge3(bSlots[k], ls, rs, same, m.newer)
			if winner != "" && !(ls.ok && rs.ok) {
				// 5d: removed on one side, changed on the other.
				v, winner = ls, Local
				if !ls.ok {
					v, winner = rs, Remote
				}
			}
			if !v.ok {
				continue
			}
			out = append(out, v.v)
			if winner != "" {
				conflicts = append(conflicts, Conflict{Field: part(v.v), Winner: winner})
			}
		}
	}
	return out, conflicts
}

// index returns a revision's field keys in order and its fields by key.
func index(fields []item.Field) ([]fieldKey, map[fieldKey]slot[item.Field]) {
	keys := make([]fieldKey, len(fields))
	slots := make(map[fieldKey]slot[item.Field], len(fields))
	seen := make(map[string]int, len(fields))
	for i, f := range fields {
		name := fold(f.Name)
		k := fieldKey{name: name, n: seen[name]}
		seen[name]++
		keys[i] = k
		slots[k] = slot[item.Field]{v: f, ok: true}
	}
	return keys, slots
}

// fold maps a name to one spelling shared by every name strings.EqualFold
// holds equal to it: each rune becomes the smallest rune of its case
// folding orbit. (Invalid UTF-8 becomes U+FFFD, as EqualFold reads it.)
func fold(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// trashed is rule 6.
func (m *merger) trashed() *time.Time {
	b, l, r := m.base.Trashed, m.local.Trashed, m.remote.Trashed
	// 6a.
	v, winner := merge3(b, l, r, sameTime, m.newer)
	if winner != "" && l != nil && r != nil {
		// 6b: both trashed it.
		v, winner = l, ""
		if r.Before(*l) {
			v = r
		}
	}
	// 6c: an edit racing a delete restores the item. 6d otherwise.
	if v != nil {
		switch {
		case l == nil && contentChanged(m.base, m.local):
			v, winner = nil, Local
		case r == nil && contentChanged(m.base, m.remote):
			v, winner = nil, Remote
		}
	}
	if winner != "" {
		m.conflict("trashed", winner)
	}
	if v == nil {
		return nil
	}
	t := *v
	return &t
}

func sameTime(x, y *time.Time) bool {
	if x == nil || y == nil {
		return x == y
	}
	return x.Equal(*y)
}

// contentChanged reports whether head differs from base in anything but
// its trash state and modification time (rule 6c).
func contentChanged(base, head *item.Item) bool {
	return base.V != head.V || base.Type != head.Type || base.Title != head.Title ||
		base.Notes != head.Notes || base.Favorite != head.Favorite || base.Match != head.Match ||
		!base.Created.Equal(head.Created) ||
		!slices.Equal(base.Fields, head.Fields) ||
		!slices.Equal(base.URLs, head.URLs) || !slices.Equal(base.Tags, head.Tags) ||
		!slices.EqualFunc(base.Attachments, head.Attachments, sameAttachment)
}

func sameAttachment(x, y item.Attachment) bool {
	return x.Name == y.Name && bytes.Equal(x.Data, y.Data)
}

// attachments is rule 10: attachments pair by name, each merged as a
// value (its data), as fields do in rule 5.
func (m *merger) attachments() []item.Attachment {
	b, l, r := m.base.Attachments, m.local.Attachments, m.remote.Attachments
	if v, winner := merge3(b, l, r, func(x, y []item.Attachment) bool {
		return slices.EqualFunc(x, y, sameAttachment)
	}, m.newer); winner == "" {
		return cloneAttachments(v)
	}
	byName := func(list []item.Attachment) ([]string, map[string]slot[item.Attachment]) {
		names := make([]string, len(list))
		slots := make(map[string]slot[item.Attachment], len(list))
		for i, a := range list {
			names[i] = a.Name
			slots[a.Name] = slot[item.Attachment]{v: a, ok: true}
		}
		return names, slots
	}
	out, conflicts := keyed(m, b, l, r, byName, sameAttachment, func(a item.Attachment) string { return "attachment:" + a.Name })
	merged := &item.Item{Attachments: out}
	if len(out) > item.MaxAttachments || merged.AttachmentBytes() > item.MaxAttachmentBytes {
		m.conflict("attachments", m.newer)
		return cloneAttachments(m.newerItem().Attachments)
	}
	m.conflicts = append(m.conflicts, conflicts...)
	return cloneAttachments(out)
}

func cloneAttachments(list []item.Attachment) []item.Attachment {
	if list == nil {
		return nil
	}
	out := make([]item.Attachment, len(list))
	for i, a := range list {
		out[i] = item.Attachment{Name: a.Name, Data: slices.Clone(a.Data)}
	}
	return out
}

func earlier(x, y time.Time) time.Time {
	if y.Before(x) {
		return y
	}
	return x
}
