package csvtable

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
)

func parse(s string) *csv.Reader {
	return Parser(NewInput(strings.NewReader(s), 64<<10).Br, ',', 0)
}

// Rows gives every record, the header included, and allows maxRows
// records after it.
func TestRowsMaxRows(t *testing.T) {
	var lines []int
	n, err := Rows(parse("h1,h2\na,b\n\"c\nc\",d\ne,f\n"), 3, func(r Row) error {
		lines = append(lines, r.Line)
		return nil
	})
	if err != nil || n != 4 || len(lines) != 4 || lines[3] != 5 {
		t.Fatalf("Rows = %d, %v; lines %v", n, err, lines)
	}
	calls := 0
	_, err = Rows(parse("h\na\nb\nc\n"), 2, func(Row) error { calls++; return nil })
	var re *ReadError
	if !errors.As(err, &re) || !errors.Is(err, ErrTooManyRows) || calls != 3 {
		t.Errorf("3 rows with a limit of 2: %v after %d calls", err, calls)
	}
}

// An error of the caller's function comes back as it is; what is wrong
// with the file comes as a *ReadError saying where.
func TestRowsErrors(t *testing.T) {
	mine := errors.New("mine")
	_, err := Rows(parse("h\na\n"), 10, func(Row) error { return mine })
	var re *ReadError
	if err != mine || errors.As(err, &re) {
		t.Errorf("fn's error came back as %#v", err)
	}
	_, err = Rows(parse("a,b\nc,d\ne,f,g\n"), 10, func(Row) error { return nil })
	if !errors.As(err, &re) || !errors.Is(err, csv.ErrFieldCount) || re.Line != 3 || re.Cells != 3 {
		t.Errorf("a row of 3 cells under a header of 2: %#v", err)
	}
	_, err = Rows(parse("a\n"+strings.Repeat(",", MaxColumns)+"\n"), 10, func(Row) error { return nil })
	if !errors.As(err, &re) || !errors.Is(err, ErrTooManyCells) {
		t.Errorf("a line of %d cells: %v", MaxColumns+1, err)
	}
	_, err = Rows(parse("a\nb\x00\n"), 10, func(Row) error { return nil })
	var te *TextError
	if !errors.As(err, &re) || !errors.As(err, &te) || te.line != 2 || !te.nul {
		t.Errorf("a NUL byte on line 2: %v", err)
	}
}

// FuzzRows checks the limits of the CSV layer on any input: no record of
// more than MaxColumns cells reaches a reader, and a file is read whole or
// stopped by an error that says what is wrong, never by a panic.
func FuzzRows(f *testing.F) {
	f.Add([]byte("title,password\nA,b\n"))
	f.Add([]byte("\uFEFF\"a\"\"b\",c\r\n\"unclosed"))
	f.Add([]byte("a;b;c\n1;2;3\n"))
	f.Add(append([]byte("a,b\n"), 0xff, ',', 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := NewInput(bytes.NewReader(data), 64<<10)
		_, err := Rows(Parser(in.Br, ',', -1), 100, func(r Row) error {
			if len(r.Cells) > MaxColumns {
				t.Fatalf("a record of %d cells got through", len(r.Cells))
			}
			return nil
		})
		var re *ReadError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("error %v is not a *ReadError", err)
		}
	})
}
