package onepassword

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/build"
	"github.com/keyhold/keyhold/internal/transfer/csvtable"
)

// ReadCSV reads a whole 1Password CSV export; see StreamCSV.
func ReadCSV(data []byte, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	return StreamCSV(bytes.NewReader(data), opts)
}

// op1CSV names what a 1Password CSV column holds.
type op1CSV int

const (
	opColCustom op1CSV = iota
	opColTitle
	opColURL
	opColUsername
	opColPassword
	opColOTP
	opColFavorite
	opColArchived
	opColTags
	opColNotes
	opColType
)

// opCSVHeaders maps header names, lower-cased, to columns. 1Password 8
// writes Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,Notes;
// 1Password 7 lets the user pick columns and names them in words
// ("Login URL", "Website", "One-time password", "notesPlain", "Type").
var opCSVHeaders = map[string]op1CSV{
	"title": opColTitle, "name": opColTitle,
	"url": opColURL, "urls": opColURL, "website": opColURL, "login url": opColURL, "location": opColURL,
	"username": opColUsername, "user name": opColUsername, "login username": opColUsername,
	"password": opColPassword, "login password": opColPassword,
	"otpauth": opColOTP, "otp": opColOTP, "totp": opColOTP, "one-time password": opColOTP, "one time password": opColOTP,
	"favorite": opColFavorite, "favourite": opColFavorite,
	"archived": opColArchived,
	"tags":     opColTags, "tag": opColTags,
	"notes": opColNotes, "notesplain": opColNotes, "notes plain": opColNotes, "note": opColNotes,
	"type": opColType, "category": opColType,
}

// opCSVTypes maps 1Password 7's Type column onto item types.
var opCSVTypes = map[string]item.Type{
	"login": item.Login, "password": item.Login, "credit card": item.Card, "secure note": item.Note,
	"identity": item.Identity, "bank account": item.Bank, "passport": item.Identity,
	"driver license": item.Identity, "social security number": item.Identity, "database": item.Login,
	"server": item.Login, "email account": item.Login, "wireless router": item.Login,
	"software license": item.Note, "membership": item.Identity, "reward program": item.Identity,
}

// op7Typed maps the field columns 1Password 7 writes for cards,
// identities and bank accounts onto Keyhold's standard fields. The Mac app
// names a column "label(key)" ("number(ccnum)", "verification
// number(cvv)"), the Windows app "N: LABEL" ("2: NUMBER"); both the key
// and the label, lower-cased, are looked up here.
var op7Typed = map[string]map[item.Type]string{
	"ccnum": {item.Card: "number"}, "number": {item.Card: "number"}, "card number": {item.Card: "number"},
	"cvv": {item.Card: "cvv"}, "verification number": {item.Card: "cvv"},
	"cardholder": {item.Card: "cardholder"}, "cardholder name": {item.Card: "cardholder"},
	"expiry": {item.Card: "expiry"}, "expiry date": {item.Card: "expiry"}, "expiration date": {item.Card: "expiry"},
	"cardtype": {item.Card: "brand"}, "card type": {item.Card: "brand"},
	"pin": {item.Card: "pin", item.Bank: "pin"}, "telephonepin": {item.Bank: "pin"}, "telephone pin": {item.Bank: "pin"},
	"firstname": {item.Identity: "first_name"}, "first name": {item.Identity: "first_name"},
	"lastname": {item.Identity: "last_name"}, "last name": {item.Identity: "last_name"},
	"email":    {item.Identity: "email"},
	"defphone": {item.Identity: "phone"}, "default phone": {item.Identity: "phone"}, "phone": {item.Identity: "phone"},
	"cellphone": {item.Identity: "phone"}, "cell": {item.Identity: "phone"}, "homephone": {item.Identity: "phone"},
	"address":   {item.Identity: "address"},
	"birthdate": {item.Identity: "birthdate"}, "birth date": {item.Identity: "birthdate"},
	"company":  {item.Identity: "company"},
	"bankname": {item.Bank: "bank_name"}, "bank name": {item.Bank: "bank_name"},
	"owner": {item.Bank: "account_name"}, "name on account": {item.Bank: "account_name"},
	"accountno": {item.Bank: "account_number"}, "account number": {item.Bank: "account_number"},
	"routingno": {item.Bank: "routing_number"}, "routing number": {item.Bank: "routing_number"},
	"swift": {item.Bank: "swift"}, "iban": {item.Bank: "iban"},
}

