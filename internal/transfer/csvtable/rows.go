package csvtable

import (
	"encoding/csv"
	"errors"
	"io"
	"strings"
)

// Row is one CSV record and the line it starts on.
type Row struct {
	Line  int
	Cells []string
}

// Blank reports whether every cell of the row is empty or white space.
func (r Row) Blank() bool { return Blank(r.Cells) }

// ErrTooManyRows is the Err of a ReadError for a file with more rows than
// the reader allows.
var ErrTooManyRows = errors.New("too many rows")

// ReadError is what Rows found wrong with the file, as opposed to an error
// of the caller's function, which Rows returns as it is; each reader words
// it for its users. Err is the parser's error (a *csv.ParseError,
// ErrTooManyCells, ErrTooLarge, a *TextError) or ErrTooManyRows. For a
// record whose number of cells is wrong (csv.ErrFieldCount), Line is the
// line it starts on and Cells its number of cells.
type ReadError struct {
	Err   error
	Line  int
	Cells int
}

func (e *ReadError) Error() string { return e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// Rows is the row loop of every CSV reader. It reads r to its end and
// calls fn with each record as it is read, the first (a header, for most
// formats) included; fn must copy a cell it keeps, since r reuses its
// record. It allows maxRows records after the first. It returns how many
// records it read, and stops at the first error: fn's, returned as it is,
// or a *ReadError.
func Rows(r *csv.Reader, maxRows int, fn func(Row) error) (int, error) {
	rows := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			re := &ReadError{Err: err}
			if errors.Is(err, csv.ErrFieldCount) {
				// The record was read whole; after other errors r may
				// know no position at all.
				re.Line, _ = r.FieldPos(0)
				re.Cells = len(rec)
			}
			return rows, re
		}
		rows++
		if rows > maxRows+1 {
			return rows, &ReadError{Err: ErrTooManyRows}
		}
		line, _ := r.FieldPos(0)
		if err := fn(Row{Line: line, Cells: rec}); err != nil {
			return rows, err
		}
	}
}

// Blank reports whether every cell is empty or white space.
func Blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}
