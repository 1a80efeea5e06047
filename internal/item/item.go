// Package item defines what a vault item holds once decrypted: its type,
// title, fields, URLs, notes, tags and times. Everything here lives inside
// the item's ciphertext; nothing of it is ever stored in the clear.
//
// The model is deliberately flat: an item is a title plus an ordered list
// of named fields. Each type has well-known field names (a login's
// "username" and "password", a card's "number"), and any item may carry
// custom fields. A flat list keeps merging field by field simple and keeps
// every importer's mapping a table.
package item

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SchemaVersion is the version of the plaintext JSON encoding.
const SchemaVersion = 1

// Type is the kind of item.
type Type string

// Item types.
const (
	Login    Type = "login"
	Note     Type = "note"
	Card     Type = "card"
	Identity Type = "identity"
	Bank     Type = "bank"
)

// Types lists every item type, in the order help texts show them.
var Types = []Type{Login, Note, Card, Identity, Bank}

// Kind is how a field's value is treated.
type Kind string

// Field kinds. Hidden values are masked when shown and never searched;
// TOTP values are otpauth:// URIs or base32 secrets.
const (
	Text   Kind = "text"
	Hidden Kind = "hidden"
	URL    Kind = "url"
	TOTP   Kind = "totp"
)

// Field is one named value.
type Field struct {
	Name   string `json:"name"`
	Kind   Kind   `json:"kind"`
	Value  string `json:"value"`
	Custom bool   `json:"custom,omitempty"`
}

// Item is the decrypted content of one item revision.
type Item struct {
	V        int        `json:"v"`
	Type     Type       `json:"type"`
	Title    string     `json:"title"`
	Fields   []Field    `json:"fields,omitempty"`
	URLs     []string   `json:"urls,omitempty"`
	Notes    string     `json:"notes,omitempty"`
	Tags     []string   `json:"tags,omitempty"`
	Favorite bool       `json:"favorite,omitempty"`
	Match    string     `json:"match,omitempty"` // browser filling: MatchDefault, MatchDomain or MatchHost
	Created  time.Time  `json:"created"`
	Modified time.Time  `json:"modified"`
	Trashed  *time.Time `json:"trashed,omitempty"`
	// Attachments are small files kept inside the item (a key file, a
	// scanned card), sealed with it. Their size is bounded so that the
	// whole item still fits one sealed box.
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Attachment is a named file held by an item. Data is base64 in the JSON.
type Attachment struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// StandardFields lists each type's well-known fields and their kinds, in
// display order.
var StandardFields = map[Type][]Field{
	Login: {{Name: "username", Kind: Text}, {Name: "password", Kind: Hidden}, {Name: "totp", Kind: TOTP}},
	Note:  {},
	Card: {{Name: "cardholder", Kind: Text}, {Name: "number", Kind: Hidden}, {Name: "expiry", Kind: Text},
		{Name: "cvv", Kind: Hidden}, {Name: "pin", Kind: Hidden}, {Name: "brand", Kind: Text}},
	Identity: {{Name: "first_name", Kind: Text}, {Name: "last_name", Kind: Text}, {Name: "email", Kind: Text},
		{Name: "phone", Kind: Text}, {Name: "address", Kind: Text}, {Name: "birthdate", Kind: Text},
		{Name: "company", Kind: Text}, {Name: "passport", Kind: Hidden}, {Name: "license", Kind: Hidden}},
	Bank: {{Name: "bank_name", Kind: Text}, {Name: "account_name", Kind: Text}, {Name: "account_number", Kind: Hidden},
		{Name: "routing_number", Kind: Text}, {Name: "iban", Kind: Hidden}, {Name: "swift", Kind: Text},
		{Name: "pin", Kind: Hidden}},
}

// Limits on what an item may hold; generous for people, tight enough that
// a hostile import cannot exhaust memory.
const (
	MaxTitle      = 1024
	MaxFieldValue = 64 << 10
	MaxFields     = 256
	MaxURLs       = 64
	MaxTags       = 64
	MaxNotes      = 512 << 10
	// MaxAttachments and MaxAttachmentBytes bound attachments: at most
	// this many per item, and this many bytes of data in all, so that an
	// item with notes and fields still seals within one box (base64
	// makes the data a third larger in the JSON).
	MaxAttachments     = 32
	MaxAttachmentBytes = 600 << 10
)

// Values of Item.Match. A login normally fills anywhere on its
// registrable domain, because many sites sign in on one host and serve
// another; MatchHost narrows it to the saved host, for domains whose
// subdomains belong to different people. The empty value leaves the choice
// to the extension's "exact host by default" option, so that the option
// can change every item that has not chosen.
const (
	MatchDefault = ""
	MatchDomain  = "domain"
	MatchHost    = "host"
)

// ParseMatch reads a match setting as a person types it: "domain",
// "host", or "default" (or "") for the extension's default.
func ParseMatch(s string) (string, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case MatchDomain, MatchHost:
		return v, nil
	case "default", "":
		return MatchDefault, nil
	}
	return "", fmt.Errorf("unknown match setting %q (one of: domain, host, default)", s)
}

