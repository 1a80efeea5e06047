// Package msecure reads mSecure's CSV export.
//
// mSecure (File › Export › CSV File) writes no header row, one record per
// row, in one of two layouts:
//
// mSecure 6, whose file starts with the line "mSecure6 CSV export file":
//
//	title|record-ID, record type, tags, notes, label|type|value, label|type|value, …
//
// Each field cell carries its own label and a number for its kind; the
// kinds seen in exports are 0 text, 2 URL, 4 phone, 7 username,
// 8 password, 9 secure text, 11 expiry date and 12 card number. Line
// breaks in the notes are written as the two characters \n.
//
// mSecure 5 and older, whose file on macOS starts with "mSecure CSV export
// file":
//
//	group, record type, description, notes, value, value, …
//
// with one value per field of the record type, in the type's fixed order
// (msV5Fields). Line breaks in the notes are written as a vertical tab
// (macOS) or as \n (Windows).
//
// Rows may end in an extra comma. Files localised by mSecure may use ';'
// between cells; both are accepted.
package msecure

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

// mSecure 6 field kinds, as found in exports.
const (
	msKindURL        = 2
	msKindUsername   = 7
	msKindPassword   = 8
	msKindSecureText = 9
	msKindCardNumber = 12
)

// msType says how one mSecure record type becomes an item.
type msType struct {
	typ   item.Type
	exact bool              // the item type says all the record type says
	std   map[string]string // lower-case field label -> standard field
	urls  []string          // lower-case labels whose values are URLs
}

var (
	msLoginStd = map[string]string{"username": "username", "password": "password", "user name": "username"}
	msLoginURL = []string{"website", "url", "web site"}
)

// msTypes maps lower-case record type names, mSecure 6's and older ones,
// to item types.
var msTypes = map[string]msType{
	"login":          {typ: item.Login, exact: true, std: msLoginStd, urls: msLoginURL},
	"web logins":     {typ: item.Login, exact: true, std: msLoginStd, urls: msLoginURL},
	"email account":  {typ: item.Login, std: msLoginStd, urls: msLoginURL},
	"email accounts": {typ: item.Login, std: msLoginStd, urls: msLoginURL},
	"frequent flyer": {typ: item.Login, std: msLoginStd, urls: msLoginURL},
	"credit card":    {typ: item.Card, exact: true, std: msCardStd},
	"credit cards":   {typ: item.Card, exact: true, std: msCardStd},
	"bank account":   {typ: item.Bank, exact: true, std: msBankStd},
	"bank accounts":  {typ: item.Bank, exact: true, std: msBankStd},
	"identity":       {typ: item.Identity, exact: true, std: msIdentityStd, urls: msLoginURL},
	"passport": {typ: item.Identity, std: map[string]string{"number": "passport", "passport number": "passport",
		"date of birth": "birthdate"}},
	"driver's license": {typ: item.Identity, std: msLicenseStd},
	"drivers license":  {typ: item.Identity, std: msLicenseStd},
	"driver license":   {typ: item.Identity, std: msLicenseStd},
	"social security":  {typ: item.Identity},
	"secure note":      {typ: item.Note, exact: true},
	"note":             {typ: item.Note, exact: true},
	"notes":            {typ: item.Note, exact: true},
}

var (
	msCardStd = map[string]string{"card number": "number", "card no.": "number", "number": "number",
		"expiration date": "expiry", "expiration": "expiry", "expiry": "expiry",
		"security code": "cvv", "cvv": "cvv", "cvc": "cvv",
		"name on card": "cardholder", "name": "cardholder", "cardholder": "cardholder",
		"pin": "pin", "card type": "brand"}
	msBankStd = map[string]string{"bank": "bank_name", "bank name": "bank_name", "account number": "account_number",
		"routing number": "routing_number", "pin": "pin", "iban": "iban", "swift": "swift", "swift code": "swift",
		"name": "account_name", "account name": "account_name"}
	msIdentityStd = map[string]string{"first name": "first_name", "last name": "last_name", "email": "email",
		"phone": "phone", "home phone": "phone", "mobile phone": "phone", "address": "address",
		"company": "company", "birthday": "birthdate", "birthdate": "birthdate", "date of birth": "birthdate"}
	msLicenseStd = map[string]string{"number": "license", "license number": "license", "address": "address",
		"date of birth": "birthdate"}
)

