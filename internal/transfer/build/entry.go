package build

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
)

// Unmapped collects Unmapped lines, each once, in the order found.
type Unmapped struct {
	seen  map[string]bool
	Lines []string
}

func (u *Unmapped) Add(line string) {
	if u.seen == nil {
		u.seen = map[string]bool{}
	}
	if !u.seen[line] {
		u.seen[line] = true
		u.Lines = append(u.Lines, line)
	}
}

// Counter counts rows per reason, for Unmapped lines that speak of a
// whole column once instead of once per row.
type Counter map[string]int

func (c Counter) Lines(u *Unmapped) {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		u.Add(fmt.Sprintf(k, c[k]))
	}
}

// Entry builds one item. Values are added in the source's order;
// finish fits them into the item's limits.
type Entry struct {
	It     *item.Item
	Folder string         // the source's folder or group path, for Source
	extra  []string       // notes paragraphs for values with no field of their own
	names  map[string]int // lower-case field names in use -> next number to try
}

func NewEntry(t item.Type, now time.Time) *Entry {
	return &Entry{It: item.New(t, "", now)}
}

// Set adds a field unless value is empty. A standard field name of the
// item's type gets that field (and its kind); a name used already gets a
// number ("Password 2") so that no value overwrites another.
func (e *Entry) Set(name, value string, k item.Kind) {
	if strings.TrimSpace(value) == "" {
		return
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "field"
	}
	// item.Get answers "title", "notes" and "url" with the item's own
	// title, notes and first URL, which would hide a field of that name.
	switch strings.ToLower(name) {
	case "title", "notes", "note", "url":
		name += " field"
	}
	if e.names == nil {
		e.names = map[string]int{}
	}
	n, base := name, strings.ToLower(name)
	if i, used := e.names[base]; used {
		for i = max(i, 2); e.Has(fmt.Sprintf("%s %d", name, i)); i++ {
		}
		n = fmt.Sprintf("%s %d", name, i)
		e.names[base] = i + 1
	}
	e.names[strings.ToLower(n)] = 0
	// As item.Set, without its search of the fields set so far: names
	// are unique here already, and a hostile row may hold thousands.
	for _, sf := range item.StandardFields[e.It.Type] {
		if strings.EqualFold(sf.Name, n) {
			e.It.Fields = append(e.It.Fields, item.Field{Name: sf.Name, Kind: sf.Kind, Value: value})
			return
		}
	}
	e.It.Fields = append(e.It.Fields, item.Field{Name: n, Kind: k, Value: value, Custom: true})
}

// Has reports whether a field of that name (in any case) is set.
func (e *Entry) Has(name string) bool {
	_, ok := e.names[strings.ToLower(name)]
	return ok
}

// AddURL adds a URL unless it is empty or already there.
func (e *Entry) AddURL(u string) { e.It.URLs = addOnce(e.It.URLs, u) }

// AddTag adds a tag unless it is empty or already there.
func (e *Entry) AddTag(t string) { e.It.Tags = addOnce(e.It.Tags, t) }

