package transfer

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyhold/keyhold/internal/item"
)

// This file holds what the Bitwarden and 1Password readers share: a draft
// that collects one source entry's values and turns them into an item that
// passes item.Validate, writing a line to Unmapped for every value that
// does not fit instead of cutting it short.

// draft is one source entry on its way to becoming an item.
type draft struct {
	it       *item.Item
	source   string    // names the entry in Unmapped lines
	unmapped *[]string // the result's Unmapped list
}

// newDraft starts an item of type t. created and modified are the source's
// times; a zero time means now.
func newDraft(t item.Type, title, source string, created, modified, now time.Time, unmapped *[]string) *draft {
	if now.IsZero() {
		now = time.Now()
	}
	d := &draft{it: item.New(t, "", now), source: source, unmapped: unmapped}
	if !created.IsZero() {
		d.it.Created = created.UTC().Truncate(time.Millisecond)
	}
	if !modified.IsZero() {
		d.it.Modified = modified.UTC().Truncate(time.Millisecond)
	}
	if d.it.Modified.Before(d.it.Created) {
		d.it.Modified = d.it.Created
	}
	d.setTitle(title)
	return d
}

// report adds a line about this entry to Unmapped.
func (d *draft) report(format string, args ...any) {
	*d.unmapped = append(*d.unmapped, fmt.Sprintf("entry %q: ", d.source)+fmt.Sprintf(format, args...))
}

// setTitle sets the title; one too long keeps its start and the whole
// title goes to a custom field, so nothing is lost.
func (d *draft) setTitle(title string) {
	title = strings.TrimSpace(title)
	if len(title) > item.MaxTitle {
		d.addField("full title", title, item.Text)
		title = clip(title, item.MaxTitle)
	}
	d.it.Title = title
}

// hasTitle reports whether the entry has a usable title.
func (d *draft) hasTitle() bool { return strings.TrimSpace(d.it.Title) != "" }

// isStandard reports whether name is a standard field of the item's type
// and returns its canonical name and kind.
func (d *draft) isStandard(name string) (item.Field, bool) {
	for _, sf := range item.StandardFields[d.it.Type] {
		if strings.EqualFold(sf.Name, name) {
			return sf, true
		}
	}
	return item.Field{}, false
}

// has reports whether a field of that name is set.
func (d *draft) has(name string) bool {
	_, ok := d.it.Get(name)
	return ok && !strings.EqualFold(name, "title") && !strings.EqualFold(name, "notes") &&
		!strings.EqualFold(name, "note") && !strings.EqualFold(name, "url")
}

// setStandard sets a standard field of the item's type. A second value
// for a field already set becomes a custom field beside it.
func (d *draft) setStandard(name, value string) {
	sf, ok := d.isStandard(name)
	if !ok {
		d.addField(name, value, item.Text)
		return
	}
	if value == "" {
		return
	}
	if d.has(sf.Name) {
		d.addField(sf.Name, value, sf.Kind)
		return
	}
	if !d.fits(sf.Name, value) {
		return
	}
	d.it.Fields = append(d.it.Fields, item.Field{Name: sf.Name, Kind: sf.Kind, Value: value})
}

// addField adds a custom field. Empty values are skipped (they hold
// nothing); a name already used, or a standard field's name, gets a
// number so that no value overwrites another.
func (d *draft) addField(name, value string, k item.Kind) {
	if value == "" {
		return
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "field"
	}
	name = clip(name, 256)
	base := name
	for n := 2; d.nameTaken(name); n++ {
		name = fmt.Sprintf("%s (%d)", base, n)
	}
	if !d.fits(name, value) {
		return
	}
	d.it.Fields = append(d.it.Fields, item.Field{Name: name, Kind: k, Value: value, Custom: true})
}

