// Package lastpass reads LastPass's CSV export.
//
// LastPass exports (Advanced Options › Export › LastPass CSV File) one row
// per site or secure note under the header
//
//	url,username,password,totp,extra,name,grouping,fav
//
// (files from before 2019 have no totp column). A secure note has the URL
// "http://sn" and its text in extra. A note made from one of LastPass's
// templates (a credit card, a bank account…) holds its fields as lines
// "Key:value" after a first line "NoteType:Credit Card", with the free
// text last, after "Notes:". grouping is the folder, its levels separated
// by '\'.
package lastpass

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/build"
	"github.com/keyhold/keyhold/internal/transfer/csvtable"
)

var lastPassColumns = map[string][]string{
	"url":      {"url"},
	"username": {"username"},
	"password": {"password"},
	"totp":     {"totp"},
	"extra":    {"extra"},
	"name":     {"name"},
	"grouping": {"grouping"},
	"fav":      {"fav"},
}

// lastPassNoteURL marks a secure note.
const lastPassNoteURL = "http://sn"

// lpNoteType says how one LastPass note template becomes an item: the item
// type, which keys go to standard fields, and which other keys hold
// secrets. Keys not listed become text custom fields named as in LastPass.
type lpNoteType struct {
	typ    item.Type
	exact  bool              // the item type says all the template says
	fields map[string]string // LastPass key -> standard field
	urls   []string          // keys whose value is a URL
	secret []string          // custom keys to hide
	dates  map[string]string // keys whose value LastPass writes as "June,20,2020" -> format ("ym" or "ymd")
}

// lpNoteTypes covers LastPass's built-in templates (as in lastpass-cli's
// notes.c and LastPass's own exports).
var lpNoteTypes = map[string]lpNoteType{
	"Credit Card": {typ: item.Card, exact: true,
		fields: map[string]string{"Name on Card": "cardholder", "Number": "number", "Security Code": "cvv",
			"Expiration Date": "expiry", "Type": "brand"},
		dates: map[string]string{"Expiration Date": "ym", "Start Date": "ym"}},
	"Bank Account": {typ: item.Bank, exact: true,
		fields: map[string]string{"Bank Name": "bank_name", "Account Number": "account_number",
			"Routing Number": "routing_number", "SWIFT Code": "swift", "IBAN Number": "iban", "Pin": "pin"}},
	"Address": {typ: item.Identity, exact: true,
		fields: map[string]string{"First Name": "first_name", "Last Name": "last_name", "Email Address": "email",
			"Phone": "phone", "Address 1": "address", "Company": "company", "Birthday": "birthdate"},
		dates: map[string]string{"Birthday": "ymd"}},
	"Driver's License": {typ: item.Identity,
		fields: map[string]string{"Number": "license", "Address": "address", "Date of Birth": "birthdate"},
		dates:  map[string]string{"Date of Birth": "ymd", "Expiration Date": "ymd"}},
	"Passport": {typ: item.Identity,
		fields: map[string]string{"Number": "passport", "Date of Birth": "birthdate"},
		dates:  map[string]string{"Date of Birth": "ymd", "Issued Date": "ymd", "Expiration Date": "ymd"}},
	"Social Security": {typ: item.Identity, secret: []string{"Number"}},
	"Server": {typ: item.Login,
		fields: map[string]string{"Username": "username", "Password": "password"}},
	"Database": {typ: item.Login,
		fields: map[string]string{"Username": "username", "Password": "password"}},
	"Email Account": {typ: item.Login,
		fields: map[string]string{"Username": "username", "Password": "password"}},
	"Instant Messenger": {typ: item.Login,
		fields: map[string]string{"Username": "username", "Password": "password"}},
	"Wi-Fi Password": {typ: item.Login,
		fields: map[string]string{"Password": "password"}},
	"Membership": {typ: item.Login,
		fields: map[string]string{"Password": "password"}, urls: []string{"Website"},
		dates: map[string]string{"Start Date": "ymd", "Expiration Date": "ymd"}},
	"Software License": {typ: item.Note, urls: []string{"Website"}, secret: []string{"License Key"},
		dates: map[string]string{"Purchase Date": "ymd"}},
	"Insurance": {typ: item.Note, urls: []string{"URL"},
		dates: map[string]string{"Expiration": "ymd"}},
	"Health Insurance": {typ: item.Note},
	"SSH Key": {typ: item.Note, secret: []string{"Passphrase", "Private Key"},
		dates: map[string]string{"Date": "ymd"}},
}