// msV5Fields lists, for mSecure 5 and older, the fields of each built-in
// record type in the order of their columns. A leading '*' marks a
// secret, imported hidden.
var msV5Fields = map[string][]string{
	"login":           {"URL", "Username", "*Password"},
	"web logins":      {"URL", "Username", "*Password"},
	"credit card":     {"*Card No.", "Expiration Date", "*Security Code", "Name", "*PIN", "Bank", "Phone Number", "Billing Address"},
	"credit cards":    {"*Card No.", "Expiration Date", "Name", "*PIN", "Bank", "*Security Code"},
	"bank account":    {"*Account Number", "*PIN", "Name", "Branch", "Routing Number", "Account Type", "Phone No."},
	"bank accounts":   {"*Account Number", "*PIN", "Name", "Branch", "Phone No."},
	"email account":   {"Username", "*Password", "Incoming Mail Server", "Incoming Port", "Outgoing Mail Server", "Outgoing Port", "POP3 Host", "SMTP Host"},
	"email accounts":  {"Username", "*Password", "POP3 Host", "SMTP Host"},
	"frequent flyer":  {"Number", "URL", "Username", "*Password", "Mileage"},
	"insurance info":  {"Policy No.", "Group No.", "Name", "Date", "Phone No."},
	"insurance":       {"Policy No.", "Group No.", "Name", "Date", "Phone No."},
	"membership":      {"Account Number", "Name", "Start Date", "Expiration Date"},
	"memberships":     {"Account Number", "Name", "Date"},
	"calling card":    {"Access No.", "*PIN"},
	"calling cards":   {"Access No.", "*PIN"},
	"combination":     {"*Code"},
	"combinations":    {"*Code"},
	"secure note":     {},
	"note":            {},
	"identity":        {"First Name", "Last Name", "Nick Name", "Company", "Title", "Address", "Address2", "City", "State", "Country", "Zip", "Home Phone", "Office Phone", "Mobile Phone", "Email", "Email2", "Skype", "Website"},
	"passport":        {"Name", "*Number", "Type", "Issuing Country", "Issuing Authority", "Nationality", "Expiration", "Place of Birth"},
	"social security": {"Name", "*Number"},
}

// msField is one field of a record as read from the file.
type msField struct {
	label  string
	kind   int // mSecure 6 kind; -1 when the file gives none
	value  string
	secret bool
}

// Read reads an mSecure CSV export, version 6 or older.
func Read(data []byte, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	return Stream(bytes.NewReader(data), opts)
}