// ErrInvalid reports an item that breaks a rule.
var ErrInvalid = errors.New("invalid item")

// New returns an empty item of type t created now.
func New(t Type, title string, now time.Time) *Item {
	now = now.UTC().Truncate(time.Millisecond)
	return &Item{V: SchemaVersion, Type: t, Title: title, Created: now, Modified: now}
}

// ParseType reads a type name.
func ParseType(s string) (Type, error) {
	t := Type(strings.ToLower(s))
	if _, ok := StandardFields[t]; !ok {
		names := make([]string, len(Types))
		for i, t := range Types {
			names[i] = string(t)
		}
		return "", fmt.Errorf("unknown item type %q (one of: %s)", s, strings.Join(names, ", "))
	}
	return t, nil
}

// Validate checks the item against the rules above.
func (it *Item) Validate() error {
	if it.V != SchemaVersion {
		return fmt.Errorf("%w: schema version %d", ErrInvalid, it.V)
	}
	if _, ok := StandardFields[it.Type]; !ok {
		return fmt.Errorf("%w: unknown type %q", ErrInvalid, it.Type)
	}
	if strings.TrimSpace(it.Title) == "" {
		return fmt.Errorf("%w: the title is empty", ErrInvalid)
	}
	if len(it.Title) > MaxTitle || len(it.Fields) > MaxFields || len(it.URLs) > MaxURLs ||
		len(it.Tags) > MaxTags || len(it.Notes) > MaxNotes {
		return fmt.Errorf("%w: too large", ErrInvalid)
	}
	switch it.Match {
	case MatchDefault, MatchDomain, MatchHost:
	default:
		return fmt.Errorf("%w: unknown match setting (one of: domain, host, or none for the default)", ErrInvalid)
	}
	for _, f := range it.Fields {
		if f.Name == "" || len(f.Value) > MaxFieldValue {
			return fmt.Errorf("%w: field %q is empty-named or too large", ErrInvalid, f.Name)
		}
		switch f.Kind {
		case Text, Hidden, URL, TOTP:
		default:
			return fmt.Errorf("%w: field %q has unknown kind %q", ErrInvalid, f.Name, f.Kind)
		}
	}
	if len(it.Attachments) > MaxAttachments {
		return fmt.Errorf("%w: more than %d attachments", ErrInvalid, MaxAttachments)
	}
	total := 0
	names := make(map[string]bool, len(it.Attachments))
	for _, a := range it.Attachments {
		if a.Name == "" || len(a.Name) > MaxTitle || names[a.Name] {
			return fmt.Errorf("%w: an attachment's name is empty, too long or used twice", ErrInvalid)
		}
		names[a.Name] = true
		total += len(a.Data)
	}
	if total > MaxAttachmentBytes {
		return fmt.Errorf("%w: attachments hold more than %d KiB", ErrInvalid, MaxAttachmentBytes>>10)
	}
	return nil
}