// opColumn is one header cell of a 1Password CSV.
type opColumn struct {
	col op1CSV
	// name is the column's name as a custom field: the label, without
	// the Windows app's number or the Mac app's key.
	name string
	// typed maps item types to the standard field the column fills.
	typed map[item.Type]string
	// kind is the column's kind as a custom field: hidden when its name
	// or any standard field it fills is secret.
	kind item.Kind
}

// opSplitHeader takes a 1Password 7 header cell apart: "label(key)" (Mac)
// or "N: LABEL" (Windows). It returns the label as written and the
// lower-cased label and key (key is "" when there is none).
func opSplitHeader(h string) (label, lower, key string) {
	h = strings.TrimSpace(h)
	if i := strings.Index(h, ":"); i > 0 && strings.Trim(h[:i], "0123456789") == "" {
		h = strings.TrimSpace(h[i+1:])
	}
	label = h
	// The Mac app's key follows the label with no space and is one word:
	// "verification number(cvv)", "phone (local)(phoneLocal)". A column
	// named "Notes (private)" is not of that form.
	if strings.HasSuffix(h, ")") {
		if i := strings.LastIndex(h, "("); i > 0 && h[i-1] != ' ' {
			if k := h[i+1 : len(h)-1]; k != "" && !strings.ContainsAny(k, " \t()") {
				key = strings.ToLower(k)
				label = strings.TrimSpace(h[:i])
			}
		}
	}
	return label, strings.ToLower(label), key
}

// opClassify names what each column holds.
func opClassify(header []string) ([]opColumn, map[op1CSV]string) {
	cols := make([]opColumn, len(header))
	seen := map[op1CSV]string{}
	for i, h := range header {
		label, lower, key := opSplitHeader(h)
		numbered := strings.TrimSpace(h) != label && key == ""
		c := opColumn{name: label}
		// The Mac app's "type(type)" and a numbered "N: TYPE" are a card's
		// type (Visa…); a bare "Type" column is the item's category.
		if (key == "type" || numbered) && lower == "type" {
			c.typed = op7Typed["cardtype"]
		} else if t, ok := op7Typed[key]; ok {
			c.typed = t
		} else if t, ok := op7Typed[lower]; ok && (key != "" || numbered) {
			c.typed = t
		} else if k, ok := opCSVHeaders[key]; ok && key != "" {
			c.col = k
		} else {
			c.col = opCSVHeaders[lower]
		}
		if c.col != opColCustom {
			if _, dup := seen[c.col]; dup {
				// A second column for the same place keeps its values
				// as a custom field.
				c.col = opColCustom
			} else {
				seen[c.col] = h
			}
		}
		c.kind = secretColumn(label)
		for t, std := range c.typed {
			for _, sf := range item.StandardFields[t] {
				if sf.Name == std && sf.Kind == item.Hidden {
					c.kind = item.Hidden
				}
			}
		}
		cols[i] = c
	}
	return cols, seen
}

// opTags reads a tags cell: comma- or semicolon-separated, or the Mac
// app's printed set, "{(\n    tag one,\n    \"tag two\"\n)}".
func opTags(v string) []string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "{(") && strings.HasSuffix(v, ")}") {
		v = v[2 : len(v)-2]
	}
	var tags []string
	for _, t := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
		t = strings.TrimSpace(t)
		if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
			t = strings.TrimSpace(t[1 : len(t)-1])
		}
		if t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

