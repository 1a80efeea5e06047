package transfer

// Every CSV source reads its file as a stream: the bytes go through a
// size cap, a text check and a cell limiter into encoding/csv, which
// reuses one record, and each row is mapped to its item as it is read.
// Memory follows the items made (kept anyway, since import is
// all-or-nothing), not the size of the file: a column that is ignored, or
// a long cell that is refused, is never kept.

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// CSVStreamReader reads one CSV export format from a stream; it returns
// every item of the file or an error, as a SourceReader does.
type CSVStreamReader func(r io.Reader, opts ImportOptions) (*ImportResult, error)

// StreamedSource returns the streaming reader of a CSV export format, or
// nil when the format is not CSV (those readers need the whole file).
func StreamedSource(name string) CSVStreamReader {
	switch name {
	case "chrome-csv":
		return readChromeCSV
	case "firefox-csv":
		return readFirefoxCSV
	case "lastpass-csv":
		return readLastPassCSV
	case "msecure-csv":
		return readMSecureCSV
	case "bitwarden-csv":
		return readBitwardenCSVStream
	case "1password-csv":
		return read1PasswordCSVStream
	}
	return nil
}

// bytesSource adapts a streaming reader to a SourceReader.
func bytesSource(read CSVStreamReader) SourceReader {
	return func(data []byte, opts ImportOptions) (*ImportResult, error) {
		return read(bytes.NewReader(data), opts)
	}
}

// csvPrefixSize is how much of a file a reader may look at before it
// parses it, to pick a dialect (mSecure's separator, 1Password 7's \"):
// a few hundred items of a real export, and a fixed cost however large
// the file is.
const csvPrefixSize = 256 << 10

// csvInput is a CSV source's input: capped at DefaultCSVMaxBytes,
// buffered (with room for a prefix of csvPrefixSize to be looked at when
// buf is that large), with any byte-order mark dropped.
type csvInput struct {
	cap *capReader
	br  *bufio.Reader
}

func newCSVInput(r io.Reader, buf int) *csvInput {
	in := &csvInput{cap: &capReader{r: r, max: DefaultCSVMaxBytes}}
	in.br = bufio.NewReaderSize(in.cap, buf)
	if bom, err := in.br.Peek(3); err == nil && string(bom) == "\uFEFF" {
		in.br.Discard(3)
	}
	return in
}

// prefix returns up to csvPrefixSize bytes of what comes next, without
// consuming them, and whether that is the whole rest of the file.
func (in *csvInput) prefix() ([]byte, bool) {
	p, err := in.br.Peek(csvPrefixSize)
	return p, err == io.EOF
}

// csvParser returns a parser of src (the input, or a transform of it)
// that checks the text and the cells per line as it reads, and reuses its
// record: a caller keeps a cell only by copying it.
func csvParser(src io.Reader, comma rune, fields int) *csv.Reader {
	lim := newCSVCellLimiter(&stagedReader{r: &csvTextChecker{r: src, line: 1}})
	lim.comma = byte(comma)
	r := csv.NewReader(lim)
	r.Comma = comma
	r.FieldsPerRecord = fields
	r.ReuseRecord = true
	return r
}

// stagedReader gives r reads of at least 64 bytes, staging them when the
// caller's buffer is smaller: bufio asks for whatever room is left in its
// buffer, down to one byte, and the text check needs room for a whole
// UTF-8 sequence.
type stagedReader struct {
	r   io.Reader
	buf [64]byte
	out []byte
	err error
}

func (s *stagedReader) Read(p []byte) (int, error) {
	if len(s.out) == 0 && s.err == nil {
		if len(p) >= len(s.buf) {
			return s.r.Read(p)
		}
		n, err := s.r.Read(s.buf[:])
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

// csvTextError is a NUL byte or invalid UTF-8 found on a line.
type csvTextError struct {
	line int
	nul  bool
}

func (e *csvTextError) Error() string {
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
				c.err = &csvTextError{line: c.line, nul: true}
				return i, c.err
			case '\n':
				c.line++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(p[i:end])
		if r == utf8.RuneError && size == 1 {
			c.err = &csvTextError{line: c.line}
			return i, c.err
		}
		i += size
	}
	c.nh = copy(c.held[:], p[end:n])
	return end, err
}

// csvStreamError is what went wrong reading a CSV stream, before the CSV
// parser's own errors: the size cap or the text check.
func csvStreamError(in *csvInput, err error) (tooLarge bool, text *csvTextError) {
	if in.cap.over || errors.Is(err, errTooLarge) {
		return true, nil
	}
	errors.As(err, &text)
	return false, text
}

// csvSourceProgress reports progress every progressEvery rows while the
// total is not known yet (0), and done of done at the end.
func csvSourceProgress(opts ImportOptions, done int, end bool) {
	switch {
	case opts.Progress == nil:
	case end && done > 0:
		opts.Progress(done, done)
	case !end && done%progressEvery == 0:
		opts.Progress(done, 0)
	}
}

// detach copies every string of an imported item out of the row it was
// read from. encoding/csv cuts a record's cells from one string, so a
// title kept by reference would keep the whole line, ignored cells and
// all, for as long as the import runs.
func detach(im Imported) Imported {
	it := im.Item
	it.Title = strings.Clone(it.Title)
	it.Notes = strings.Clone(it.Notes)
	for i := range it.Fields {
		it.Fields[i].Name = strings.Clone(it.Fields[i].Name)
		it.Fields[i].Value = strings.Clone(it.Fields[i].Value)
	}
	for i := range it.URLs {
		it.URLs[i] = strings.Clone(it.URLs[i])
	}
	for i := range it.Tags {
		it.Tags[i] = strings.Clone(it.Tags[i])
	}
	im.Source = strings.Clone(im.Source)
	return im
}
