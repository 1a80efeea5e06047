package csvtable

// What the CSV source readers of chrome-csv, firefox-csv, lastpass-csv
// and msecure-csv share: reading an export as a stream of CSV rows, with
// errors that name the line, and finding a header's columns by name (the
// items are built by package build).

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/build"
)

// Stream reads an export row by row, the header (or first record)
// included, and calls fn with each; fn must copy a cell it keeps, since the
// record is reused. what names the format in messages ("Chrome"). fields
// is encoding/csv's FieldsPerRecord: 0 makes every row as long as the
// first (the header), -1 allows any length. The text must be UTF-8 without
// NUL bytes, so that a file in a legacy encoding fails instead of
// importing as garbage.
func Stream(in *Input, what string, comma rune, fields int, fn func(Row) error) error {
	width, first := 0, true
	n, err := Rows(Parser(in.Br, comma, fields), MaxRows, func(row Row) error {
		if first {
			width, first = len(row.Cells), false
		}
		return fn(row)
	})
	var re *ReadError
	switch {
	case errors.As(err, &re):
		return streamError(in, re, what, width)
	case err != nil:
		return err
	case n == 0:
		return fmt.Errorf("%w: the file is empty; export your %s data again", transfer.ErrSourceFormat, what)
	}
	return nil
}

// streamError words what Rows found wrong for Stream's readers.
func streamError(in *Input, re *ReadError, what string, width int) error {
	if errors.Is(re, ErrTooManyRows) {
		return fmt.Errorf("%w: the file has more than %d rows; split it into smaller files", transfer.ErrSourceFormat, MaxRows)
	}
	if big, text := StreamError(in, re.Err); big {
		return fmt.Errorf("%w: the file is larger than %d MiB; split it into smaller files", transfer.ErrSourceFormat, MaxBytes>>20)
	} else if text != nil {
		if text.nul {
			return fmt.Errorf("%w: line %d contains a NUL byte; this does not look like a CSV text file", transfer.ErrSourceFormat, text.line)
		}
		return fmt.Errorf("%w: line %d is not valid UTF-8; open the file in a text editor, save it as UTF-8 and import it again", transfer.ErrSourceFormat, text.line)
	}
	return parseError(re.Err, what, width)
}

// parseError turns an encoding/csv error into one that names the line and
// says what to fix, without quoting the file.
func parseError(err error, what string, want int) error {
	if errors.Is(err, ErrTooManyCells) {
		return fmt.Errorf("%w: a line has more than %d cells; this is not a %s export Keyhold reads", transfer.ErrSourceFormat, MaxColumns, what)
	}
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%w: %v", transfer.ErrSourceFormat, err)
	}
	switch {
	case errors.Is(pe.Err, csv.ErrFieldCount):
		return fmt.Errorf("%w: line %d has a different number of cells than the header's %d; check for a missing or extra comma, or an unquoted comma in a value (is this really a %s export?)",
			transfer.ErrSourceFormat, pe.StartLine, want, what)
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Errorf("%w: line %d: a quoted value that starts on line %d is not closed, or has a lone \" inside; the file may be cut short",
			transfer.ErrSourceFormat, pe.Line, pe.StartLine)
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Errorf("%w: line %d, column %d: a \" appears inside an unquoted value", transfer.ErrSourceFormat, pe.Line, pe.Column)
	}
	return fmt.Errorf("%w: line %d: %v", transfer.ErrSourceFormat, pe.Line, pe.Err)
}

// headerIndex maps each lower-case, trimmed header name to its column.
// Two columns of the same name are an error: which one holds the value
// would be a guess.
func headerIndex(cells []string) (map[string]int, error) {
	idx := make(map[string]int, len(cells))
	for i, c := range cells {
		n := strings.ToLower(strings.TrimSpace(c))
		if n == "" {
			continue
		}
		if _, dup := idx[n]; dup {
			return nil, fmt.Errorf("%w: the header (line 1) has two columns named %q; rename or delete one", transfer.ErrSourceFormat, strings.TrimSpace(c))
		}
		idx[n] = i
	}
	return idx, nil
}

// knownColumns resolves a format's known columns (and their aliases) in a
// header and reports whether every required one is there.
func knownColumns(idx map[string]int, names map[string][]string, required []string) (map[string]int, bool) {
	cols := map[string]int{}
	for name, aliases := range names {
		for _, a := range aliases {
			if i, ok := idx[a]; ok {
				cols[name] = i
				break
			}
		}
	}
	for _, r := range required {
		if _, ok := cols[r]; !ok {
			return cols, false
		}
	}
	return cols, true
}

