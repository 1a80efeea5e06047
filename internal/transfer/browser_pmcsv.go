package transfer

// What the CSV source readers (chrome-csv, firefox-csv, lastpass-csv,
// msecure-csv) share: reading an export as a stream of CSV rows, with
// errors that name the line, and building items that always pass
// item.Validate, moving what does not fit into the notes or into an
// Unmapped line instead of cutting it silently.

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/item"
)

// pmcsvRow is one CSV record and the line it starts on.
type pmcsvRow struct {
	line  int
	cells []string
}

// blank reports whether every cell of the row is empty or white space.
func (r pmcsvRow) blank() bool {
	for _, c := range r.cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// pmcsvStream reads an export row by row, the header (or first record)
// included, and calls fn with each; fn must copy a cell it keeps, since the
// record is reused. what names the format in messages ("Chrome"). fields
// is encoding/csv's FieldsPerRecord: 0 makes every row as long as the
// first (the header), -1 allows any length. The text must be UTF-8 without
// NUL bytes, so that a file in a legacy encoding fails instead of
// importing as garbage.
func pmcsvStream(in *csvInput, what string, comma rune, fields int, fn func(pmcsvRow) error) error {
	r := csvParser(in.br, comma, fields)
	rows, width := 0, 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if big, text := csvStreamError(in, err); big {
				return fmt.Errorf("%w: the file is larger than %d MiB; split it into smaller files", ErrSourceFormat, DefaultCSVMaxBytes>>20)
			} else if text != nil {
				if text.nul {
					return fmt.Errorf("%w: line %d contains a NUL byte; this does not look like a CSV text file", ErrSourceFormat, text.line)
				}
				return fmt.Errorf("%w: line %d is not valid UTF-8; open the file in a text editor, save it as UTF-8 and import it again", ErrSourceFormat, text.line)
			}
			return pmcsvError(err, what, width)
		}
		if rows == 0 {
			width = len(rec)
		}
		rows++
		if rows > DefaultCSVMaxRows+1 {
			return fmt.Errorf("%w: the file has more than %d rows; split it into smaller files", ErrSourceFormat, DefaultCSVMaxRows)
		}
		line, _ := r.FieldPos(0)
		if err := fn(pmcsvRow{line: line, cells: rec}); err != nil {
			return err
		}
	}
	if rows == 0 {
		return fmt.Errorf("%w: the file is empty; export your %s data again", ErrSourceFormat, what)
	}
	return nil
}

// pmcsvError turns an encoding/csv error into one that names the line and
// says what to fix, without quoting the file.
func pmcsvError(err error, what string, want int) error {
	if errors.Is(err, errCSVColumns) {
		return fmt.Errorf("%w: a line has more than %d cells; this is not a %s export Keyhold reads", ErrSourceFormat, MaxCSVColumns, what)
	}
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%w: %v", ErrSourceFormat, err)
	}
	switch {
	case errors.Is(pe.Err, csv.ErrFieldCount):
		return fmt.Errorf("%w: line %d has a different number of cells than the header's %d; check for a missing or extra comma, or an unquoted comma in a value (is this really a %s export?)",
			ErrSourceFormat, pe.StartLine, want, what)
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Errorf("%w: line %d: a quoted value that starts on line %d is not closed, or has a lone \" inside; the file may be cut short",
			ErrSourceFormat, pe.Line, pe.StartLine)
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Errorf("%w: line %d, column %d: a \" appears inside an unquoted value", ErrSourceFormat, pe.Line, pe.Column)
	}
	return fmt.Errorf("%w: line %d: %v", ErrSourceFormat, pe.Line, pe.Err)
}

// pmcsvHeader maps each lower-case, trimmed header name to its column.
// Two columns of the same name are an error: which one holds the value
// would be a guess.
func pmcsvHeader(cells []string) (map[string]int, error) {
	idx := make(map[string]int, len(cells))
	for i, c := range cells {
		n := strings.ToLower(strings.TrimSpace(c))
		if n == "" {
			continue
		}
		if _, dup := idx[n]; dup {
			return nil, fmt.Errorf("%w: the header (line 1) has two columns named %q; rename or delete one", ErrSourceFormat, strings.TrimSpace(c))
		}
		idx[n] = i
	}
	return idx, nil
}