func (d *draft) nameTaken(name string) bool {
	switch strings.ToLower(name) {
	case "title", "notes", "note", "url":
		return true
	}
	if _, ok := d.isStandard(name); ok {
		return true
	}
	for _, f := range d.it.Fields {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// fits checks a field against the item limits and reports it when it
// does not fit.
func (d *draft) fits(name, value string) bool {
	if len(value) > item.MaxFieldValue {
		d.report("field %q (%s) is larger than a field can hold (%s); not imported", name, sizeText(len(value)), sizeText(item.MaxFieldValue))
		return false
	}
	if len(d.it.Fields) >= item.MaxFields {
		d.report("field %q not imported: an item holds at most %d fields", name, item.MaxFields)
		return false
	}
	return true
}

// addURL adds a URL once.
func (d *draft) addURL(u string) {
	u = strings.TrimSpace(u)
	if u == "" || slices.Contains(d.it.URLs, u) {
		return
	}
	if len(d.it.URLs) >= item.MaxURLs || len(u) > item.MaxFieldValue {
		d.addField("url", u, item.URL)
		return
	}
	d.it.URLs = append(d.it.URLs, u)
}

// addTag adds a tag once.
func (d *draft) addTag(t string) {
	t = strings.TrimSpace(t)
	if t == "" || slices.Contains(d.it.Tags, t) {
		return
	}
	if len(d.it.Tags) >= item.MaxTags {
		d.report("tag %q not imported: an item holds at most %d tags", t, item.MaxTags)
		return
	}
	d.it.Tags = append(d.it.Tags, t)
}

// setNotes sets the notes, reporting notes too long to keep.
func (d *draft) setNotes(notes string) {
	if strings.TrimSpace(notes) == "" {
		return
	}
	if len(notes) > item.MaxNotes {
		d.report("notes (%s) are larger than an item can hold (%s); not imported", sizeText(len(notes)), sizeText(item.MaxNotes))
		return
	}
	d.it.Notes = notes
}

// addAttachment adds a file, reporting one that does not fit.
func (d *draft) addAttachment(name string, data []byte) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "attachment"
	}
	name = clip(name, 255)
	if len(d.it.Attachments) >= item.MaxAttachments {
		d.report("attachment %q (%s) not imported: an item holds at most %d attachments", name, sizeText(len(data)), item.MaxAttachments)
		return
	}
	if d.it.AttachmentBytes()+len(data) > item.MaxAttachmentBytes {
		d.report("attachment %q (%s) is larger than an item can hold (%s in all); not imported", name, sizeText(len(data)), sizeText(item.MaxAttachmentBytes))
		return
	}
	base := name
	for n := 2; d.attachmentTaken(name); n++ {
		name = fmt.Sprintf("%s (%d)", base, n)
	}
	d.it.Attachments = append(d.it.Attachments, item.Attachment{Name: name, Data: data})
}

func (d *draft) attachmentTaken(name string) bool {
	for _, a := range d.it.Attachments {
		if a.Name == name {
			return true
		}
	}
	return false
}

// setTOTP stores a one-time password secret. Keyhold's TOTP kind holds an
// otpauth:// URI or a base32 secret; anything else (Steam's "steam://"
// secrets, say) is kept as a hidden field and reported, because Keyhold
// cannot make codes from it.
func (d *draft) setTOTP(name, value string) {
	value = strings.TrimSpace(value)
	if value == "" {
		return
	}
	if !isTOTPValue(value) {
		field := name
		if d.nameTaken(field) {
			field = "one-time password"
		}
		d.addField(field, value, item.Hidden)
		d.report("one-time password field %q is not an otpauth:// URI or base32 secret; kept as a hidden field, Keyhold cannot make codes from it", name)
		return
	}
	if d.it.Type == item.Login && !d.has("totp") {
		d.setStandard("totp", value)
		return
	}
	d.addField(name, value, item.TOTP)
}