// addOnce appends s, trimmed, to list unless it is empty or in list
// already.
func addOnce(list []string, s string) []string {
	s = strings.TrimSpace(s)
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// addNote appends a paragraph to the notes.
func (e *Entry) addNote(s string) {
	if strings.TrimSpace(s) != "" {
		e.extra = append(e.extra, s)
	}
}

// source names the entry for messages: folder/title.
func (e *Entry) source() string {
	if e.Folder == "" {
		return e.It.Title
	}
	return e.Folder + "/" + e.It.Title
}

// Finish completes the item: a title made up if the source had none, and
// everything over an item limit moved to the notes (text) or reported in
// Unmapped (secrets, which must not land in searchable notes). It returns
// an error only if the item still fails item.Validate, which would be a
// bug, never a property of the file.
func (e *Entry) Finish(line int, u *Unmapped) (transfer.Imported, error) {
	it := e.It
	TrimIdentity(it)
	where := func() string { return fmt.Sprintf("entry %q (line %d)", e.source(), line) }

	if strings.TrimSpace(it.Title) == "" {
		it.Title = title(it)
	}
	if len(it.Title) > item.MaxTitle {
		full := it.Title
		it.Title = Clip(full, item.MaxTitle)
		e.extra = append([]string{"Full title:\n" + full}, e.extra...)
		u.Add(fmt.Sprintf("%s: the title is longer than %d bytes; shortened, the full title is in the notes", where(), item.MaxTitle))
	}

	var keep []item.Field
	for _, f := range it.Fields {
		secret := f.Kind == item.Hidden || f.Kind == item.TOTP
		switch {
		case len(f.Value) > item.MaxFieldValue && secret:
			u.Add(fmt.Sprintf("%s: field %q is larger than %d KiB, the most a field holds; not imported", where(), f.Name, item.MaxFieldValue>>10))
		case len(f.Value) > item.MaxFieldValue:
			e.extra = append(e.extra, f.Name+":\n"+f.Value)
		case len(keep) >= item.MaxFields && secret:
			u.Add(fmt.Sprintf("%s: field %q is over the %d fields an item holds; not imported", where(), f.Name, item.MaxFields))
		case len(keep) >= item.MaxFields:
			e.extra = append(e.extra, f.Name+": "+f.Value)
		default:
			keep = append(keep, f)
		}
	}
	it.Fields = keep

	if len(it.URLs) > item.MaxURLs {
		e.extra = append(e.extra, "More URLs:\n"+strings.Join(it.URLs[item.MaxURLs:], "\n"))
		it.URLs = it.URLs[:item.MaxURLs]
	}
	if len(it.Tags) > item.MaxTags {
		for _, t := range it.Tags[item.MaxTags:] {
			u.Add(fmt.Sprintf("%s: tag %q is over the %d tags an item holds; not imported", where(), t, item.MaxTags))
		}
		it.Tags = it.Tags[:item.MaxTags]
	}

	parts := make([]string, 0, 1+len(e.extra))
	if strings.TrimSpace(it.Notes) != "" {
		parts = append(parts, it.Notes)
	}
	parts = append(parts, e.extra...)
	it.Notes = strings.Join(parts, "\n\n")
	if len(it.Notes) > item.MaxNotes {
		u.Add(fmt.Sprintf("%s: the notes are longer than %d KiB; the last %d bytes are not imported", where(), item.MaxNotes>>10, len(it.Notes)-len(Clip(it.Notes, item.MaxNotes))))
		it.Notes = Clip(it.Notes, item.MaxNotes)
	}
	if it.Modified.Before(it.Created) {
		it.Modified = it.Created
	}
	if err := it.Validate(); err != nil {
		return transfer.Imported{}, fmt.Errorf("%w: line %d: %w", transfer.ErrSourceFormat, line, err)
	}
	return Detach(transfer.Imported{Item: it, Source: e.source()}), nil
}

// title names an item the source left untitled: after its URL's
// host, its username, or the first line of its notes.
func title(it *item.Item) string {
	if t := loginTitle(it); t != "" {
		return t
	}
	if l, _, _ := strings.Cut(strings.TrimSpace(it.Notes), "\n"); strings.TrimSpace(l) != "" {
		return Clip(strings.TrimSpace(l), 64)
	}
	return "Untitled"
}

// Now is the time given to undated items.
func Now(opts transfer.ImportOptions) time.Time {
	if opts.Now.IsZero() {
		return time.Now()
	}
	return opts.Now
}

// SecretName reports whether a field name suggests a secret. Erring
// towards hidden masks a value; erring towards text shows a secret.
func SecretName(name string) bool {
	l := strings.ToLower(name)
	for _, s := range []string{"password", "passwort", "passphrase", "secret", "pin", "security code",
		"cvv", "cvc", "private key", "license key", "licence key", "passcode"} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// Kind is the kind of a custom field named name.
func Kind(name string) item.Kind {
	if SecretName(name) {
		return item.Hidden
	}
	return item.Text
}