// pmcsvColumns resolves a format's known columns (and their aliases) in a
// header and reports whether every required one is there.
func pmcsvColumns(idx map[string]int, names map[string][]string, required []string) (map[string]int, bool) {
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

// pmcsvExtraColumns lists the header cells no known column claimed, in
// file order; their values become custom fields.
func pmcsvExtraColumns(header []string, cols map[string]int) []int {
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

// pmcsvUnmapped collects Unmapped lines, each once, in the order found.
type pmcsvUnmapped struct {
	seen  map[string]bool
	lines []string
}

func (u *pmcsvUnmapped) add(line string) {
	if u.seen == nil {
		u.seen = map[string]bool{}
	}
	if !u.seen[line] {
		u.seen[line] = true
		u.lines = append(u.lines, line)
	}
}

// pmcsvCounter counts rows per reason, for Unmapped lines that speak of a
// whole column once instead of once per row.
type pmcsvCounter map[string]int

func (c pmcsvCounter) lines(u *pmcsvUnmapped) {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		u.add(fmt.Sprintf(k, c[k]))
	}
}

// pmcsvEntry builds one item. Values are added in the source's order;
// finish fits them into the item's limits.
type pmcsvEntry struct {
	it     *item.Item
	folder string         // the source's folder or group path, for Source
	extra  []string       // notes paragraphs for values with no field of their own
	names  map[string]int // lower-case field names in use -> next number to try
}

func newPMCSVEntry(t item.Type, now time.Time) *pmcsvEntry {
	return &pmcsvEntry{it: item.New(t, "", now)}
}

// set adds a field unless value is empty. A standard field name of the
// item's type gets that field (and its kind); a name used already gets a
// number ("Password 2") so that no value overwrites another.
func (e *pmcsvEntry) set(name, value string, k item.Kind) {
	if strings.TrimSpace(value) == "" {
		return
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "field"
	}
	// item.Get answers "title", "notes" and "url" with the item's own
	// title, notes and first URL, which would hide a field of that name.
	switch strings.ToLower(name) {
	case "title", "notes", "note", "url":
		name += " field"
	}
	if e.names == nil {
		e.names = map[string]int{}
	}
	n, base := name, strings.ToLower(name)
	if i, used := e.names[base]; used {
		for i = max(i, 2); e.has(fmt.Sprintf("%s %d", name, i)); i++ {
		}
		n = fmt.Sprintf("%s %d", name, i)
		e.names[base] = i + 1
	}
	e.names[strings.ToLower(n)] = 0
	// As item.Set, without its search of the fields set so far: names
	// are unique here already, and a hostile row may hold thousands.
	for _, sf := range item.StandardFields[e.it.Type] {
		if strings.EqualFold(sf.Name, n) {
			e.it.Fields = append(e.it.Fields, item.Field{Name: sf.Name, Kind: sf.Kind, Value: value})
			return
		}
	}
	e.it.Fields = append(e.it.Fields, item.Field{Name: n, Kind: k, Value: value, Custom: true})
}

// has reports whether a field of that name (in any case) is set.
func (e *pmcsvEntry) has(name string) bool {
	_, ok := e.names[strings.ToLower(name)]
	return ok
}

// addURL adds a URL unless it is empty or already there.
func (e *pmcsvEntry) addURL(u string) {
	u = strings.TrimSpace(u)
	if u == "" {
		return
	}
	for _, have := range e.it.URLs {
		if have == u {
			return
		}
	}
	e.it.URLs = append(e.it.URLs, u)
}

// addTag adds a tag unless it is empty or already there.
func (e *pmcsvEntry) addTag(t string) {
	t = strings.TrimSpace(t)
	if t == "" {
		return
	}
	for _, have := range e.it.Tags {
		if have == t {
			return
		}
	}
	e.it.Tags = append(e.it.Tags, t)
}

// addNote appends a paragraph to the notes.
func (e *pmcsvEntry) addNote(s string) {
	if strings.TrimSpace(s) != "" {
		e.extra = append(e.extra, s)
	}
}

// source names the entry for messages: folder/title.
func (e *pmcsvEntry) source() string {
	if e.folder == "" {
		return e.it.Title
	}
	return e.folder + "/" + e.it.Title
}

// finish completes the item: a title made up if the source had none, and
// everything over an item limit moved to the notes (text) or reported in
// Unmapped (secrets, which must not land in searchable notes). It returns
// an error only if the item still fails item.Validate, which would be a
// bug, never a property of the file.
func (e *pmcsvEntry) finish(line int, u *pmcsvUnmapped) (Imported, error) {
	it := e.it
	trimIdentity(it)
	where := func() string { return fmt.Sprintf("entry %q (line %d)", e.source(), line) }

	if strings.TrimSpace(it.Title) == "" {
		it.Title = pmcsvTitle(it)
	}
	if len(it.Title) > item.MaxTitle {
		full := it.Title
		it.Title = clip(full, item.MaxTitle)
		e.extra = append([]string{"Full title:\n" + full}, e.extra...)
		u.add(fmt.Sprintf("%s: the title is longer than %d bytes; shortened, the full title is in the notes", where(), item.MaxTitle))
	}

	var keep []item.Field
	for _, f := range it.Fields {
		secret := f.Kind == item.Hidden || f.Kind == item.TOTP
		switch {
		case len(f.Value) > item.MaxFieldValue && secret:
			u.add(fmt.Sprintf("%s: field %q is larger than %d KiB, the most a field holds; not imported", where(), f.Name, item.MaxFieldValue>>10))
		case len(f.Value) > item.MaxFieldValue:
			e.extra = append(e.extra, f.Name+":\n"+f.Value)
		case len(keep) >= item.MaxFields && secret:
			u.add(fmt.Sprintf("%s: field %q is over the %d fields an item holds; not imported", where(), f.Name, item.MaxFields))
		case len(keep) >= item.MaxFields:
			e.extra = append(e.extra, f.Name+": "+f.Value)
		default:
			keep = append(keep, f)
		}
	}
	it.Fields = keep

	if len(it.URLs) > item.MaxURLs {
		e.extra = append(e.extra, "More URLs:\n"+strings.Join(it.URLs[item.MaxURLs:], "\n"))
		it.URLs = it.URLs[:item.MaxURLs]
	}
	if len(it.Tags) > item.MaxTags {
		for _, t := range it.Tags[item.MaxTags:] {
			u.add(fmt.Sprintf("%s: tag %q is over the %d tags an item holds; not imported", where(), t, item.MaxTags))
		}
		it.Tags = it.Tags[:item.MaxTags]
	}

	parts := make([]string, 0, 1+len(e.extra))
	if strings.TrimSpace(it.Notes) != "" {
		parts = append(parts, it.Notes)
	}
	parts = append(parts, e.extra...)
	it.Notes = strings.Join(parts, "\n\n")
	if len(it.Notes) > item.MaxNotes {
		u.add(fmt.Sprintf("%s: the notes are longer than %d KiB; the last %d bytes are not imported", where(), item.MaxNotes>>10, len(it.Notes)-len(clip(it.Notes, item.MaxNotes))))
		it.Notes = clip(it.Notes, item.MaxNotes)
	}
	if it.Modified.Before(it.Created) {
		it.Modified = it.Created
	}
	if err := it.Validate(); err != nil {
		return Imported{}, fmt.Errorf("%w: line %d: %w", ErrSourceFormat, line, err)
	}
	return detach(Imported{Item: it, Source: e.source()}), nil
}

// pmcsvTitle names an item the source left untitled: after its URL's
// host, its username, or the first line of its notes.
func pmcsvTitle(it *item.Item) string {
	for _, u := range it.URLs {
		if h := hostOf(u); h != "" {
			return h
		}
	}
	if v := strings.TrimSpace(it.Username()); v != "" {
		return clip(v, item.MaxTitle)
	}
	if l, _, _ := strings.Cut(strings.TrimSpace(it.Notes), "\n"); strings.TrimSpace(l) != "" {
		return clip(strings.TrimSpace(l), 64)
	}
	return "Untitled"
}

// pmcsvNow is the time given to undated items.
func pmcsvNow(opts ImportOptions) time.Time {
	if opts.Now.IsZero() {
		return time.Now()
	}
	return opts.Now
}

// pmcsvSecret reports whether a field name suggests a secret. Erring
// towards hidden masks a value; erring towards text shows a secret.
func pmcsvSecret(name string) bool {
	l := strings.ToLower(name)
	for _, s := range []string{"password", "passwort", "passphrase", "secret", "pin", "security code",
		"cvv", "cvc", "private key", "license key", "licence key", "passcode"} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// pmcsvKind is the kind of a custom field named name.
func pmcsvKind(name string) item.Kind {
	if pmcsvSecret(name) {
		return item.Hidden
	}
	return item.Text
}

// pmcsvGuess names the format a header most likely comes from, so that a
// reader given another tool's file says which --format to use instead of
// importing its columns as custom fields. "" means no guess.
func pmcsvGuess(idx map[string]int) string {
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

// pmcsvOtherFormat returns an error if the header looks like another
// format's.
func pmcsvOtherFormat(idx map[string]int, self string) error {
	if g := pmcsvGuess(idx); g != "" && g != self {
		return fmt.Errorf("%w: the header looks like a %s export, not %s; import the file with --format %s", ErrSourceFormat, g, self, g)
	}
	return nil
}

// pmcsvTable is a header-first CSV export's header, checked: where each
// known column is, and the columns no reader knows.
type pmcsvTable struct {
	header []string
	cols   map[string]int
	extra  []int
}

// get is the row's cell in the known column c, or "" where the file has
// no such column.
func (t *pmcsvTable) get(row pmcsvRow, c string) string {
	if i, ok := t.cols[c]; ok {
		return row.cells[i]
	}
	return ""
}

// setExtras keeps the row's cells in the columns the source does not
// know as custom fields of e, named by their header (or "column N").
func (t *pmcsvTable) setExtras(e *pmcsvEntry, row pmcsvRow) {
	for _, c := range t.extra {
		name := strings.TrimSpace(t.header[c])
		if name == "" {
			name = fmt.Sprintf("column %d", c+1)
		}
		e.set(name, row.cells[c], pmcsvKind(name))
	}
}

// pmcsvEach reads a header-first export of the named source (label in
// messages, format its --format name), with the columns it knows and
// those it requires, and calls fn with each row after the header as it is
// read (fn must copy a cell it keeps). headerHint, shown when the header
// is not the source's, names the export, what its header looks like and
// how to make it again. It reports progress and returns how many rows
// were read.
func pmcsvEach(r io.Reader, opts ImportOptions, label, format string, known map[string][]string, required []string, headerHint string,
	fn func(t *pmcsvTable, row pmcsvRow) error) error {
	var t *pmcsvTable
	done := 0
	err := pmcsvStream(newCSVInput(r, 64<<10), label, ',', 0, func(row pmcsvRow) error {
		if t == nil {
			header := slices.Clone(row.cells)
			idx, err := pmcsvHeader(header)
			if err != nil {
				return err
			}
			if err := pmcsvOtherFormat(idx, format); err != nil {
				return err
			}
			cols, ok := pmcsvColumns(idx, known, required)
			if !ok {
				return fmt.Errorf("%w: the first line is not the header of %s, or use --format csv for other files", ErrSourceFormat, headerHint)
			}
			t = &pmcsvTable{header: header, cols: cols, extra: pmcsvExtraColumns(header, cols)}
			return nil
		}
		done++
		csvSourceProgress(opts, done, false)
		return fn(t, row)
	})
	if err != nil {
		return err
	}
	csvSourceProgress(opts, done, true)
	return nil
}