// isTOTPValue reports whether s is an otpauth:// URI or a base32 secret.
func isTOTPValue(s string) bool {
	if strings.HasPrefix(strings.ToLower(s), "otpauth://") {
		return true
	}
	s = strings.ToUpper(strings.ReplaceAll(strings.ReplaceAll(s, " ", ""), "-", ""))
	s = strings.TrimRight(s, "=")
	if len(s) < 8 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

// finish names an untitled item and checks it.
func (d *draft) finish() (*item.Item, error) {
	trimIdentity(d.it)
	if !d.hasTitle() {
		d.it.Title = fallbackTitle(d.it)
	}
	if err := d.it.Validate(); err != nil {
		return nil, err
	}
	return d.it, nil
}

// fallbackTitle names an item whose source entry has no title: after its
// first URL's host, its username, or "Untitled".
func fallbackTitle(it *item.Item) string {
	for _, u := range it.URLs {
		if h := hostOf(u); h != "" {
			return h
		}
	}
	if u := strings.TrimSpace(it.Username()); u != "" {
		return clip(u, item.MaxTitle)
	}
	return "Untitled"
}

// historyRevision returns an earlier revision of it that differs only in
// its password, dated when that password stopped being used.
func historyRevision(it *item.Item, password string, when time.Time) *item.Item {
	h := it.Clone()
	if !when.IsZero() {
		h.Modified = when.UTC().Truncate(time.Millisecond)
		if h.Modified.Before(h.Created) {
			h.Created = h.Modified
		}
	}
	for i, f := range h.Fields {
		if strings.EqualFold(f.Name, "password") {
			h.Fields[i].Value = password
			return h
		}
	}
	if h.Type == item.Login {
		h.Fields = append(h.Fields, item.Field{Name: "password", Kind: item.Hidden, Value: password})
	} else {
		h.Fields = append(h.Fields, item.Field{Name: "password", Kind: item.Hidden, Value: password, Custom: true})
	}
	return h
}

// oldPassword is one entry of a source's password history.
type oldPassword struct {
	value string
	when  time.Time // when it stopped being used; zero if unknown
}

// history builds Imported.History from a source's old passwords, oldest
// first: each revision is the finished item with that password. Call it
// after finish. A value that cannot make a valid revision is reported.
func (d *draft) history(old []oldPassword) []*item.Item {
	if len(old) == 0 {
		return nil
	}
	slices.SortStableFunc(old, func(a, b oldPassword) int { return a.when.Compare(b.when) })
	var out []*item.Item
	for _, o := range old {
		if o.value == "" {
			continue
		}
		if len(o.value) > item.MaxFieldValue || len(d.it.Fields) >= item.MaxFields {
			d.report("an old password in the password history does not fit an item; not imported")
			continue
		}
		h := historyRevision(d.it, o.value, o.when)
		if h.Modified.After(d.it.Modified) {
			h.Modified = d.it.Modified
		}
		if err := h.Validate(); err != nil {
			d.report("an old password in the password history does not fit an item; not imported")
			continue
		}
		out = append(out, h)
	}
	return out
}

// sizeText writes a byte count for people.
func sizeText(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// truthy reads the yes/no values exports write.
func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "y", "on", "✓", "x":
		return true
	}
	return false
}

// validText rejects a NUL byte or invalid UTF-8 in a text export, which
// almost always means a binary file or a legacy encoding.
func validText(b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: the file is not valid UTF-8 text; export it again, or save it as UTF-8", ErrSourceFormat)
	}
	for _, c := range b {
		if c == 0 {
			return fmt.Errorf("%w: the file contains a NUL byte; this does not look like a text export", ErrSourceFormat)
		}
	}
	return nil
}

// progressStep is how many entries go by between Progress calls.
const progressStep = 500

// reportProgress calls p every progressStep entries and at the end.
func reportProgress(p func(done, total int), done, total int) {
	if p != nil && (done%progressStep == 0 || done == total) {
		p(done, total)
	}
}

// trimIdentity trims the space around every field value of an identity,
// the same for each field: sources pad names, numbers and addresses
// differently (a Bitwarden address was trimmed, its name not), and space
// at either end of a name, a phone number or a passport number means
// nothing. A field left empty held nothing and goes. Other types keep
// their values exactly: a password may end in a space.
func trimIdentity(it *item.Item) {
	if it.Type != item.Identity {
		return
	}
	fields := it.Fields[:0]
	for _, f := range it.Fields {
		if f.Value = strings.TrimSpace(f.Value); f.Value != "" {
			fields = append(fields, f)
		}
	}
	clear(it.Fields[len(fields):])
	it.Fields = fields
}