// lpTemplateKeys lists every key of LastPass's built-in templates, so that
// a line of a multi-line value that happens to hold a colon is not taken
// for a field of its own.
var lpTemplateKeys = map[string][]string{
	"Address": {"Title", "First Name", "Middle Name", "Last Name", "Username", "Gender", "Birthday", "Company",
		"Address 1", "Address 2", "Address 3", "City / Town", "County", "State", "Zip / Postal Code", "Country",
		"Timezone", "Email Address", "Phone", "Evening Phone", "Mobile Phone", "Fax"},
	"Bank Account": {"Bank Name", "Account Type", "Routing Number", "Account Number", "SWIFT Code", "IBAN Number",
		"Pin", "Branch Address", "Branch Phone"},
	"Credit Card":      {"Name on Card", "Type", "Number", "Security Code", "Start Date", "Expiration Date"},
	"Database":         {"Type", "Hostname", "Port", "Database", "Username", "Password", "SID", "Alias"},
	"Driver's License": {"Number", "Expiration Date", "License Class", "Name", "Address", "City / Town", "State", "ZIP / Postal Code", "Country", "Date of Birth", "Sex", "Height"},
	"Email Account":    {"Username", "Password", "Server", "Port", "Type", "SMTP Server", "SMTP Port"},
	"Health Insurance": {"Company", "Company Phone", "Policy Type", "Policy Number", "Group ID", "Member Name", "Member ID",
		"Physician Name", "Physician Phone", "Physician Address", "Co-pay"},
	"Instant Messenger": {"Type", "Username", "Password", "Server", "Port"},
	"Insurance":         {"Company", "Policy Type", "Policy Number", "Expiration", "Agent Name", "Agent Phone", "URL"},
	"Membership":        {"Organization", "Membership Number", "Member Name", "Start Date", "Expiration Date", "Website", "Telephone", "Password"},
	"Passport":          {"Type", "Name", "Country", "Number", "Sex", "Nationality", "Issuing Authority", "Date of Birth", "Issued Date", "Expiration Date"},
	"Server":            {"Hostname", "Username", "Password"},
	"Social Security":   {"Name", "Number"},
	"Software License": {"License Key", "Licensee", "Version", "Publisher", "Support Email", "Website", "Price",
		"Purchase Date", "Order Number", "Number of Licenses", "Order Total"},
	"SSH Key":        {"Bit Strength", "Format", "Passphrase", "Private Key", "Public Key", "Hostname", "Date"},
	"Wi-Fi Password": {"SSID", "Password", "Connection Type", "Connection Mode", "Authentication", "Encryption", "Use 802.1X", "FIPS Mode", "Key Type", "Protected", "Key Index"},
}

// lpMultiline lists the keys whose values run over several lines (a key
// in PEM form): inside them, only a key of the template starts a new field.
var lpMultiline = map[string]bool{"Private Key": true, "Public Key": true}

// Read reads a LastPass CSV export.
func Read(data []byte, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	return Stream(bytes.NewReader(data), opts)
}

// lastPassExport is how a LastPass export's header is checked.
var lastPassExport = csvtable.Export{
	Label: "LastPass", Format: "lastpass-csv",
	Known: lastPassColumns, Required: []string{"url", "username", "password", "extra", "name"},
	Hint: "a LastPass export (url,username,password,totp,extra,name,grouping,fav); export the vault from LastPass again as \"LastPass CSV File\"",
}

// Stream reads a LastPass export as a stream; see Read.
func Stream(r io.Reader, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	now := build.Now(opts)
	bad := build.Counter{}
	return csvtable.Each(r, opts, lastPassExport, func(t *csvtable.Table, row csvtable.Row, u *build.Unmapped) *build.Entry {
		get := func(c string) string { return t.Get(row, c) }
		var e *build.Entry
		if strings.TrimSpace(get("url")) == lastPassNoteURL {
			e = lastPassNote(get("extra"), now, u, bad)
		} else {
			e = build.NewEntry(item.Login, now)
			if url := strings.TrimSpace(get("url")); url != "http://" && url != "https://" {
				e.AddURL(url)
			}
			e.It.Notes = get("extra")
		}
		// A note may carry a username or password too (LastPass lets a
		// template note have them); keep them as login fields would be.
		e.Set("username", get("username"), item.Text)
		e.Set("password", get("password"), item.Hidden)
		e.Set("totp", strings.TrimSpace(get("totp")), item.TOTP)
		e.It.Title = strings.TrimSpace(get("name"))
		if g := lastPassFolder(get("grouping")); g != "" {
			e.AddTag(g)
			e.Folder = g
		}
		switch strings.TrimSpace(get("fav")) {
		case "1":
			e.It.Favorite = true
		case "", "0":
		default:
			bad[`column "fav": %d rows hold a value other than 0 or 1; those items are not marked as favorites`]++
		}
		return e
	}, bad.Lines)
}

