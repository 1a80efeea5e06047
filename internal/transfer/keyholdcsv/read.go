// Package keyholdcsv reads and writes Keyhold's own CSV form (`keyhold
// import --format csv`, `keyhold export --format csv`): a header of
// Keyhold's column names, or the generic names other password managers
// write, and one item a row. Write's files read back with Read.
package keyholdcsv

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer/build"
	"github.com/keyhold/keyhold/internal/transfer/csvtable"
)

// ErrInvalid reports a CSV file that cannot be imported. Its message
// names the line at fault. Nothing is imported when it is returned.
var ErrInvalid = errors.New("cannot import the CSV file")

// Options tunes Read.
type Options struct {
	// Now is the creation and modification time of every imported item;
	// zero means time.Now().
	Now time.Time
	// Progress, if set, is called with the number of rows read so far
	// every 1000 rows and once at the end, for a progress bar.
	Progress func(rowsDone int)
	// MaxBytes caps the input size; zero means csvtable.MaxBytes.
	MaxBytes int64
	// MaxRows caps the number of data rows; zero means csvtable.MaxRows.
	MaxRows int
}

// Result is what Read imported.
type Result struct {
	// Items holds one item per non-empty row, in file order.
	Items []*item.Item
	// Skipped counts rows whose every cell was empty or blank.
	Skipped int
	// Warnings lists what the user should check, one line each, naming
	// the CSV line (titles made up for rows without one, values that were
	// not understood). They never quote a cell's value.
	Warnings []string
	// Columns maps every header cell (as written, trimmed; an unnamed one
	// as "column N") to a description of where its values went; "" means
	// nowhere, which only unnamed columns that are empty in every row get.
	Columns map[string]string
}

// csvColumn is one parsed header cell.
type csvColumn struct {
	header string
	col    column
	field  string    // colCustom: field name
	kind   item.Kind // colCustom: field kind
}

// Read imports a CSV file with a header row. Keyhold's own header is
// title,username,password,url,notes (plus the columns Write adds), in
// any order and any case; the names other password managers use are
// accepted too (name, login_username, login_password, uri, login_uri, note,
// extra, otp, login_totp, folder, grouping, fav). Every other column
// becomes a custom field of each item; see parseHeader for how its kind is
// chosen.
//
// Each row becomes a login, or a secure note if it has notes but no
// username, password, URL or TOTP, unless a type column says otherwise.
//
// Import is all-or-nothing: on any error, the result is nil and the error,
// which wraps ErrInvalid, names the line to fix. The file must be UTF-8
// (a leading byte-order mark is fine) with comma separators and CRLF or LF
// line ends; quotes must be balanced, and every row must have as many
// cells as the header.
func Read(r io.Reader, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	cr := csvtable.NewCapReader(r, opts.MaxBytes)
	br := bufio.NewReaderSize(csvtable.NewCellLimiter(cr), 64<<10)
	// A byte-order mark ahead of a quoted first cell would otherwise be a
	// bare quote error, so drop it before the CSV parser sees it.
	if bom, err := br.Peek(3); err == nil && string(bom) == "\uFEFF" {
		br.Discard(3)
	}
	cw := csv.NewReader(br)
	cw.ReuseRecord = true
	cw.FieldsPerRecord = 0 // set by the header, then enforced

	var (
		cols   []csvColumn
		res    *Result
		header = true
		rows   = 0
	)
	n, err := csvtable.Rows(cw, opts.MaxRows, func(row csvtable.Row) error {
		if header {
			var err error
			header = false
			cols, res, err = parseHeaderRow(row.Cells)
			return err
		}
		rows++
		if err := res.add(cols, row, opts.Now); err != nil {
			return err
		}
		if opts.Progress != nil && rows%csvtable.ProgressEvery == 0 {
			opts.Progress(rows)
		}
		return nil
	})
	var re *csvtable.ReadError
	switch {
	case errors.As(err, &re):
		return nil, readError(re, cw, cr, opts, len(cols))
	case err != nil:
		return nil, err
	case n == 0:
		return nil, fmt.Errorf("%w: the file is empty; expected a header row such as %s", ErrInvalid, keyholdHeader)
	}
	if opts.Progress != nil {
		opts.Progress(rows)
	}
	return res, nil
}

// withDefaults fills in the options left zero.
func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = csvtable.MaxBytes
	}
	if o.MaxRows <= 0 {
		o.MaxRows = csvtable.MaxRows
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	return o
}

// add makes the item of one data row, or counts the row as skipped when
// it is empty.
func (res *Result) add(cols []csvColumn, row csvtable.Row, now time.Time) error {
	it, warns, err := rowItem(cols, row.Cells, row.Line, now)
	if err != nil {
		return fmt.Errorf("%w: line %d: %w", ErrInvalid, row.Line, err)
	}
	res.Warnings = append(res.Warnings, warns...)
	if it == nil {
		res.Skipped++
	} else {
		res.Items = append(res.Items, it)
	}
	return nil
}

