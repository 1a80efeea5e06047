// Package build turns what an import reader found in a source entry into
// an item that always passes item.Validate, moving a value that does not
// fit into the notes or into an Unmapped line instead of cutting it
// silently. Draft serves the Bitwarden and 1Password readers, Entry the
// CSV readers of browsers, LastPass and mSecure; the text helpers serve
// them all.
package build

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
)

// This file holds what the Bitwarden and 1Password readers share: a draft
// that collects one source entry's values and turns them into an item that
// passes item.Validate, writing a line to Unmapped for every value that
// does not fit instead of cutting it short.

// Draft is one source entry on its way to becoming an item.
type Draft struct {
	It       *item.Item
	source   string    // names the entry in Unmapped lines
	unmapped *[]string // the result's Unmapped list
}

// NewDraft starts an item of type t. created and modified are the source's
// times; a zero time means now.
func NewDraft(t item.Type, title, source string, created, modified, now time.Time, unmapped *[]string) *Draft {
	if now.IsZero() {
		now = time.Now()
	}
	d := &Draft{It: item.New(t, "", now), source: source, unmapped: unmapped}
	if !created.IsZero() {
		d.It.Created = created.UTC().Truncate(time.Millisecond)
	}
	if !modified.IsZero() {
		d.It.Modified = modified.UTC().Truncate(time.Millisecond)
	}
	if d.It.Modified.Before(d.It.Created) {
		d.It.Modified = d.It.Created
	}
	d.setTitle(title)
	return d
}

// Source names the entry in Unmapped lines and in the import's result.
func (d *Draft) Source() string { return d.source }

// Report adds a line about this entry to Unmapped.
func (d *Draft) Report(format string, args ...any) {
	*d.unmapped = append(*d.unmapped, fmt.Sprintf("entry %q: ", d.source)+fmt.Sprintf(format, args...))
}

// setTitle sets the title; one too long keeps its start and the whole
// title goes to a custom field, so nothing is lost.
func (d *Draft) setTitle(title string) {
	title = strings.TrimSpace(title)
	if len(title) > item.MaxTitle {
		d.AddField("full title", title, item.Text)
		title = Clip(title, item.MaxTitle)
	}
	d.It.Title = title
}

// HasTitle reports whether the entry has a usable title.
func (d *Draft) HasTitle() bool { return strings.TrimSpace(d.It.Title) != "" }

// isStandard reports whether name is a standard field of the item's type
// and returns its canonical name and kind.
func (d *Draft) isStandard(name string) (item.Field, bool) {
	for _, sf := range item.StandardFields[d.It.Type] {
		if strings.EqualFold(sf.Name, name) {
			return sf, true
		}
	}
	return item.Field{}, false
}

// Has reports whether a field of that name is set.
func (d *Draft) Has(name string) bool {
	_, ok := d.It.Get(name)
	return ok && !strings.EqualFold(name, "title") && !strings.EqualFold(name, "notes") &&
		!strings.EqualFold(name, "note") && !strings.EqualFold(name, "url")
}

// SetStandard sets a standard field of the item's type. A second value
// for a field already set becomes a custom field beside it.
func (d *Draft) SetStandard(name, value string) {
	sf, ok := d.isStandard(name)
	if !ok {
		d.AddField(name, value, item.Text)
		return
	}
	if value == "" {
		return
	}
	if d.Has(sf.Name) {
		d.AddField(sf.Name, value, sf.Kind)
		return
	}
	if !d.fits(sf.Name, value) {
		return
	}
	d.It.Fields = append(d.It.Fields, item.Field{Name: sf.Name, Kind: sf.Kind, Value: value})
}

// AddField adds a custom field. Empty values are skipped (they hold
// nothing); a name already used, or a standard field's name, gets a
// number so that no value overwrites another.
func (d *Draft) AddField(name, value string, k item.Kind) {
	if value == "" {
		return
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "field"
	}
	name = Clip(name, 256)
	base := name
	for n := 2; d.nameTaken(name); n++ {
		name = fmt.Sprintf("%s (%d)", base, n)
	}
	if !d.fits(name, value) {
		return
	}
	d.It.Fields = append(d.It.Fields, item.Field{Name: name, Kind: k, Value: value, Custom: true})
}

func (d *Draft) nameTaken(name string) bool {
	switch strings.ToLower(name) {
	case "title", "notes", "note", "url":
		return true
	}
	if _, ok := d.isStandard(name); ok {
		return true
	}
	for _, f := range d.It.Fields {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// fits checks a field against the item limits and reports it when it
// does not fit.
func (d *Draft) fits(name, value string) bool {
	if len(value) > item.MaxFieldValue {
		d.Report("field %q (%s) is larger than a field can hold (%s); not imported", name, SizeText(len(value)), SizeText(item.MaxFieldValue))
		return false
	}
	if len(d.It.Fields) >= item.MaxFields {
		d.Report("field %q not imported: an item holds at most %d fields", name, item.MaxFields)
		return false
	}
	return true
}

// AddURL adds a URL once.
func (d *Draft) AddURL(u string) {
	u = strings.TrimSpace(u)
	if u == "" || slices.Contains(d.It.URLs, u) {
		return
	}
	if len(d.It.URLs) >= item.MaxURLs || len(u) > item.MaxFieldValue {
		d.AddField("url", u, item.URL)
		return
	}
	d.It.URLs = append(d.It.URLs, u)
}

// AddTag adds a tag once.
func (d *Draft) AddTag(t string) {
	t = strings.TrimSpace(t)
	if t == "" || slices.Contains(d.It.Tags, t) {
		return
	}
	if len(d.It.Tags) >= item.MaxTags {
		d.Report("tag %q not imported: an item holds at most %d tags", t, item.MaxTags)
		return
	}
	d.It.Tags = append(d.It.Tags, t)
}

// SetNotes sets the notes, reporting notes too long to keep.
func (d *Draft) SetNotes(notes string) {
	if strings.TrimSpace(notes) == "" {
		return
	}
	if len(notes) > item.MaxNotes {
		d.Report("notes (%s) are larger than an item can hold (%s); not imported", SizeText(len(notes)), SizeText(item.MaxNotes))
		return
	}
	d.It.Notes = notes
}

// AddAttachment adds a file, reporting one that does not fit.
func (d *Draft) AddAttachment(name string, data []byte) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "attachment"
	}
	name = Clip(name, 255)
	if len(d.It.Attachments) >= item.MaxAttachments {
		d.Report("attachment %q (%s) not imported: an item holds at most %d attachments", name, SizeText(len(data)), item.MaxAttachments)
		return
	}
	if d.It.AttachmentBytes()+len(data) > item.MaxAttachmentBytes {
		d.Report("attachment %q (%s) is larger than an item can hold (%s in all); not imported", name, SizeText(len(data)), SizeText(item.MaxAttachmentBytes))
		return
	}
	base := name
	for n := 2; d.attachmentTaken(name); n++ {
		name = fmt.Sprintf("%s (%d)", base, n)
	}
	d.It.Attachments = append(d.It.Attachments, item.Attachment{Name: name, Data: data})
}

