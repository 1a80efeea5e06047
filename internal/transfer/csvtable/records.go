package csvtable

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/build"
)

// srcMaxCSV bounds a CSV export read by the Bitwarden and 1Password
// readers, like MaxBytes does for the generic one.
const srcMaxCSV = MaxBytes

// Records reads a CSV export with a header row from src (in's
// buffered input, or a transform of it): UTF-8 (a BOM is fine), every row
// as wide as the header. It calls header once with a copy of the header,
// then draft with each data row that is not blank, as it is read (draft
// must copy a cell it keeps: the record is reused), for the row's entry;
// the entry writes its Unmapped lines to unmapped. It returns what it
// imported and reports progress. Errors name the line and never quote a
// cell.
func Records(in *Input, src io.Reader, what string, opts transfer.ImportOptions, header func([]string) error,
	draft func(row Row, unmapped *[]string) *build.Draft) (*transfer.ImportResult, error) {
	width := -1
	s := NewSink(opts)
	n, err := Rows(Parser(src, ',', 0), MaxRows, func(r Row) error {
		if width < 0 {
			if len(r.Cells) > 4*item.MaxFields {
				return fmt.Errorf("%w: the header has %d columns; this is not a %s", transfer.ErrSourceFormat, len(r.Cells), what)
			}
			width = len(r.Cells)
			return header(slices.Clone(r.Cells))
		}
		if !s.Take(r) {
			return nil
		}
		return s.AddDraft(r.Line, draft(r, s.Reports()))
	})
	var re *ReadError
	switch {
	case errors.As(err, &re):
		return nil, recordsError(in, re, width)
	case err != nil:
		return nil, err
	case n == 0:
		return nil, fmt.Errorf("%w: the file is empty; expected a %s with a header row", transfer.ErrSourceFormat, what)
	}
	return s.Result(), nil
}

// recordsError words what Rows found wrong for Records' readers.
func recordsError(in *Input, re *ReadError, width int) error {
	switch {
	case errors.Is(re, ErrTooManyRows):
		return fmt.Errorf("%w: the file has more than %d rows; split it into smaller files", transfer.ErrSourceFormat, MaxRows)
	case errors.Is(re, csv.ErrFieldCount):
		return fmt.Errorf("%w: line %d has %d cells but the header has %d; the file is damaged or truncated", transfer.ErrSourceFormat, re.Line, re.Cells, width)
	}
	if big, text := StreamError(in, re.Err); big {
		return fmt.Errorf("%w: the file is larger than %s; split it into smaller files", transfer.ErrSourceFormat, build.SizeText(srcMaxCSV))
	} else if text != nil {
		if text.nul {
			return fmt.Errorf("%w: the file contains a NUL byte; this does not look like a text export", transfer.ErrSourceFormat)
		}
		return fmt.Errorf("%w: the file is not valid UTF-8 text; export it again, or save it as UTF-8", transfer.ErrSourceFormat)
	}
	return srcCSVError(re.Err)
}

// srcCSVError turns an encoding/csv error into one that names the line.
func srcCSVError(err error) error {
	if errors.Is(err, ErrTooManyCells) {
		return fmt.Errorf("%w: a line has more than %d cells; this is not an export Keyhold reads", transfer.ErrSourceFormat, MaxColumns)
	}
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%w: %v", transfer.ErrSourceFormat, err)
	}
	switch {
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Errorf("%w: line %d: a quoted value is not closed (the value starts on line %d); the file is damaged or truncated", transfer.ErrSourceFormat, pe.Line, pe.StartLine)
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Errorf("%w: line %d, column %d: a \" appears inside an unquoted value; the file is damaged", transfer.ErrSourceFormat, pe.Line, pe.Column)
	}
	return fmt.Errorf("%w: line %d: %v", transfer.ErrSourceFormat, pe.Line, pe.Err)
}
