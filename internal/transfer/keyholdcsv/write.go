package keyholdcsv

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/keyhold/keyhold/internal/item"
)

// csvFixedHeader is the start of every CSV file Write writes. The first
// five columns are the generic header other password managers import.
var csvFixedHeader = []string{"title", "username", "password", "url", "notes", "type", "tags", "totp", "favorite", "urls"}

// Write writes items as CSV that Read reads back: the columns
// title,username,password,url,notes,type,tags,totp,favorite,urls, then one
// column per distinct field name (other than username, password and totp)
// across all items, sorted by name. The first URL goes in url, the others
// in urls separated by spaces; tags are joined with ", ".
//
// Values are written exactly as stored. In particular nothing is done
// against "CSV injection" (a value starting with = + - @ that a spreadsheet
// runs as a formula): prefixing or quoting such values would change
// passwords and break the import into another password manager. The file
// holds every secret in plaintext and is meant for another password
// manager, not for a spreadsheet: do not open it in one, and delete it
// once imported.
//
// Items are written as given, trashed ones included: choosing what to
// export is the caller's business.
//
// What CSV cannot carry is lost: creation and modification times, trash
// state, field order, history. Field kinds survive (a column is written as
// "hidden:name" when the name alone would not say it), except for
// username, password and totp fields on non-login items. A "\r\n" inside a
// value reads back as "\n", as in every CSV reader; a tag that contains
// ',' or ';' or begins or ends with white space, and a second or later URL
// that contains white space, do not survive the round trip. Use the
// encrypted export (WriteExport) to keep everything.
func Write(w io.Writer, items []*item.Item) error {
	type fieldCol struct {
		key    string // lower-case name + kind
		name   string
		kind   item.Kind
		header string
	}
	byKey := map[string]*fieldCol{}
	for i, it := range items {
		if it == nil {
			return fmt.Errorf("cannot export item %d: it is nil", i+1)
		}
		if err := it.Validate(); err != nil {
			return fmt.Errorf("cannot export item %d: %w", i+1, err)
		}
		seen := map[string]bool{}
		for _, f := range it.Fields {
			l := strings.ToLower(f.Name)
			if seen[l] {
				return fmt.Errorf("cannot export item %d to CSV: it has two fields named %q; rename one (the encrypted export keeps both)", i+1, f.Name)
			}
			seen[l] = true
			switch l {
			case "username", "password", "totp":
				continue
			}
			key := l + "\x00" + string(f.Kind)
			c, ok := byKey[key]
			if !ok {
				byKey[key] = &fieldCol{key: key, name: f.Name, kind: f.Kind}
			} else if f.Name < c.name {
				c.name = f.Name // one spelling per column, whatever the item order
			}
		}
	}
	cols := make([]*fieldCol, 0, len(byKey))
	for _, c := range byKey {
		c.header = fieldHeader(c.name, c.kind)
		cols = append(cols, c)
	}
	slices.SortFunc(cols, func(a, b *fieldCol) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)),
			strings.Compare(a.name, b.name), strings.Compare(string(a.kind), string(b.kind)))
	})

	cw := csv.NewWriter(w)
	rec := slices.Clone(csvFixedHeader)
	for _, c := range cols {
		rec = append(rec, c.header)
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	for _, it := range items {
		byName := make(map[string]item.Field, len(it.Fields))
		for _, f := range it.Fields {
			byName[strings.ToLower(f.Name)] = f
		}
		var url, more, fav string
		if len(it.URLs) > 0 {
			url, more = it.URLs[0], strings.Join(it.URLs[1:], " ")
		}
		if it.Favorite {
			fav = "true"
		}
		rec = append(rec[:0], it.Title, byName["username"].Value, byName["password"].Value, url, it.Notes,
			string(it.Type), strings.Join(it.Tags, ", "), byName["totp"].Value, fav, more)
		for _, c := range cols {
			v := ""
			if f, ok := byName[strings.ToLower(c.name)]; ok && f.Kind == c.kind {
				v = f.Value
			}
			rec = append(rec, v)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
