// Package browser reads the password exports of web browsers.
//
// Browsers export saved passwords as a CSV file with a header row:
//
//	Chrome, Edge and other Chromium browsers: name,url,username,password,note
//	(versions before 2023 leave out note)
//	Firefox: "url","username","password","httpRealm","formActionOrigin",
//	"guid","timeCreated","timeLastUsed","timePasswordChanged"
//
// Each row is one login. Columns are found by name, in any order and any
// case; a column neither browser writes becomes a custom field, so that a
// file edited by hand loses nothing.
package browser

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/build"
	"github.com/keyhold/keyhold/internal/transfer/csvtable"
)

// chromeColumns are the columns Chrome writes, with the names Safari and
// hand-edited files use for the same thing.
var chromeColumns = map[string][]string{
	"name":     {"name", "title"},
	"url":      {"url", "origin"},
	"username": {"username"},
	"password": {"password"},
	"note":     {"note", "notes"},
}

// ReadChrome reads a password export of Chrome, Edge or another
// Chromium browser (Settings › Passwords › Export passwords).
func ReadChrome(data []byte, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	return StreamChrome(bytes.NewReader(data), opts)
}

// chromeExport is how a Chrome export's header is checked.
var chromeExport = csvtable.Export{
	Label: "Chrome or Edge password", Format: "chrome-csv",
	Known: chromeColumns, Required: []string{"url", "username", "password"},
	Hint: "a Chrome or Edge password export (name,url,username,password,note); export the passwords from the browser again",
}

// StreamChrome reads a Chrome export as a stream; see ReadChrome.
func StreamChrome(r io.Reader, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	now := build.Now(opts)
	return csvtable.Each(r, opts, chromeExport, func(t *csvtable.Table, row csvtable.Row, _ *build.Unmapped) *build.Entry {
		get := func(c string) string { return t.Get(row, c) }
		e := build.NewEntry(item.Login, now)
		e.It.Title = strings.TrimSpace(get("name"))
		e.AddURL(get("url"))
		e.Set("username", get("username"), item.Text)
		e.Set("password", get("password"), item.Hidden)
		e.It.Notes = get("note")
		return e
	}, nil)
}

// firefoxColumns are the columns Firefox writes (about:logins › … ›
// Export Logins).
var firefoxColumns = map[string][]string{
	"url":                 {"url"},
	"username":            {"username"},
	"password":            {"password"},
	"httprealm":           {"httprealm"},
	"formactionorigin":    {"formactionorigin"},
	"guid":                {"guid"},
	"timecreated":         {"timecreated"},
	"timelastused":        {"timelastused"},
	"timepasswordchanged": {"timepasswordchanged"},
}

// ReadFirefox reads a Firefox password export. The login's title is the
// host of its URL (Firefox has no titles); httpRealm and formActionOrigin
// become custom fields when they add something; timeCreated and
// timePasswordChanged date the item. Firefox's guid and timeLastUsed have
// no place in an item and are reported in Unmapped.
func ReadFirefox(data []byte, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	return StreamFirefox(bytes.NewReader(data), opts)
}

// firefoxExport is how a Firefox export's header is checked.
var firefoxExport = csvtable.Export{
	Label: "Firefox password", Format: "firefox-csv",
	Known: firefoxColumns, Required: []string{"url", "username", "password"},
	Hint: "a Firefox password export (\"url\",\"username\",\"password\",\"httpRealm\",…); export the logins from Firefox again",
}

// StreamFirefox reads a Firefox export as a stream; see ReadFirefox.
func StreamFirefox(r io.Reader, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	now := build.Now(opts)
	bad := build.Counter{}
	used := map[string]bool{}
	return csvtable.Each(r, opts, firefoxExport, func(t *csvtable.Table, row csvtable.Row, _ *build.Unmapped) *build.Entry {
		get := func(c string) string { return strings.TrimSpace(t.Get(row, c)) }
		e := build.NewEntry(item.Login, now)
		rawURL := get("url")
		e.AddURL(rawURL)
		e.Set("username", row.Cells[t.Cols["username"]], item.Text)
		e.Set("password", row.Cells[t.Cols["password"]], item.Hidden)
		e.Set("HTTP realm", get("httprealm"), item.Text)
		if fa := get("formactionorigin"); fa != "" && !firefoxSameOrigin(fa, rawURL) {
			e.Set("form action", fa, item.URL)
		}

		created, okC := firefoxTime(get("timecreated"))
		changed, okM := firefoxTime(get("timepasswordchanged"))
		if get("timecreated") != "" && !okC {
			bad[`column "timeCreated": %d rows hold a value that is not a time in milliseconds since 1970; those items are dated by the import`]++
		}
		if get("timepasswordchanged") != "" && !okM {
			bad[`column "timePasswordChanged": %d rows hold a value that is not a time in milliseconds since 1970; those items are dated by the import`]++
		}
		switch {
		case okC && okM:
			e.It.Created, e.It.Modified = created, changed
		case okC:
			e.It.Created, e.It.Modified = created, created
		case okM:
			e.It.Created, e.It.Modified = changed, changed
		}
		for _, c := range []string{"guid", "timelastused"} {
			if get(c) != "" {
				used[c] = true
			}
		}
		return e
	}, func(u *build.Unmapped) {
		if used["guid"] {
			u.Add(`column "guid": Firefox's own id of each login means nothing outside Firefox; not imported`)
		}
		if used["timelastused"] {
			u.Add(`column "timeLastUsed": an item keeps no last-use time; not imported`)
		}
		bad.Lines(u)
	})
}

// firefoxTime reads a time in milliseconds since 1970. Zero, negative and
// far-future values are refused: no login was saved then.
func firefoxTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	// 1e14 ms is in the year 5138.
	if err != nil || ms <= 0 || ms > 1e14 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// firefoxSameOrigin reports whether two URLs are the same origin written
// alike, so that a form action that only repeats the login's URL is not
// kept twice.
func firefoxSameOrigin(a, b string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		s = strings.TrimSuffix(s, "/")
		return s
	}
	return norm(a) == norm(b)
}
