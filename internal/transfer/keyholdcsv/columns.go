package keyholdcsv

import (
	"fmt"
	"strings"

	"github.com/keyhold/keyhold/internal/item"
)

// column is where one CSV column goes.
type column int

const (
	colCustom   column = iota // a field of the item, named by the header
	colUnnamed                // an empty header cell: must stay empty
	colTitle                  // the item's title
	colUsername               // the "username" field
	colPassword               // the "password" field
	colURL                    // the first URL
	colURLs                   // more URLs, separated by white space
	colNotes                  // the notes
	colTOTP                   // the "totp" field
	colTags                   // tags, separated by ',' or ';'
	colFolder                 // one tag: a folder path, '/' kept
	colFavorite               // 1/true/yes marks a favorite
	colType                   // the item type (login, note, card…)
)

// knownColumns maps lower-case header names, Keyhold's own and the
// aliases other password managers write (Bitwarden's login_*, LastPass's
// name/extra/grouping/fav), to their column.
var knownColumns = map[string]column{
	"title":          colTitle,
	"name":           colTitle,
	"username":       colUsername,
	"login_username": colUsername,
	"password":       colPassword,
	"login_password": colPassword,
	"url":            colURL,
	"uri":            colURL,
	"login_uri":      colURL,
	"urls":           colURLs,
	"notes":          colNotes,
	"note":           colNotes,
	"extra":          colNotes,
	"totp":           colTOTP,
	"otp":            colTOTP,
	"login_totp":     colTOTP,
	"tags":           colTags,
	"folder":         colFolder,
	"grouping":       colFolder,
	"favorite":       colFavorite,
	"fav":            colFavorite,
	"type":           colType,
}

// destination describes a column's target for Result.Columns.
func (c column) destination(field string, k item.Kind) string {
	switch c {
	case colCustom:
		return fmt.Sprintf("custom %s field %q", k, field)
	case colUnnamed:
		return ""
	case colTitle:
		return "title"
	case colUsername:
		return "username"
	case colPassword:
		return "password"
	case colURL:
		return "url"
	case colURLs:
		return "more urls"
	case colNotes:
		return "notes"
	case colTOTP:
		return "totp"
	case colTags:
		return "tags"
	case colFolder:
		return "tags (the folder path as one tag)"
	case colFavorite:
		return "favorite"
	case colType:
		return "type"
	}
	panic("transfer: unknown column")
}

// parseHeader reads one header cell. A name that is not a known column is
// a custom field. Its kind is hidden when the name suggests a secret
// (it contains "password", "secret" or "pin"), text otherwise, unless the
// name is written "kind:name" (text:, hidden:, url:, totp:), which sets
// the kind explicitly and keeps the name exactly as written after the
// colon. Write uses that form whenever the plain name would not come
// back as the same field, so any field name and kind survives a round trip.
func parseHeader(raw string) (c column, field string, k item.Kind) {
	name := strings.TrimSpace(raw)
	if name == "" {
		return colUnnamed, "", ""
	}
	if c, ok := knownColumns[strings.ToLower(name)]; ok {
		return c, "", ""
	}
	if i := strings.IndexByte(raw, ':'); i > 0 && i < len(raw)-1 {
		switch k := item.Kind(strings.ToLower(raw[:i])); k {
		case item.Text, item.Hidden, item.URL, item.TOTP:
			return colCustom, raw[i+1:], k
		}
	}
	return colCustom, name, defaultKind(name)
}

// defaultKind guesses a custom column's kind from its name. Erring towards
// hidden is cheap (the value is masked, not lost); erring towards text
// would show a secret on screen.
func defaultKind(name string) item.Kind {
	l := strings.ToLower(name)
	for _, s := range []string{"password", "secret", "pin"} {
		if strings.Contains(l, s) {
			return item.Hidden
		}
	}
	return item.Text
}

// fieldHeader returns the header under which Write writes a field so
// that parseHeader gives back exactly that name and kind.
func fieldHeader(name string, k item.Kind) string {
	if c, f, fk := parseHeader(name); c == colCustom && f == name && fk == k {
		return name
	}
	return string(k) + ":" + name
}