// extraColumns lists the header cells no known column claimed, in
// file order; their values become custom fields.
func extraColumns(header []string, cols map[string]int) []int {
	used := map[int]bool{}
	for _, i := range cols {
		used[i] = true
	}
	var extra []int
	for i := range header {
		if !used[i] {
			extra = append(extra, i)
		}
	}
	return extra
}

// guessFormat names the format a header most likely comes from, so that a
// reader given another tool's file says which --format to use instead of
// importing its columns as custom fields. "" means no guess.
func guessFormat(idx map[string]int) string {
	has := func(names ...string) bool {
		for _, n := range names {
			if _, ok := idx[n]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case has("extra", "grouping"):
		return "lastpass-csv"
	case has("httprealm") || has("formactionorigin") || has("timepasswordchanged"):
		return "firefox-csv"
	case has("login_uri") || has("login_username"):
		return "bitwarden-csv"
	case has("name", "url", "username", "password") && len(idx) <= 5:
		return "chrome-csv"
	}
	return ""
}

// otherFormat returns an error if the header looks like another
// format's.
func otherFormat(idx map[string]int, self string) error {
	if g := guessFormat(idx); g != "" && g != self {
		return fmt.Errorf("%w: the header looks like a %s export, not %s; import the file with --format %s", transfer.ErrSourceFormat, g, self, g)
	}
	return nil
}

// Table is a header-first CSV export's header, checked: where each
// known column is, and the columns no reader knows.
type Table struct {
	header []string
	Cols   map[string]int
	extra  []int
}

// Get is the row's cell in the known column c, or "" where the file has
// no such column.
func (t *Table) Get(row Row, c string) string {
	if i, ok := t.Cols[c]; ok {
		return row.Cells[i]
	}
	return ""
}

// SetExtras keeps the row's cells in the columns the source does not
// know as custom fields of e, named by their header (or "column N").
func (t *Table) SetExtras(e *build.Entry, row Row) {
	for _, c := range t.extra {
		name := strings.TrimSpace(t.header[c])
		if name == "" {
			name = fmt.Sprintf("column %d", c+1)
		}
		e.Set(name, row.Cells[c], build.Kind(name))
	}
}

// Export describes a header-first CSV export of one source.
type Export struct {
	// Label names the source in messages ("Chrome or Edge password").
	Label string
	// Format is the source's --format name ("chrome-csv").
	Format string
	// Known are the columns the source writes, each with the names it
	// goes by; Required those a header must have.
	Known    map[string][]string
	Required []string
	// Hint, shown when the header is not the source's, names the export,
	// what its header looks like and how to make it again.
	Hint string
}

// Each reads a header-first export of x's source and returns what it
// imported. It calls entry with each row after the header that is not
// blank, as it is read (entry must copy a cell it keeps), for the row's
// entry; u is where entry says what it could not import. The columns x
// does not know become custom fields of the entry after those entry set.
// end, if not nil, adds lines about the whole file to u after the last
// row. Each reports progress.
func Each(r io.Reader, opts transfer.ImportOptions, x Export,
	entry func(t *Table, row Row, u *build.Unmapped) *build.Entry, end func(u *build.Unmapped)) (*transfer.ImportResult, error) {
	var t *Table
	s := NewSink(opts)
	err := Stream(NewInput(r, 64<<10), x.Label, ',', 0, func(row Row) error {
		if t == nil {
			header := slices.Clone(row.Cells)
			idx, err := headerIndex(header)
			if err != nil {
				return err
			}
			if err := otherFormat(idx, x.Format); err != nil {
				return err
			}
			cols, ok := knownColumns(idx, x.Known, x.Required)
			if !ok {
				return fmt.Errorf("%w: the first line is not the header of %s, or use --format csv for other files", transfer.ErrSourceFormat, x.Hint)
			}
			t = &Table{header: header, Cols: cols, extra: extraColumns(header, cols)}
			return nil
		}
		if !s.Take(row) {
			return nil
		}
		e := entry(t, row, &s.U)
		t.SetExtras(e, row)
		return s.Add(row.Line, e)
	})
	if err != nil {
		return nil, err
	}
	if end != nil {
		end(&s.U)
	}
	return s.Result(), nil
}
