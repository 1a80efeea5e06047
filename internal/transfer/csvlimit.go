package transfer

import (
	"errors"
	"io"

	"github.com/keyhold/keyhold/internal/item"
)

// MaxCSVColumns bounds the cells of any one CSV line. encoding/csv keeps
// a string header, an index and a position for every cell of a record, so
// a line of a million empty cells (",,,,") costs some 45 times its size
// before anyone can look at it; no export has more columns than an item
// has fields, a few times over.
const MaxCSVColumns = 4 * item.MaxFields

// errCSVColumns is returned, through the CSV parser, for a line with more
// than MaxCSVColumns cells.
var errCSVColumns = errors.New("a line has too many cells")

// csvCellLimiter passes CSV bytes through and fails as soon as one record
// has more than max cells, before the parser has built them. It follows
// the quoting just enough to count: a comma inside quotes is not a
// separator, and a newline outside quotes ends the record.
type csvCellLimiter struct {
	r      io.Reader
	comma  byte
	max    int
	cells  int
	quoted bool
}

func newCSVCellLimiter(r io.Reader) *csvCellLimiter {
	return &csvCellLimiter{r: r, comma: ',', max: MaxCSVColumns, cells: 1}
}

func (c *csvCellLimiter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		switch {
		case b == '"':
			c.quoted = !c.quoted
		case c.quoted:
		case b == c.comma:
			c.cells++
			if c.cells > c.max {
				return i, errCSVColumns
			}
		case b == '\n':
			c.cells = 1
		}
	}
	return n, err
}