// readError words what the row loop found wrong with the file.
func readError(re *csvtable.ReadError, cw *csv.Reader, cr *csvtable.CapReader, opts Options, width int) error {
	switch {
	case errors.Is(re, csvtable.ErrTooManyRows):
		return fmt.Errorf("%w: the file has more than %d rows; split it into smaller files", ErrInvalid, opts.MaxRows)
	case errors.Is(re, csv.ErrFieldCount):
		return fmt.Errorf("%w: line %d has %d cells but the header has %d; check for a missing or extra comma, or an unquoted comma in a value",
			ErrInvalid, re.Line, re.Cells, width)
	case cr.Over():
		return fmt.Errorf("%w: the file is larger than %d bytes; split it into smaller files", ErrInvalid, opts.MaxBytes)
	case errors.Is(re, csvtable.ErrTooManyCells):
		line, _ := cw.FieldPos(0)
		return fmt.Errorf("%w: a line from line %d on has more than %d cells; an item holds at most %d fields", ErrInvalid, line, csvtable.MaxColumns, item.MaxFields)
	}
	return csvError(re.Err)
}

// keyholdHeader is the header the error messages suggest.
const keyholdHeader = "title,username,password,url,notes"

// csvError turns an encoding/csv error into one that names the line and
// says what to fix.
func csvError(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	switch {
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Errorf("%w: line %d: a quoted value is not closed, or has a lone \" inside (write \"\" for a quote inside quotes); the value starts on line %d",
			ErrInvalid, pe.Line, pe.StartLine)
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Errorf("%w: line %d, column %d: a \" appears inside an unquoted value; quote the whole value and double the \"",
			ErrInvalid, pe.Line, pe.Column)
	}
	return fmt.Errorf("%w: line %d: %v", ErrInvalid, pe.Line, pe.Err)
}

// parseHeaderRow maps the header to columns and starts the result.
func parseHeaderRow(header []string) ([]csvColumn, *Result, error) {
	if len(header) > 4*item.MaxFields {
		return nil, nil, fmt.Errorf("%w: the header has %d columns; an item holds at most %d fields", ErrInvalid, len(header), item.MaxFields)
	}
	res := &Result{Columns: make(map[string]string, len(header))}
	cols := make([]csvColumn, len(header))
	seenName := map[string]bool{}
	seenCol := map[column]string{}
	known := false
	for i, raw := range header {
		if err := checkText(raw); err != nil {
			return nil, nil, fmt.Errorf("%w: line 1 (the header), column %d: %w", ErrInvalid, i+1, err)
		}
		c, field, k := parseHeader(raw)
		h := strings.TrimSpace(raw)
		if c == colUnnamed {
			h = fmt.Sprintf("column %d", i+1)
		}
		if seenName[strings.ToLower(h)] {
			return nil, nil, fmt.Errorf("%w: the header has two columns named %q; rename one", ErrInvalid, h)
		}
		seenName[strings.ToLower(h)] = true
		if c != colCustom && c != colUnnamed {
			known = true
			if prev, dup := seenCol[c]; dup {
				return nil, nil, fmt.Errorf("%w: the columns %q and %q both hold the %s; rename or delete one", ErrInvalid, prev, h, c.destination("", ""))
			}
			seenCol[c] = h
		}
		cols[i] = csvColumn{header: h, col: c, field: field, kind: k}
		res.Columns[h] = c.destination(field, k)
	}
	if !known {
		return nil, nil, fmt.Errorf("%w: the first line is not a header Keyhold knows: no column is named title, username, password, url or notes (expected a header such as %s)",
			ErrInvalid, keyholdHeader)
	}
	return cols, res, nil
}

// checkText rejects what cannot be in a text CSV file. A NUL byte or
// invalid UTF-8 almost always means a binary file or a legacy encoding,
// which would otherwise import as garbage.
func checkText(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return errors.New("contains a NUL byte; this does not look like a CSV text file")
	}
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8; save the file as UTF-8 and try again")
	}
	return nil
}

