package bitwarden

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/build"
	"github.com/keyhold/keyhold/internal/transfer/csvtable"
)

// ReadCSV reads a whole Bitwarden CSV export; see StreamCSV.
func ReadCSV(data []byte, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	return StreamCSV(bytes.NewReader(data), opts)
}

// bwCSVColumns are the columns of Bitwarden's CSV export. An organization
// export has "collections" in place of "folder" and no "favorite".
var bwCSVColumns = []string{"folder", "favorite", "type", "name", "notes", "fields", "reprompt",
	"login_uri", "login_username", "login_password", "login_totp", "collections"}

// StreamCSV reads Bitwarden's .csv export. It holds logins and
// secure notes only: Bitwarden leaves cards and identities out of CSV.
func StreamCSV(r io.Reader, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	var header []string
	col := map[string]int{}
	var extra []int
	onHeader := func(h []string) error {
		header = h
		for i, h := range header {
			col[strings.ToLower(strings.TrimSpace(h))] = i
		}
		_, hasName := col["name"]
		_, hasType := col["type"]
		if !hasName || !hasType {
			return fmt.Errorf("%w: the header lacks the \"name\" and \"type\" columns of a Bitwarden .csv export (expected %s)", transfer.ErrSourceFormat, strings.Join(bwCSVColumns[:11], ","))
		}
		known := map[int]bool{}
		for _, c := range bwCSVColumns {
			if i, ok := col[c]; ok {
				known[i] = true
			}
		}
		for i := range header {
			if !known[i] {
				extra = append(extra, i)
			}
		}
		return nil
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok {
			return rec[i]
		}
		return ""
	}
	onRow := func(row csvtable.Row, unmapped *[]string) *build.Draft {
		line, rec := row.Line, row.Cells
		name := get(rec, "name")
		folder := strings.TrimSpace(get(rec, "folder"))
		source := strings.TrimSpace(name)
		if folder != "" {
			source = folder + "/" + source
		}
		if source == "" {
			source = fmt.Sprintf("line %d", line)
		}
		t := item.Login
		switch typ := strings.ToLower(strings.TrimSpace(get(rec, "type"))); typ {
		case "note":
			t = item.Note
		case "login", "":
		default:
			*unmapped = append(*unmapped, fmt.Sprintf("entry %q: type %q is not one Bitwarden writes to CSV (login, note); imported as a login", source, build.Clip(typ, 32)))
		}
		d := build.NewDraft(t, name, source, opts.Now, opts.Now, opts.Now, unmapped)
		d.AddTag(folder)
		if cols := get(rec, "collections"); cols != "" {
			for _, c := range strings.Split(cols, ",") {
				d.AddTag(c)
			}
		}
		d.It.Favorite = build.Truthy(get(rec, "favorite"))
		if rp := strings.TrimSpace(get(rec, "reprompt")); rp != "" && rp != "0" {
			d.Report("Bitwarden's \"master password re-prompt\" setting has no Keyhold equivalent; not kept")
		}
		if t == item.Login {
			d.SetStandard("username", get(rec, "login_username"))
			d.SetStandard("password", get(rec, "login_password"))
			d.SetTOTP("totp", get(rec, "login_totp"))
			for _, u := range bwURIs(get(rec, "login_uri")) {
				d.AddURL(u)
			}
		} else {
			for _, c := range []string{"login_username", "login_password", "login_totp", "login_uri"} {
				v := get(rec, c)
				if c == "login_password" {
					d.AddField(strings.TrimPrefix(c, "login_"), v, item.Hidden)
				} else {
					d.AddField(strings.TrimPrefix(c, "login_"), v, item.Text)
				}
			}
		}
		for i, fl := range strings.Split(strings.ReplaceAll(get(rec, "fields"), "\r\n", "\n"), "\n") {
			if strings.TrimSpace(fl) == "" {
				continue
			}
			// Bitwarden writes "name: value" and splits at the last ": ".
			k := strings.LastIndex(fl, ": ")
			switch {
			case k >= 0:
				d.AddField(fl[:k], fl[k+2:], item.Text)
			case strings.HasSuffix(strings.TrimSpace(fl), ":"):
				// A field with no value: nothing to keep.
			default:
				d.Report("line %d of the \"fields\" column is not \"name: value\"; not imported", i+1)
			}
		}
		for _, i := range extra {
			d.AddField(strings.TrimSpace(header[i]), rec[i], item.Text)
		}
		d.SetNotes(get(rec, "notes"))
		return d
	}
	in := csvtable.NewInput(r, 64<<10)
	return csvtable.Records(in, in.Br, "Bitwarden .csv export", opts, onHeader, onRow)
}

// bwURIs splits the login_uri cell: Bitwarden writes several URIs as one
// CSV-quoted row ("https://a,https://b").
func bwURIs(cell string) []string {
	if strings.TrimSpace(cell) == "" {
		return nil
	}
	r := csv.NewReader(strings.NewReader(cell))
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	rec, err := r.Read()
	if err != nil {
		return []string{strings.TrimSpace(cell)}
	}
	var out []string
	for _, u := range rec {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}