// Stream streams an mSecure export. The separator is picked from
// the first record within the file's first 256 KiB. A file that names its
// version in its first line is mapped row by row; one that does not is
// mSecure 6 if any record looks like one, so its records are held (as
// their cells, which all become fields) until one does or the file ends.
func Stream(r io.Reader, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	in := csvtable.NewInput(r, csvtable.PrefixSize)
	prefix, _ := in.Prefix()
	comma := msComma(prefix)

	now := build.Now(opts)
	s := csvtable.NewSink(opts)
	version := 0 // 6, 5, or 0 while the file has not said
	first := true
	var held []csvtable.Row
	mapRow := func(row csvtable.Row) error {
		if !s.Take(row) {
			return nil
		}
		if len(row.Cells) < 4 {
			return fmt.Errorf("%w: line %d has %d cells; every mSecure record has at least four (title, type, tags or group, notes); is this really an mSecure export?",
				transfer.ErrSourceFormat, row.Line, len(row.Cells))
		}
		var e *build.Entry
		if version == 6 {
			e = msV6Entry(row.Cells, now, &s.U)
		} else {
			e = msV5Entry(row.Cells, now)
		}
		return s.Add(row.Line, e)
	}
	flush := func() error {
		for _, row := range held {
			if err := mapRow(row); err != nil {
				return err
			}
		}
		held = nil
		return nil
	}
	err := csvtable.Stream(in, "mSecure", comma, -1, func(row csvtable.Row) error {
		if first {
			first = false
			if h, v := msHeader(row); h {
				version = v
				return nil
			}
		}
		if version == 0 {
			held = append(held, csvtable.Row{Line: row.Line, Cells: slices.Clone(row.Cells)})
			if len(row.Cells) > 0 && msLooksV6(row.Cells) {
				version = 6
				return flush()
			}
			return nil
		}
		return mapRow(row)
	})
	if err != nil {
		return nil, err
	}
	if version == 0 {
		version = 5
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return s.Result(), nil
}

// msComma picks the separator from the start of the file: ';' when the
// first record after any header has too few cells for a comma file but
// splits into enough at semicolons, ',' otherwise.
func msComma(prefix []byte) rune {
	r := csvtable.Parser(bytes.NewReader(prefix), ',', -1)
	for n := 0; ; n++ {
		rec, err := r.Read()
		if err != nil {
			return ','
		}
		row := csvtable.Row{Cells: rec}
		if n == 0 {
			if h, _ := msHeader(row); h {
				continue
			}
		}
		if row.Blank() {
			continue
		}
		if msSemicolons([]csvtable.Row{row}) {
			return ';'
		}
		return ','
	}
}

// msHeader reports whether a row is the line mSecure writes first
// ("mSecure6 CSV export file"), and the version it names.
func msHeader(r csvtable.Row) (bool, int) {
	var text []string
	for _, c := range r.Cells {
		if strings.TrimSpace(c) != "" {
			text = append(text, c)
		}
	}
	if len(text) != 1 {
		return false, 0
	}
	l := strings.ToLower(strings.TrimSpace(text[0]))
	if !strings.HasPrefix(l, "msecure") || !strings.Contains(l, "csv export") {
		return false, 0
	}
	if strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(l, "msecure")), "6") {
		return true, 6
	}
	return true, 5
}

// msSemicolons reports whether the records are separated by ';' rather
// than ',': the first record with text has too few cells for a comma
// file but splits into enough at semicolons.
func msSemicolons(rows []csvtable.Row) bool {
	for _, r := range rows {
		if r.Blank() {
			continue
		}
		if len(r.Cells) >= 4 {
			return false
		}
		return strings.Count(strings.Join(r.Cells, ","), ";") >= 3
	}
	return false
}

// msLooksV6 reports whether a record has mSecure 6's label|kind|value
// cells or its title|record-ID first cell.
func msLooksV6(cells []string) bool {
	if _, id := msSplitTitle(cells[0]); id != "" {
		return true
	}
	for _, c := range cells[min(4, len(cells)):] {
		if _, ok := msParseField(c); ok {
			return true
		}
	}
	return false
}

// msSplitTitle splits "title|record-ID".
func msSplitTitle(s string) (title, id string) {
	i := strings.LastIndexByte(s, '|')
	if i < 0 || i == len(s)-1 {
		return s, ""
	}
	for _, r := range s[i+1:] {
		if r < '0' || r > '9' {
			return s, ""
		}
	}
	return s[:i], s[i+1:]
}

// msParseField reads a "label|kind|value" cell. The value may itself hold
// '|'.
func msParseField(c string) (msField, bool) {
	parts := strings.SplitN(c, "|", 3)
	if len(parts) != 3 {
		return msField{}, false
	}
	k, err := strconv.Atoi(strings.TrimSpace(parts[1]))
	if err != nil || k < 0 || k > 1000 {
		return msField{}, false
	}
	return msField{label: strings.TrimSpace(parts[0]), kind: k, value: parts[2]}, true
}

// msText undoes mSecure's escapes for line breaks: a vertical tab or, in
// notes, the two characters \n.
func msText(s string, notes bool) string {
	s = strings.ReplaceAll(s, "\v", "\n")
	if notes {
		s = strings.ReplaceAll(s, `\n`, "\n")
	}
	return s
}