// rowItem builds one row's item. It returns a nil item for an empty row.
// Errors and warnings never quote a value: a misaligned file could put a
// password in any column.
func rowItem(cols []csvColumn, rec []string, line int, now time.Time) (*item.Item, []string, error) {
	empty := true
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			empty = false
			break
		}
	}
	if empty {
		return nil, nil, nil
	}

	var (
		title, notes, typ, fav string
		urls, tags             []string
		fields                 []csvColumn // standard and custom fields, in order
		values                 []string
		warns                  []string
	)
	for i, c := range cols {
		v := rec[i]
		if err := checkText(v); err != nil {
			return nil, nil, fmt.Errorf("column %q %w", c.header, err)
		}
		if v == "" {
			continue
		}
		limit := item.MaxFieldValue
		switch c.col {
		case colTitle:
			limit = item.MaxTitle
		case colNotes:
			limit = item.MaxNotes
		}
		if len(v) > limit {
			return nil, nil, fmt.Errorf("the value in column %q is longer than %d bytes, the most an item holds", c.header, limit)
		}
		switch c.col {
		case colUnnamed:
			if strings.TrimSpace(v) != "" {
				return nil, nil, fmt.Errorf("%s has no name in the header but holds a value; name the column", c.header)
			}
		case colTitle:
			title = v
		case colNotes:
			notes = v
		case colURL:
			if u := strings.TrimSpace(v); u != "" {
				urls = append([]string{u}, urls...)
			}
		case colURLs:
			urls = append(urls, strings.Fields(v)...)
		case colTags:
			for t := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ',' || r == ';' }) {
				if t = strings.TrimSpace(t); t != "" {
					tags = append(tags, t)
				}
			}
		case colFolder:
			if t := strings.TrimSpace(v); t != "" {
				tags = append(tags, t)
			}
		case colFavorite:
			fav = v
		case colType:
			typ = v
		case colUsername:
			fields, values = append(fields, csvColumn{header: c.header, field: "username", kind: item.Text}), append(values, v)
		case colPassword:
			fields, values = append(fields, csvColumn{header: c.header, field: "password", kind: item.Hidden}), append(values, v)
		case colTOTP:
			fields, values = append(fields, csvColumn{header: c.header, field: "totp", kind: item.TOTP}), append(values, v)
		case colCustom:
			fields, values = append(fields, c), append(values, v)
		}
	}
	// The URL column may come after "urls"; it was put first above.
	if len(urls) > item.MaxURLs {
		return nil, nil, fmt.Errorf("the row has %d URLs; an item holds at most %d", len(urls), item.MaxURLs)
	}
	tags = build.Dedupe(tags)
	if len(tags) > item.MaxTags {
		return nil, nil, fmt.Errorf("the row has %d tags; an item holds at most %d", len(tags), item.MaxTags)
	}

	if len(fields) > item.MaxFields {
		return nil, nil, fmt.Errorf("the row has %d fields; an item holds at most %d", len(fields), item.MaxFields)
	}

	t, warn := rowType(typ, fields, urls, notes)
	if warn != "" {
		warns = append(warns, fmt.Sprintf("line %d: %s", line, warn))
	}
	if strings.TrimSpace(title) == "" {
		var how string
		title, how = makeTitle(urls, fields, values, notes)
		warns = append(warns, fmt.Sprintf("line %d: the title is empty; named the item after its %s", line, how))
	}

	it := item.New(t, title, now)
	it.URLs = urls
	it.Notes = notes
	it.Tags = tags
	switch strings.ToLower(strings.TrimSpace(fav)) {
	case "1", "true", "yes", "y":
		it.Favorite = true
	case "", "0", "false", "no", "n":
	default:
		warns = append(warns, fmt.Sprintf("line %d: the favorite column holds a value other than 1/true/yes or 0/false/no; the item is not marked as a favorite", line))
	}
	setBy := map[string]string{}
	for i, f := range fields {
		key := strings.ToLower(f.field)
		if prev, dup := setBy[key]; dup {
			return nil, nil, fmt.Errorf("the columns %q and %q both set the field %q; keep one", prev, f.header, f.field)
		}
		setBy[key] = f.header
		it.Set(f.field, values[i], f.kind)
	}
	build.TrimIdentity(it)
	if err := it.Validate(); err != nil {
		return nil, nil, err
	}
	return it, warns, nil
}

// rowType picks the item type: the type column if it names one, else a
// login unless the row is only notes.
func rowType(typ string, fields []csvColumn, urls []string, notes string) (item.Type, string) {
	if strings.TrimSpace(typ) != "" {
		t, err := item.ParseType(strings.TrimSpace(typ))
		if err == nil {
			return t, ""
		}
	}
	warn := ""
	if strings.TrimSpace(typ) != "" {
		warn = "the type column names no Keyhold item type (login, note, card, identity, bank); "
	}
	t := item.Login
	loginish := len(urls) > 0
	for _, f := range fields {
		switch strings.ToLower(f.field) {
		case "username", "password", "totp":
			loginish = true
		}
	}
	if !loginish && notes != "" {
		t = item.Note
	}
	if warn != "" {
		warn += "imported as a " + string(t)
	}
	return t, warn
}

// makeTitle names an item whose title cell is empty, and says after what.
func makeTitle(urls []string, fields []csvColumn, values []string, notes string) (string, string) {
	for _, u := range urls {
		if h := build.HostOf(u); h != "" {
			return h, "URL's host"
		}
	}
	for i, f := range fields {
		if strings.EqualFold(f.field, "username") && strings.TrimSpace(values[i]) != "" {
			return build.Clip(strings.TrimSpace(values[i]), item.MaxTitle), "username"
		}
	}
	if l, _, _ := strings.Cut(strings.TrimSpace(notes), "\n"); strings.TrimSpace(l) != "" {
		return build.Clip(strings.TrimSpace(l), 64), "first line of its notes"
	}
	return "Untitled", "nothing (\"Untitled\"): it has no URL, username or notes"
}