func (d *Draft) attachmentTaken(name string) bool {
	for _, a := range d.It.Attachments {
		if a.Name == name {
			return true
		}
	}
	return false
}

// SetTOTP stores a one-time password secret. Keyhold's TOTP kind holds an
// otpauth:// URI or a base32 secret; anything else (Steam's "steam://"
// secrets, say) is kept as a hidden field and reported, because Keyhold
// cannot make codes from it.
func (d *Draft) SetTOTP(name, value string) {
	value = strings.TrimSpace(value)
	if value == "" {
		return
	}
	if !isTOTPValue(value) {
		field := name
		if d.nameTaken(field) {
			field = "one-time password"
		}
		d.AddField(field, value, item.Hidden)
		d.Report("one-time password field %q is not an otpauth:// URI or base32 secret; kept as a hidden field, Keyhold cannot make codes from it", name)
		return
	}
	if d.It.Type == item.Login && !d.Has("totp") {
		d.SetStandard("totp", value)
		return
	}
	d.AddField(name, value, item.TOTP)
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

// Finish names an untitled item and checks it.
func (d *Draft) Finish() (*item.Item, error) {
	TrimIdentity(d.It)
	if !d.HasTitle() {
		d.It.Title = fallbackTitle(d.It)
	}
	if err := d.It.Validate(); err != nil {
		return nil, err
	}
	return d.It, nil
}

// fallbackTitle names an item whose source entry has no title: after its
// first URL's host, its username, or "Untitled".
func fallbackTitle(it *item.Item) string {
	if t := loginTitle(it); t != "" {
		return t
	}
	return "Untitled"
}

// loginTitle names an untitled item after its first URL's host with one,
// or else its username; "" when it has neither.
func loginTitle(it *item.Item) string {
	for _, u := range it.URLs {
		if h := HostOf(u); h != "" {
			return h
		}
	}
	if u := strings.TrimSpace(it.Username()); u != "" {
		return Clip(u, item.MaxTitle)
	}
	return ""
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

// OldPassword is one entry of a source's password history.
type OldPassword struct {
	Value string
	When  time.Time // when it stopped being used; zero if unknown
}

// History builds Imported.History from a source's old passwords, oldest
// first: each revision is the finished item with that password. Call it
// after finish. A value that cannot make a valid revision is reported.
func (d *Draft) History(old []OldPassword) []*item.Item {
	if len(old) == 0 {
		return nil
	}
	slices.SortStableFunc(old, func(a, b OldPassword) int { return a.When.Compare(b.When) })
	var out []*item.Item
	for _, o := range old {
		if o.Value == "" {
			continue
		}
		if len(o.Value) > item.MaxFieldValue || len(d.It.Fields) >= item.MaxFields {
			d.Report("an old password in the password history does not fit an item; not imported")
			continue
		}
		h := historyRevision(d.It, o.Value, o.When)
		if h.Modified.After(d.It.Modified) {
			h.Modified = d.It.Modified
		}
		if err := h.Validate(); err != nil {
			d.Report("an old password in the password history does not fit an item; not imported")
			continue
		}
		out = append(out, h)
	}
	return out
}

// SizeText writes a byte count for people.
func SizeText(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// Truthy reads the yes/no values exports write.
func Truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "y", "on", "✓", "x":
		return true
	}
	return false
}

// ValidText rejects a NUL byte or invalid UTF-8 in a text export, which
// almost always means a binary file or a legacy encoding.
func ValidText(b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: the file is not valid UTF-8 text; export it again, or save it as UTF-8", transfer.ErrSourceFormat)
	}
	for _, c := range b {
		if c == 0 {
			return fmt.Errorf("%w: the file contains a NUL byte; this does not look like a text export", transfer.ErrSourceFormat)
		}
	}
	return nil
}

// progressStep is how many entries go by between Progress calls.
const progressStep = 500

// ReportProgress calls p every progressStep entries and at the end.
func ReportProgress(p func(done, total int), done, total int) {
	if p != nil && (done%progressStep == 0 || done == total) {
		p(done, total)
	}
}

// TrimIdentity trims the space around every field value of an identity,
// the same for each field: sources pad names, numbers and addresses
// differently (a Bitwarden address was trimmed, its name not), and space
// at either end of a name, a phone number or a passport number means
// nothing. A field left empty held nothing and goes. Other types keep
// their values exactly: a password may end in a space.
func TrimIdentity(it *item.Item) {
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