// opUnescape rewrites the Mac app's \" inside quoted cells as the "" of
// CSV. It is tried only on a file that does not read as plain CSV.
func opUnescape(data []byte) []byte {
	out := make([]byte, 0, len(data))
	quoted := false
	for i := 0; i < len(data); i++ {
		b := data[i]
		switch {
		case quoted && b == '\\' && i+1 < len(data) && data[i+1] == '"':
			out = append(out, '"', '"')
			i++
		case quoted && b == '"' && i+1 < len(data) && data[i+1] == '"':
			out = append(out, '"', '"')
			i++
		case b == '"':
			quoted = !quoted
			out = append(out, b)
		default:
			out = append(out, b)
		}
	}
	return out
}

// opUnescapeReader is opUnescape over a stream.
type opUnescapeReader struct {
	r      *bufio.Reader
	quoted bool
}

func (u *opUnescapeReader) Read(p []byte) (int, error) {
	if len(p) < 2 {
		return 0, io.ErrShortBuffer
	}
	n := 0
	for n+1 < len(p) {
		if n > 0 && u.r.Buffered() == 0 {
			return n, nil // do not wait for more input with bytes in hand
		}
		b, err := u.r.ReadByte()
		if err != nil {
			return n, err
		}
		if u.quoted && (b == '\\' || b == '"') {
			if next, err := u.r.Peek(1); err == nil && next[0] == '"' {
				u.r.ReadByte()
				p[n], p[n+1] = '"', '"'
				n += 2
				continue
			}
		}
		if b == '"' {
			u.quoted = !u.quoted
		}
		p[n] = b
		n++
	}
	return n, nil
}

// opMacDialect reports whether the start of a file shows 1Password 7 for
// Mac's \" inside a quoted value: a quote that plain CSV would read as
// closing the value, right after a backslash, followed by more of the
// value. Plain CSV cannot parse such a file, so reading it as plain would
// fail there anyway.
func opMacDialect(prefix []byte) bool {
	quoted, fieldStart := false, true
	for i := 0; i < len(prefix); i++ {
		b := prefix[i]
		switch {
		case !quoted && b == '"' && fieldStart:
			quoted, fieldStart = true, false
		case !quoted && b == '"':
			return false // a bare quote: plain CSV fails, and \" does not explain it
		case !quoted:
			fieldStart = b == ',' || b == '\n' || b == '\r'
		case b == '"' && i+1 < len(prefix) && prefix[i+1] == '"':
			i++
		case b == '"':
			if i+1 == len(prefix) {
				return false
			}
			switch prefix[i+1] {
			case ',', '\n', '\r':
				quoted = false
			default:
				return i > 0 && prefix[i-1] == '\\'
			}
		}
	}
	return false
}