// msTag returns the tag for a group or tags cell; mSecure's "Unassigned"
// means none.
func msTag(s string) string {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "unassigned") {
		return ""
	}
	return s
}

// msV6Entry builds an item from an mSecure 6 record.
func msV6Entry(cells []string, now time.Time, u *build.Unmapped) *build.Entry {
	title, id := msSplitTitle(cells[0])
	if id != "" {
		u.Add("mSecure record IDs (the number after '|' in each title) are mSecure's own; not imported")
	}
	var fields []msField
	for i, c := range cells[4:] {
		if strings.TrimSpace(c) == "" {
			continue
		}
		f, ok := msParseField(c)
		if !ok {
			// A cell without a label and kind: a value on its own.
			f = msField{label: fmt.Sprintf("Field %d", i+1), kind: -1, value: c}
		}
		f.value = msText(f.value, false)
		f.secret = f.kind == msKindPassword || f.kind == msKindSecureText || f.kind == msKindCardNumber
		fields = append(fields, f)
	}
	return msBuild(title, cells[1], msTag(cells[2]), msText(cells[3], true), fields, now)
}

// msV5Entry builds an item from an mSecure 5 (or older) record, whose
// fields are known only by their position.
func msV5Entry(cells []string, now time.Time) *build.Entry {
	typ := strings.TrimSpace(cells[1])
	spec := msV5Fields[strings.ToLower(typ)]
	var fields []msField
	for i, c := range cells[4:] {
		if strings.TrimSpace(c) == "" {
			continue
		}
		f := msField{label: fmt.Sprintf("Field %d", i+1), kind: -1, value: msText(c, false)}
		if i < len(spec) {
			f.label = strings.TrimPrefix(spec[i], "*")
			f.secret = strings.HasPrefix(spec[i], "*")
		}
		fields = append(fields, f)
	}
	return msBuild(cells[2], typ, msTag(cells[0]), msText(cells[3], true), fields, now)
}

// msBuild maps a record onto an item. A record type Keyhold has no type
// for becomes a login if it has a username or password (by label or, in
// mSecure 6, by kind), a card if it has a card number, and a note
// otherwise; its mSecure type is kept in a custom field.
func msBuild(title, recType, tag, notes string, fields []msField, now time.Time) *build.Entry {
	recType = strings.TrimSpace(recType)
	mt, known := msTypes[strings.ToLower(recType)]
	if !known {
		mt = msType{typ: item.Note, std: msLoginStd, urls: msLoginURL}
		for _, f := range fields {
			l := strings.ToLower(f.label)
			switch {
			case f.kind == msKindCardNumber:
				mt.typ, mt.std, mt.urls = item.Card, msCardStd, nil
			case mt.typ == item.Note && (f.kind == msKindUsername || f.kind == msKindPassword || msLoginStd[l] != ""):
				mt.typ = item.Login
			}
			if mt.typ == item.Card {
				break
			}
		}
	}
	e := build.NewEntry(mt.typ, now)
	e.It.Title = strings.TrimSpace(title)
	e.It.Notes = notes
	e.AddTag(tag)
	e.Folder = tag
	if !mt.exact && recType != "" {
		e.Set("mSecure type", recType, item.Text)
	}
	for _, f := range fields {
		l := strings.ToLower(f.label)
		std := mt.std[l]
		if std == "" && mt.typ == item.Login {
			switch f.kind {
			case msKindUsername:
				std = "username"
			case msKindPassword:
				std = "password"
			}
		}
		if std == "" && mt.typ == item.Card && f.kind == msKindCardNumber {
			std = "number"
		}
		switch {
		case f.kind == msKindURL || slices.Contains(mt.urls, l):
			e.AddURL(f.value)
		case std != "" && !e.Has(std):
			e.Set(std, f.value, item.Text) // a standard field takes its own kind
		default:
			k := build.Kind(f.label)
			if f.secret {
				k = item.Hidden
			}
			e.Set(f.label, f.value, k)
		}
	}
	return e
}
