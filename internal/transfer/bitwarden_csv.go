package transfer

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/keyhold/keyhold/internal/item"
)

func init() {
	registerSource("bitwarden-csv", bytesSource(readBitwardenCSVStream))
}

// srcMaxCSV bounds a CSV export read by the Bitwarden and 1Password
// readers, like DefaultCSVMaxBytes does for the generic one.
const srcMaxCSV = DefaultCSVMaxBytes

// bwCSVColumns are the columns of Bitwarden's CSV export. An organization
// export has "collections" in place of "folder" and no "favorite".
var bwCSVColumns = []string{"folder", "favorite", "type", "name", "notes", "fields", "reprompt",
	"login_uri", "login_username", "login_password", "login_totp", "collections"}

// readBitwardenCSVStream reads Bitwarden's .csv export. It holds logins and
// secure notes only: Bitwarden leaves cards and identities out of CSV.
func readBitwardenCSVStream(r io.Reader, opts ImportOptions) (*ImportResult, error) {
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
			return fmt.Errorf("%w: the header lacks the \"name\" and \"type\" columns of a Bitwarden .csv export (expected %s)", ErrSourceFormat, strings.Join(bwCSVColumns[:11], ","))
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
	res := &ImportResult{}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok {
			return rec[i]
		}
		return ""
	}
	n := 0
	onRow := func(line int, rec []string) error {
		n++
		csvSourceProgress(opts, n, false)
		if blankRow(rec) {
			res.Skipped++
			return nil
		}
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
			res.Unmapped = append(res.Unmapped, fmt.Sprintf("entry %q: type %q is not one Bitwarden writes to CSV (login, note); imported as a login", source, clip(typ, 32)))
		}
		d := newDraft(t, name, source, opts.Now, opts.Now, opts.Now, &res.Unmapped)
		d.addTag(folder)
		if cols := get(rec, "collections"); cols != "" {
			for _, c := range strings.Split(cols, ",") {
				d.addTag(c)
			}
		}
		d.it.Favorite = truthy(get(rec, "favorite"))
		if rp := strings.TrimSpace(get(rec, "reprompt")); rp != "" && rp != "0" {
			d.report("Bitwarden's \"master password re-prompt\" setting has no Keyhold equivalent; not kept")
		}
		if t == item.Login {
			d.setStandard("username", get(rec, "login_username"))
			d.setStandard("password", get(rec, "login_password"))
			d.setTOTP("totp", get(rec, "login_totp"))
			for _, u := range bwURIs(get(rec, "login_uri")) {
				d.addURL(u)
			}
		} else {
			for _, c := range []string{"login_username", "login_password", "login_totp", "login_uri"} {
				v := get(rec, c)
				if c == "login_password" {
					d.addField(strings.TrimPrefix(c, "login_"), v, item.Hidden)
				} else {
					d.addField(strings.TrimPrefix(c, "login_"), v, item.Text)
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
				d.addField(fl[:k], fl[k+2:], item.Text)
			case strings.HasSuffix(strings.TrimSpace(fl), ":"):
				// A field with no value: nothing to keep.
			default:
				d.report("line %d of the \"fields\" column is not \"name: value\"; not imported", i+1)
			}
		}
		for _, i := range extra {
			d.addField(strings.TrimSpace(header[i]), rec[i], item.Text)
		}
		d.setNotes(get(rec, "notes"))
		it, err := d.finish()
		if err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrSourceFormat, line, err)
		}
		res.Items = append(res.Items, detach(Imported{Item: it, Source: source}))
		return nil
	}
	in := newCSVInput(r, 64<<10)
	if err := srcStreamCSV(in, in.br, "Bitwarden .csv export", onHeader, onRow); err != nil {
		return nil, err
	}
	csvSourceProgress(opts, n, true)
	return res, nil
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

// srcStreamCSV reads a CSV export with a header row from src (in's
// buffered input, or a transform of it): UTF-8 (a BOM is fine), every row
// as wide as the header. It calls header once with a copy of the header,
// then row with each data row as it is read (row must copy a cell it
// keeps: the record is reused). Errors name the line and never quote a
// cell.
func srcStreamCSV(in *csvInput, src io.Reader, what string, header func([]string) error, row func(line int, rec []string) error) error {
	r := csvParser(src, ',', 0)
	fail := func(err error) error {
		if big, text := csvStreamError(in, err); big {
			return fmt.Errorf("%w: the file is larger than %s; split it into smaller files", ErrSourceFormat, sizeText(srcMaxCSV))
		} else if text != nil {
			if text.nul {
				return fmt.Errorf("%w: the file contains a NUL byte; this does not look like a text export", ErrSourceFormat)
			}
			return fmt.Errorf("%w: the file is not valid UTF-8 text; export it again, or save it as UTF-8", ErrSourceFormat)
		}
		return srcCSVError(err)
	}
	h, err := r.Read()
	if err == io.EOF {
		return fmt.Errorf("%w: the file is empty; expected a %s with a header row", ErrSourceFormat, what)
	}
	if err != nil {
		return fail(err)
	}
	if len(h) > 4*item.MaxFields {
		return fmt.Errorf("%w: the header has %d columns; this is not a %s", ErrSourceFormat, len(h), what)
	}
	width := len(h)
	if err := header(slices.Clone(h)); err != nil {
		return err
	}
	rows := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if errors.Is(err, csv.ErrFieldCount) {
				line, _ := r.FieldPos(0)
				return fmt.Errorf("%w: line %d has %d cells but the header has %d; the file is damaged or truncated", ErrSourceFormat, line, len(rec), width)
			}
			return fail(err)
		}
		rows++
		if rows > DefaultCSVMaxRows {
			return fmt.Errorf("%w: the file has more than %d rows; split it into smaller files", ErrSourceFormat, DefaultCSVMaxRows)
		}
		line, _ := r.FieldPos(0)
		if err := row(line, rec); err != nil {
			return err
		}
	}
}

// srcCSVError turns an encoding/csv error into one that names the line.
func srcCSVError(err error) error {
	if errors.Is(err, errCSVColumns) {
		return fmt.Errorf("%w: a line has more than %d cells; this is not an export Keyhold reads", ErrSourceFormat, MaxCSVColumns)
	}
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%w: %v", ErrSourceFormat, err)
	}
	switch {
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Errorf("%w: line %d: a quoted value is not closed (the value starts on line %d); the file is damaged or truncated", ErrSourceFormat, pe.Line, pe.StartLine)
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Errorf("%w: line %d, column %d: a \" appears inside an unquoted value; the file is damaged", ErrSourceFormat, pe.Line, pe.Column)
	}
	return fmt.Errorf("%w: line %d: %v", ErrSourceFormat, pe.Line, pe.Err)
}

// blankRow reports whether every cell is blank.
func blankRow(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}