// StreamCSV reads 1Password's CSV export (1Password 8, and 1Password
// 7's from the Mac and the Windows app). Columns it does not know become
// custom fields; ones whose name says they hold a secret are hidden.
//
// 1Password 7 for Mac writes a quote inside a value as \", which plain
// CSV cannot read. A file of at most 256 KiB is read as plain CSV first
// and, if that fails and it holds \", again with \" read as a quote. A
// larger file is streamed, so the dialect is picked before it is read,
// from its first 256 KiB (opMacDialect); it is never copied to disk.
func StreamCSV(r io.Reader, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	in := csvtable.NewInput(r, csvtable.PrefixSize)
	prefix, whole := in.Prefix()
	if !whole {
		var src io.Reader = in.Br
		if opMacDialect(prefix) {
			src = &opUnescapeReader{r: in.Br}
		}
		return op1CSVParse(in, src, opts)
	}
	data := bytes.Clone(prefix)
	small := csvtable.NewInput(bytes.NewReader(data), 64<<10)
	res, err := op1CSVParse(small, small.Br, opts)
	if err != nil && bytes.Contains(data, []byte(`\"`)) {
		retry := csvtable.NewInput(bytes.NewReader(opUnescape(data)), 64<<10)
		if res2, err2 := op1CSVParse(retry, retry.Br, opts); err2 == nil {
			return res2, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// op1CSVParse reads a 1Password CSV export from src, mapping each row as
// it is read.
func op1CSVParse(in *csvtable.Input, src io.Reader, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	var cols []opColumn
	onHeader := func(header []string) error {
		var seen map[op1CSV]string
		cols, seen = opClassify(header)
		typed := slices.ContainsFunc(cols, func(c opColumn) bool { return c.typed != nil })
		if (len(seen) == 0 || (seen[opColTitle] == "" && seen[opColURL] == "" && seen[opColUsername] == "" && seen[opColPassword] == "")) && !(typed && seen[opColTitle] != "") {
			return fmt.Errorf("%w: the header has none of the columns of a 1Password CSV export (Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,Notes)", transfer.ErrSourceFormat)
		}
		return nil
	}
	onRow := func(row csvtable.Row, unmapped *[]string) *build.Draft {
		line, rec := row.Line, row.Cells
		var title, typ string
		votes := map[item.Type]int{}
		for i, c := range cols {
			switch c.col {
			case opColTitle:
				title = rec[i]
			case opColType:
				if c.typed == nil {
					typ = strings.TrimSpace(rec[i])
				}
			}
			if strings.TrimSpace(rec[i]) != "" {
				for t := range c.typed {
					votes[t]++
				}
			}
		}
		source := strings.TrimSpace(title)
		if source == "" {
			source = fmt.Sprintf("line %d", line)
		}
		t := item.Login
		if tt, ok := opCSVTypes[strings.ToLower(typ)]; ok && typ != "" {
			t = tt
		} else {
			// No category: the type whose fields the row fills most.
			best := 0
			for _, c := range []item.Type{item.Card, item.Identity, item.Bank} {
				if votes[c] > best {
					t, best = c, votes[c]
				}
			}
		}
		d := build.NewDraft(t, title, source, opts.Now, opts.Now, opts.Now, unmapped)
		if typ != "" {
			if _, ok := opCSVTypes[strings.ToLower(typ)]; !ok {
				d.AddField("type", typ, item.Text)
			}
		}
		for i, c := range cols {
			v := rec[i]
			if c.typed != nil {
				if std, ok := c.typed[t]; ok {
					d.SetStandard(std, v)
				} else {
					d.AddField(c.name, v, c.kind)
				}
				continue
			}
			switch c.col {
			case opColURL:
				for _, u := range strings.Fields(v) {
					d.AddURL(strings.TrimSuffix(u, ","))
				}
			case opColUsername:
				if t == item.Login {
					d.SetStandard("username", v)
				} else {
					d.AddField("username", v, item.Text)
				}
			case opColPassword:
				if t == item.Login {
					d.SetStandard("password", v)
				} else {
					d.AddField("password", v, item.Hidden)
				}
			case opColOTP:
				d.SetTOTP("one-time password", v)
			case opColFavorite:
				d.It.Favorite = build.Truthy(v)
			case opColArchived:
				if build.Truthy(v) {
					at := d.It.Modified
					d.It.Trashed = &at
				}
			case opColTags:
				for _, tag := range opTags(v) {
					d.AddTag(tag)
				}
			case opColNotes:
				d.SetNotes(v)
			case opColCustom:
				d.AddField(c.name, v, c.kind)
			}
		}
		if t == item.Login && !d.Has("username") && !d.Has("password") && !d.Has("totp") && len(d.It.URLs) == 0 && d.It.Notes != "" && typ == "" {
			d.It.Type = item.Note
		}
		return d
	}
	return csvtable.Records(in, src, "1Password CSV export", opts, onHeader, onRow)
}

// secretColumn picks the kind of a custom column: hidden when its name
// says it holds a secret.
func secretColumn(name string) item.Kind {
	words := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	for _, w := range words {
		switch w {
		case "password", "passcode", "passphrase", "pin", "cvv", "cvc", "secret", "concealed", "key", "token":
			return item.Hidden
		}
	}
	return item.Text
}
