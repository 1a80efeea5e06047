package csvtable

import (
	"errors"
	"io"

	"github.com/keyhold/keyhold/internal/item"
)

// MaxColumns bounds the cells of any one CSV line. encoding/csv keeps
// a string header, an index and a position for every cell of a record, so
// a line of a million empty cells (",,,,") costs some 45 times its size
// before anyone can look at it; no export has more columns than an item
// has fields, a few times over.
const MaxColumns = 4 * item.MaxFields

// ErrTooManyCells is returned, through the CSV parser, for a line with more
// than MaxColumns cells.
var ErrTooManyCells = errors.New("a line has too many cells")

// CellLimiter passes CSV bytes through and fails as soon as one record
// has more than max cells, before the parser has built them. It follows
// the quoting just enough to count: a comma inside quotes is not a
// separator, and a newline outside quotes ends the record.
type CellLimiter struct {
	r      io.Reader
	comma  byte
	max    int
	cells  int
	quoted bool
}

// NewCellLimiter limits r's records to MaxColumns cells.
func NewCellLimiter(r io.Reader) *CellLimiter {
	return &CellLimiter{r: r, comma: ',', max: MaxColumns, cells: 1}
}

func (c *CellLimiter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		switch {
		case b == '"':
			c.quoted = !c.quoted
		case c.quoted:
		case b == c.comma:
			c.cells++
			if c.cells > c.max {
				return i, ErrTooManyCells
			}
		case b == '\n':
			c.cells = 1
		}
	}
	return n, err
}

// Limits on a CSV import. Both are far above any real vault and low enough
// that a hostile file cannot exhaust memory; the item limits of package
// item apply to each row on top of them.
const (
	MaxBytes = 64 << 20
	MaxRows  = 1_000_000
)

// ProgressEvery is how many rows go by between Progress calls.
const ProgressEvery = 1000

// CapReader fails once more than max bytes have been read, so that a
// huge file is refused before it is all in memory.
type CapReader struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
}

// NewCapReader reads r up to max bytes.
func NewCapReader(r io.Reader, max int64) *CapReader { return &CapReader{r: r, max: max} }

// Over reports whether the reader went past its cap.
func (c *CapReader) Over() bool { return c.over }

// ErrTooLarge is what a CapReader returns past its cap.
var ErrTooLarge = errors.New("input too large")

func (c *CapReader) Read(p []byte) (int, error) {
	if c.over {
		return 0, ErrTooLarge
	}
	if rest := c.max + 1 - c.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		c.over = true
		return n, ErrTooLarge
	}
	return n, err
}
