// Package csvtable is the one CSV layer of the import readers: the limits
// every CSV file is read within (MaxBytes, MaxRows, MaxColumns), the
// readers that enforce them as the bytes go by (size cap, cell limiter,
// text check), the row loop every CSV reader runs (Rows), and the lookup
// of a header's columns by name (Table).
package csvtable

// Every CSV source reads its file as a stream: the bytes go through a
// size cap, a text check and a cell limiter into encoding/csv, which
// reuses one record, and each row is mapped to its item as it is read.
// Memory follows the items made (kept anyway, since import is
// all-or-nothing), not the size of the file: a column that is ignored, or
// a long cell that is refused, is never kept.

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/keyhold/keyhold/internal/transfer"
)

// PrefixSize is how much of a file a reader may look at before it
// parses it, to pick a dialect (mSecure's separator, 1Password 7's \"):
// a few hundred items of a real export, and a fixed cost however large
// the file is.
const PrefixSize = 256 << 10

// Input is a CSV source's input: capped at MaxBytes,
// buffered (with room for a prefix of PrefixSize to be looked at when
// buf is that large), with any byte-order mark dropped.
type Input struct {
	cap *CapReader
	Br  *bufio.Reader // what the readers parse, or look at first
}

func NewInput(r io.Reader, buf int) *Input {
	in := &Input{cap: NewCapReader(r, MaxBytes)}
	in.Br = bufio.NewReaderSize(in.cap, buf)
	if bom, err := in.Br.Peek(3); err == nil && string(bom) == "\uFEFF" {
		in.Br.Discard(3)
	}
	return in
}

// Prefix returns up to PrefixSize bytes of what comes next, without
// consuming them, and whether that is the whole rest of the file.
func (in *Input) Prefix() ([]byte, bool) {
	p, err := in.Br.Peek(PrefixSize)
	return p, err == io.EOF
}

// Parser returns a parser of src (the input, or a transform of it)
// that checks the text and the cells per line as it reads, and reuses its
// record: a caller keeps a cell only by copying it.
func Parser(src io.Reader, comma rune, fields int) *csv.Reader {
	lim := NewCellLimiter(&StagedReader{R: &csvTextChecker{r: src, line: 1}})
	lim.comma = byte(comma)
	r := csv.NewReader(lim)
	r.Comma = comma
	r.FieldsPerRecord = fields
	r.ReuseRecord = true
	return r
}

// StagedReader gives r reads of at least 64 bytes, staging them when the
// caller's buffer is smaller: bufio asks for whatever room is left in its
// buffer, down to one byte, and the text check needs room for a whole
// UTF-8 sequence.
type StagedReader struct {
	R   io.Reader
	buf [64]byte
	out []byte
	err error
}

func (s *StagedReader) Read(p []byte) (int, error) {
	if len(s.out) == 0 && s.err == nil {
		if len(p) >= len(s.buf) {
			return s.R.Read(p)
		}
		n, err := s.R.Read(s.buf[:])
		s.out, s.err = s.buf[:n], err
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	if len(s.out) == 0 {
		err := s.err
		s.err = nil
		return n, err
	}
	return n, nil
}

// TextError is a NUL byte or invalid UTF-8 found on a line.
type TextError struct {
	line int
	nul  bool
}

func (e *TextError) Error() string {
	if e.nul {
		return fmt.Sprintf("line %d contains a NUL byte", e.line)
	}
	return fmt.Sprintf("line %d is not valid UTF-8", e.line)
}

// csvTextChecker passes bytes through and fails at the first NUL byte or
// invalid UTF-8 sequence, naming its line, so that a binary file or one in
// a legacy encoding fails instead of importing as garbage. A sequence cut
// by the end of a read is held back until the next.
type csvTextChecker struct {
	r    io.Reader
	line int
	held [utf8.UTFMax]byte
	nh   int
	err  error
}

func (c *csvTextChecker) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(p) <= utf8.UTFMax {
		return 0, io.ErrShortBuffer
	}
	copy(p, c.held[:c.nh])
	n, err := c.r.Read(p[c.nh:])
	n += c.nh
	c.nh = 0
	end := n
	if err == nil {
		// Hold back a sequence the next read may complete.
		for i := n - 1; i >= 0 && i >= n-utf8.UTFMax+1; i-- {
			if utf8.RuneStart(p[i]) {
				if !utf8.FullRune(p[i:n]) {
					end = i
				}
				break
			}
		}
	}
	for i := 0; i < end; {
		b := p[i]
		if b < utf8.RuneSelf {
			switch b {
			case 0:
				c.err = &TextError{line: c.line, nul: true}
				return i, c.err
			case '\n':
				c.line++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(p[i:end])
		if r == utf8.RuneError && size == 1 {
			c.err = &TextError{line: c.line}
			return i, c.err
		}
		i += size
	}
	c.nh = copy(c.held[:], p[end:n])
	return end, err
}

// StreamError is what went wrong reading a CSV stream, before the CSV
// parser's own errors: the size cap or the text check.
func StreamError(in *Input, err error) (tooLarge bool, text *TextError) {
	if in.cap.Over() || errors.Is(err, ErrTooLarge) {
		return true, nil
	}
	errors.As(err, &text)
	return false, text
}

// Progress reports progress every ProgressEvery rows while the
// total is not known yet (0), and done of done at the end.
func Progress(opts transfer.ImportOptions, done int, end bool) {
	switch {
	case opts.Progress == nil:
	case end && done > 0:
		opts.Progress(done, done)
	case !end && done%ProgressEvery == 0:
		opts.Progress(done, 0)
	}
}
