package transfer

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/item"
)

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
func init() {
	registerSource("chrome-csv", ReadChromeCSV)
	registerSource("firefox-csv", ReadFirefoxCSV)
}

// chromeColumns are the columns Chrome writes, with the names Safari and
// hand-edited files use for the same thing.
var chromeColumns = map[string][]string{
	"name":     {"name", "title"},
	"url":      {"url", "origin"},
	"username": {"username"},
	"password": {"password"},
	"note":     {"note", "notes"},
}

// ReadChromeCSV reads a password export of Chrome, Edge or another
// Chromium browser (Settings › Passwords › Export passwords).
func ReadChromeCSV(data []byte, opts ImportOptions) (*ImportResult, error) {
	return readChromeCSV(bytes.NewReader(data), opts)
}

func readChromeCSV(r io.Reader, opts ImportOptions) (*ImportResult, error) {
	now := pmcsvNow(opts)
	res := &ImportResult{}
	var u pmcsvUnmapped
	err := pmcsvEach(r, opts, "Chrome or Edge password", "chrome-csv", chromeColumns, []string{"url", "username", "password"},
		"a Chrome or Edge password export (name,url,username,password,note); export the passwords from the browser again",
		func(t *pmcsvTable, row pmcsvRow) error {
			if row.blank() {
				res.Skipped++
				return nil
			}
			get := func(c string) string { return t.get(row, c) }
			e := newPMCSVEntry(item.Login, now)
			e.it.Title = strings.TrimSpace(get("name"))
			e.addURL(get("url"))
			e.set("username", get("username"), item.Text)
			e.set("password", get("password"), item.Hidden)
			e.it.Notes = get("note")
			t.setExtras(e, row)
			imp, err := e.finish(row.line, &u)
			if err != nil {
				return err
			}
			res.Items = append(res.Items, imp)
			return nil
		})
	if err != nil {
		return nil, err
	}
	res.Unmapped = u.lines
	return res, nil
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

// ReadFirefoxCSV reads a Firefox password export. The login's title is the
// host of its URL (Firefox has no titles); httpRealm and formActionOrigin
// become custom fields when they add something; timeCreated and
// timePasswordChanged date the item. Firefox's guid and timeLastUsed have
// no place in an item and are reported in Unmapped.
func ReadFirefoxCSV(data []byte, opts ImportOptions) (*ImportResult, error) {
	return readFirefoxCSV(bytes.NewReader(data), opts)
}

func readFirefoxCSV(r io.Reader, opts ImportOptions) (*ImportResult, error) {
	now := pmcsvNow(opts)
	res := &ImportResult{}
	var u pmcsvUnmapped
	bad := pmcsvCounter{}
	used := map[string]bool{}
	err := pmcsvEach(r, opts, "Firefox password", "firefox-csv", firefoxColumns, []string{"url", "username", "password"},
		"a Firefox password export (\"url\",\"username\",\"password\",\"httpRealm\",…); export the logins from Firefox again",
		func(t *pmcsvTable, row pmcsvRow) error {
			if row.blank() {
				res.Skipped++
				return nil
			}
			get := func(c string) string { return strings.TrimSpace(t.get(row, c)) }
			e := newPMCSVEntry(item.Login, now)
			rawURL := get("url")
			e.addURL(rawURL)
			e.set("username", row.cells[t.cols["username"]], item.Text)
			e.set("password", row.cells[t.cols["password"]], item.Hidden)
			e.set("HTTP realm", get("httprealm"), item.Text)
			if fa := get("formactionorigin"); fa != "" && !firefoxSameOrigin(fa, rawURL) {
				e.set("form action", fa, item.URL)
			}
			t.setExtras(e, row)

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
				e.it.Created, e.it.Modified = created, changed
			case okC:
				e.it.Created, e.it.Modified = created, created
			case okM:
				e.it.Created, e.it.Modified = changed, changed
			}
			for _, c := range []string{"guid", "timelastused"} {
				if get(c) != "" {
					used[c] = true
				}
			}

			imp, err := e.finish(row.line, &u)
			if err != nil {
				return err
			}
			res.Items = append(res.Items, imp)
			return nil
		})
	if err != nil {
		return nil, err
	}
	if used["guid"] {
		u.add(`column "guid": Firefox's own id of each login means nothing outside Firefox; not imported`)
	}
	if used["timelastused"] {
		u.add(`column "timeLastUsed": an item keeps no last-use time; not imported`)
	}
	bad.lines(&u)
	res.Unmapped = u.lines
	return res, nil
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