// AttachmentBytes returns the total size of the item's attachments.
func (it *Item) AttachmentBytes() int {
	n := 0
	for _, a := range it.Attachments {
		n += len(a.Data)
	}
	return n
}

// Marshal encodes the item as the JSON that is sealed.
func (it *Item) Marshal() ([]byte, error) {
	if err := it.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(it)
}

// Unmarshal decodes and validates an item's JSON.
func Unmarshal(b []byte) (*Item, error) {
	it := new(Item)
	if !decodeFast(b, it) {
		*it = Item{}
		if err := json.Unmarshal(b, it); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	if err := it.Validate(); err != nil {
		return nil, err
	}
	return it, nil
}

// Get returns the value of a field by name, case-insensitively. The names
// "title", "notes" and "url" (the first URL) are accepted too.
func (it *Item) Get(name string) (string, bool) {
	switch strings.ToLower(name) {
	case "title":
		return it.Title, true
	case "notes", "note":
		return it.Notes, it.Notes != ""
	case "url":
		if len(it.URLs) > 0 {
			return it.URLs[0], true
		}
		return "", false
	}
	for _, f := range it.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// Set sets a field's value, adding it if absent. A standard field of the
// item's type gets its standard kind; any other name is a custom field of
// kind k.
func (it *Item) Set(name, value string, k Kind) {
	for i, f := range it.Fields {
		if strings.EqualFold(f.Name, name) {
			it.Fields[i].Value = value
			return
		}
	}
	for _, sf := range StandardFields[it.Type] {
		if strings.EqualFold(sf.Name, name) {
			it.Fields = append(it.Fields, Field{Name: sf.Name, Kind: sf.Kind, Value: value})
			return
		}
	}
	it.Fields = append(it.Fields, Field{Name: name, Kind: k, Value: value, Custom: true})
}

// Remove deletes a field by name and reports whether it was there.
func (it *Item) Remove(name string) bool {
	n := len(it.Fields)
	it.Fields = slices.DeleteFunc(it.Fields, func(f Field) bool { return strings.EqualFold(f.Name, name) })
	return len(it.Fields) != n
}

// Username returns the login's username, or "".
func (it *Item) Username() string { v, _ := it.Get("username"); return v }

// Matches reports whether the item matches a search: every word of q
// appears, case-insensitively, in the title, a URL, a tag, a non-hidden
// field, the notes or the type name. Hidden and TOTP values are never
// searched, so a search cannot be used to test a password.
func (it *Item) Matches(q string) bool { return MatchText(it.SearchText(), QueryWords(q)) }

// SearchText is the lower-case text a search looks in, its parts joined by
// NUL so that no word spans two parts. Callers that search often keep it.
func (it *Item) SearchText() string {
	var b strings.Builder
	add := func(s string) {
		b.WriteString(strings.ToLower(s))
		b.WriteByte(0)
	}
	add(it.Title)
	add(string(it.Type))
	add(it.Notes)
	for _, u := range it.URLs {
		add(u)
	}
	for _, t := range it.Tags {
		add(t)
	}
	for _, f := range it.Fields {
		if f.Kind != Hidden && f.Kind != TOTP {
			add(f.Value)
		}
	}
	return b.String()
}

// QueryWords splits a search query into lower-case words.
func QueryWords(q string) []string { return strings.Fields(strings.ToLower(q)) }

// MatchText reports whether every word occurs in text (a SearchText).
func MatchText(text string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// Clone returns a deep copy.
func (it *Item) Clone() *Item {
	c := *it
	c.Fields = slices.Clone(it.Fields)
	c.URLs = slices.Clone(it.URLs)
	c.Tags = slices.Clone(it.Tags)
	if it.Attachments != nil {
		c.Attachments = make([]Attachment, len(it.Attachments))
		for i, a := range it.Attachments {
			c.Attachments[i] = Attachment{Name: a.Name, Data: slices.Clone(a.Data)}
		}
	}
	if it.Trashed != nil {
		t := *it.Trashed
		c.Trashed = &t
	}
	return &c
}
