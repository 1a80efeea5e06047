package webcore

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// Entry is one item's current revision, decrypted.
type Entry struct {
	ID   vaultsync.ItemID
	Rev  uint64
	Item *item.Item
}

// ListQuery selects the items list returns.
type ListQuery struct {
	Query string `json:"query"`
	Type  string `json:"type,omitempty"`
	Tag   string `json:"tag,omitempty"`
	Trash bool   `json:"trash,omitempty"`
}

// ListItem is one row of the item list: never a secret.
type ListItem struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Subtitle string    `json:"subtitle"`
	Type     string    `json:"type"`
	Tags     []string  `json:"tags"`
	URL      string    `json:"url"`
	Favorite bool      `json:"favorite"`
	Modified time.Time `json:"modified"`
}

// indexed is an entry with what listing and searching it needs at hand.
type indexed struct {
	Entry
	ids    string // the id as text, the sort's tie-breaker
	ltitle string
	search string // item.SearchText
	ltags  []string
	row    ListItem
	json   []byte // row, encoded once
}

// index keeps every item's current revision decrypted, and the order the
// command line lists them in (title, case-insensitively, then id), so
// that a search over 10,000 items is one pass over precomputed text.
type index struct {
	mu     sync.Mutex
	byID   map[vaultsync.ItemID]*indexed
	sorted []*indexed // nil after a change: sorted again on the next list
}

func newIndex() *index {
	return &index{byID: map[vaultsync.ItemID]*indexed{}}
}

// subtitle is the list's second line for an item: the field that tells
// items of one title apart, never a hidden one.
func subtitle(it *item.Item) string {
	var name string
	switch it.Type {
	case item.Login:
		name = "username"
	case item.Card:
		name = "cardholder"
	case item.Identity:
		name = "email"
	case item.Bank:
		name = "bank_name"
	default:
		return ""
	}
	v, _ := it.Get(name)
	return v
}

func newIndexed(e Entry) *indexed {
	it := e.Item
	x := &indexed{Entry: e, ids: e.ID.String(), ltitle: strings.ToLower(it.Title), search: it.SearchText()}
	for _, t := range it.Tags {
		x.ltags = append(x.ltags, strings.ToLower(t))
	}
	x.row = ListItem{ID: x.ids, Title: it.Title, Subtitle: subtitle(it), Type: string(it.Type),
		Tags: slices.Clone(it.Tags), Favorite: it.Favorite, Modified: it.Modified}
	if x.row.Tags == nil {
		x.row.Tags = []string{}
	}
	if len(it.URLs) > 0 {
		x.row.URL = it.URLs[0]
	}
	x.json = x.row.appendJSON(nil)
	return x
}

// appendJSON appends the row as a JSON object, as json.Marshal would
// write it but for the choice of escapes (the page parses it; every item
// of a vault is encoded this way at unlock, and encoding/json's
// reflection is slow in WebAssembly). TestRowJSON compares the two.
func (r *ListItem) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, r.ID)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, r.Title)
	b = append(b, `,"subtitle":`...)
	b = appendJSONString(b, r.Subtitle)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, r.Type)
	b = append(b, `,"tags":`...)
	if r.Tags == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, t := range r.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, t)
		}
		b = append(b, ']')
	}
	b = append(b, `,"url":`...)
	b = appendJSONString(b, r.URL)
	b = append(b, `,"favorite":`...)
	b = strconv.AppendBool(b, r.Favorite)
	b = append(b, `,"modified":`...)
	if m, err := r.Modified.MarshalJSON(); err == nil {
		b = append(b, m...)
	} else {
		b = append(b, "null"...) // a year json cannot write either
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: quote, backslash and
// control characters escaped, invalid UTF-8 replaced by U+FFFD (as
// encoding/json does).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// Rows is what list returns: the rows in list order. Each row was
// encoded once when its item changed, so the page's list of 10,000 items
// costs one concatenation and one JSON.parse, not 10,000 conversions.
type Rows struct{ rows []*indexed }

// Len is the number of rows.
func (r Rows) Len() int { return len(r.rows) }

// Items returns the rows.
func (r Rows) Items() []ListItem {
	out := make([]ListItem, len(r.rows))
	for i, e := range r.rows {
		out[i] = e.row
	}
	return out
}

// AppendJSON appends the rows as a JSON array.
func (r Rows) AppendJSON(b []byte) []byte {
	n := 2
	for _, e := range r.rows {
		n += len(e.json) + 1
	}
	b = slices.Grow(b, n)
	b = append(b, '[')
	for i, e := range r.rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.json...)
	}
	return append(b, ']')
}

// MarshalJSON encodes the rows as a JSON array.
func (r Rows) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// put adds or replaces items.
func (x *index) put(es ...Entry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range es {
		x.byID[e.ID] = newIndexed(e)
	}
	x.sorted = nil
}

// reset replaces every item.
func (x *index) reset(es []Entry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byID = make(map[vaultsync.ItemID]*indexed, len(es))
	for _, e := range es {
		x.byID[e.ID] = newIndexed(e)
	}
	x.sorted = nil
}

// get returns an item's entry.
func (x *index) get(id vaultsync.ItemID) (Entry, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.byID[id]
	if !ok {
		return Entry{}, false
	}
	return e.Entry, true
}

// all returns every entry, in list order.
func (x *index) all() []Entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sortLocked()
	out := make([]Entry, len(x.sorted))
	for i, e := range x.sorted {
		out[i] = e.Entry
	}
	return out
}

func (x *index) sortLocked() {
	if x.sorted != nil {
		return
	}
	x.sorted = make([]*indexed, 0, len(x.byID))
	for _, e := range x.byID {
		x.sorted = append(x.sorted, e)
	}
	slices.SortFunc(x.sorted, func(a, b *indexed) int {
		if c := strings.Compare(a.ltitle, b.ltitle); c != 0 {
			return c
		}
		return strings.Compare(a.ids, b.ids)
	})
}

// list returns the rows q selects, in list order: the items in the trash
// or out of it, of a type, with a tag, whose search text holds every word
// of the query (item.Matches: hidden and TOTP values are never searched).
func (x *index) list(q ListQuery) Rows {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sortLocked()
	words := item.QueryWords(q.Query)
	tag := strings.ToLower(q.Tag)
	out := make([]*indexed, 0, len(x.sorted))
	for _, e := range x.sorted {
		if (e.Item.Trashed != nil) != q.Trash ||
			(q.Type != "" && string(e.Item.Type) != q.Type) ||
			(tag != "" && !slices.Contains(e.ltags, tag)) ||
			!item.MatchText(e.search, words) {
			continue
		}
		out = append(out, e)
	}
	return Rows{out}
}

// tags returns every tag of the items out of the trash, sorted, each once
// (case-insensitively: the first spelling met in list order).
func (x *index) tags() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sortLocked()
	seen := map[string]bool{}
	out := []string{}
	for _, e := range x.sorted {
		if e.Item.Trashed != nil {
			continue
		}
		for i, t := range e.Item.Tags {
			if !seen[e.ltags[i]] {
				seen[e.ltags[i]] = true
				out = append(out, t)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}

func (x *index) count() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byID)
}