// lastPassFolder turns a grouping ("Work\Servers") into a tag
// ("Work/Servers"). "(none)" is how some exports write no folder.
func lastPassFolder(g string) string {
	g = strings.TrimSpace(g)
	if g == "" || strings.EqualFold(g, "(none)") {
		return ""
	}
	parts := strings.Split(g, `\`)
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}

// lastPassNote builds a secure note's item from its extra text.
func lastPassNote(extra string, now time.Time, u *build.Unmapped, bad build.Counter) *build.Entry {
	text := strings.ReplaceAll(extra, "\r\n", "\n")
	first, rest, _ := strings.Cut(text, "\n")
	key, name, isTyped := strings.Cut(first, ":")
	if !isTyped || key != "NoteType" || strings.TrimSpace(name) == "" {
		e := build.NewEntry(item.Note, now)
		e.It.Notes = extra
		return e
	}
	name = strings.TrimSpace(name)
	nt, known := lpNoteTypes[name]
	if !known {
		nt = lpNoteType{typ: item.Note}
	}
	e := build.NewEntry(nt.typ, now)
	if !nt.exact {
		e.Set("LastPass type", name, item.Text)
	}

	isKey := func(k string) bool {
		return slices.Contains(lpTemplateKeys[name], k) || k == "Notes" || k == "Language" || k == "NoteType"
	}

	type kv struct {
		key   string
		lines []string
	}
	var kvs []kv
	var notes []string
	inNotes := false
	for _, line := range strings.Split(rest, "\n") {
		if inNotes {
			notes = append(notes, line)
			continue
		}
		k, v, hasColon := strings.Cut(line, ":")
		starts := hasColon && k != "" && strings.TrimSpace(k) == k && len(k) <= 64
		if starts && len(kvs) > 0 && lpMultiline[kvs[len(kvs)-1].key] && !isKey(k) {
			starts = false
		}
		switch {
		case starts && k == "Notes":
			inNotes = true
			notes = append(notes, v)
		case starts:
			kvs = append(kvs, kv{k, []string{v}})
		case len(kvs) > 0:
			kvs[len(kvs)-1].lines = append(kvs[len(kvs)-1].lines, line)
		default:
			notes = append(notes, line)
		}
	}
	e.It.Notes = strings.TrimRight(strings.Join(notes, "\n"), "\n")

	for _, f := range kvs {
		val := strings.TrimRight(strings.Join(f.lines, "\n"), "\n")
		if strings.TrimSpace(val) == "" || strings.TrimSpace(val) == "," || strings.TrimSpace(val) == ",," {
			continue // an empty template field; LastPass writes empty dates as ","
		}
		if f.key == "Language" {
			u.Add(`LastPass secure notes: the "Language" line is a LastPass setting of the note's template; not imported`)
			continue
		}
		if fm, ok := nt.dates[f.key]; ok {
			if d, ok := lastPassDate(val, fm); ok {
				val = d
			} else {
				bad[`LastPass secure notes: %d dates are not written "Month,day,year" or "Month,year"; imported as written`]++
			}
		}
		switch {
		case nt.fields[f.key] != "":
			std := nt.fields[f.key]
			e.Set(std, val, lpStdKind(nt.typ, std))
		case slices.Contains(nt.urls, f.key):
			e.AddURL(val)
		case slices.Contains(nt.secret, f.key):
			e.Set(f.key, val, item.Hidden)
		default:
			e.Set(f.key, val, build.Kind(f.key))
		}
	}
	return e
}

// lpStdKind is the kind of a standard field; item.Set gives standard
// fields their own kind anyway, this only keeps the call honest.
func lpStdKind(t item.Type, name string) item.Kind {
	for _, f := range item.StandardFields[t] {
		if f.Name == name {
			return f.Kind
		}
	}
	return item.Text
}

var lastPassMonths = map[string]int{
	"january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
	"august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}

// lastPassDate rewrites a LastPass date ("June,2020" or "June,20,2020")
// as "06/2020" (a card's expiry) or "2020-06-20".
func lastPassDate(s, format string) (string, bool) {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	month, ok := lastPassMonths[strings.ToLower(parts[0])]
	if !ok {
		return "", false
	}
	num := func(s string, lo, hi int) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= lo && n <= hi
	}
	switch {
	case len(parts) == 2:
		y, ok := num(parts[1], 1, 9999)
		if !ok {
			return "", false
		}
		if format == "ym" {
			return fmt.Sprintf("%02d/%04d", month, y), true
		}
		return fmt.Sprintf("%04d-%02d", y, month), true
	case len(parts) == 3:
		d, ok1 := num(parts[1], 1, 31)
		y, ok2 := num(parts[2], 1, 9999)
		if !ok1 || !ok2 {
			return "", false
		}
		return fmt.Sprintf("%04d-%02d-%02d", y, month, d), true
	}
	return "", false
}
