package transfer

import (
	"fmt"
	"strings"

	"github.com/keyhold/keyhold/internal/item"
)

func init() {
	registerSource("1password-csv", read1PasswordCSV)
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

// read1PasswordCSV reads 1Password's CSV export (1Password 8, and the
// column variants of 1Password 7). Columns it does not know become custom
// fields; ones whose name says they hold a secret are hidden.
func read1PasswordCSV(data []byte, opts ImportOptions) (*ImportResult, error) {
	rows, header, err := srcReadCSV(data, "1Password CSV export")
	if err != nil {
		return nil, err
	}
	cols := make([]op1CSV, len(header))
	seen := map[op1CSV]string{}
	known := false
	for i, h := range header {
		c := opCSVHeaders[strings.ToLower(strings.TrimSpace(h))]
		if c != opColCustom {
			if _, dup := seen[c]; dup {
				// A second column for the same place keeps its values
				// as a custom field.
				c = opColCustom
			} else {
				seen[c] = h
				known = true
			}
		}
		cols[i] = c
	}
	if !known || (seen[opColTitle] == "" && seen[opColURL] == "" && seen[opColUsername] == "" && seen[opColPassword] == "") {
		return nil, fmt.Errorf("%w: the header has none of the columns of a 1Password CSV export (Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,Notes)", ErrSourceFormat)
	}
	res := &ImportResult{}
	for n, r := range rows {
		rec := r.cells
		if blankRow(rec) {
			res.Skipped++
			reportProgress(opts.Progress, n+1, len(rows))
			continue
		}
		var title, typ string
		for i, c := range cols {
			switch c {
			case opColTitle:
				title = rec[i]
			case opColType:
				typ = strings.TrimSpace(rec[i])
			}
		}
		source := strings.TrimSpace(title)
		if source == "" {
			source = fmt.Sprintf("line %d", r.line)
		}
		t := item.Login
		if typ != "" {
			if tt, ok := opCSVTypes[strings.ToLower(typ)]; ok {
				t = tt
			}
		}
		d := newDraft(t, title, source, opts.Now, opts.Now, opts.Now, &res.Unmapped)
		if typ != "" {
			if _, ok := opCSVTypes[strings.ToLower(typ)]; !ok {
				d.addField("type", typ, item.Text)
			}
		}
		for i, c := range cols {
			v := rec[i]
			switch c {
			case opColURL:
				for _, u := range strings.Fields(v) {
					d.addURL(strings.TrimSuffix(u, ","))
				}
			case opColUsername:
				if t == item.Login {
					d.setStandard("username", v)
				} else {
					d.addField("username", v, item.Text)
				}
			case opColPassword:
				if t == item.Login {
					d.setStandard("password", v)
				} else {
					d.addField("password", v, item.Hidden)
				}
			case opColOTP:
				d.setTOTP("one-time password", v)
			case opColFavorite:
				d.it.Favorite = truthy(v)
			case opColArchived:
				if truthy(v) {
					at := d.it.Modified
					d.it.Trashed = &at
				}
			case opColTags:
				for _, tag := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
					d.addTag(tag)
				}
			case opColNotes:
				d.setNotes(v)
			case opColCustom:
				d.addField(strings.TrimSpace(header[i]), v, secretColumn(header[i]))
			}
		}
		if t == item.Login && !d.has("username") && !d.has("password") && !d.has("totp") && len(d.it.URLs) == 0 && d.it.Notes != "" && typ == "" {
			d.it.Type = item.Note
		}
		it, err := d.finish()
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrSourceFormat, r.line, err)
		}
		res.Items = append(res.Items, Imported{Item: it, Source: source})
		reportProgress(opts.Progress, n+1, len(rows))
	}
	return res, nil
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
