package csvtable

import (
	"fmt"

	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/build"
)

// Sink is the tail of every CSV source reader's row loop, written once so
// that the readers agree on it: it counts the rows for progress, counts
// blank ones as skipped, finishes each row's entry and keeps its item, and
// gives the Unmapped lines at the end. A reader only maps a row to an
// entry. Each and Records drive one; a reader with a loop of its own
// (mSecure) drives it by hand.
type Sink struct {
	// U collects the Unmapped lines of the Entry readers, each once.
	U    build.Unmapped
	opts transfer.ImportOptions
	rows int
	res  transfer.ImportResult
}

// NewSink starts the result of one import.
func NewSink(opts transfer.ImportOptions) *Sink { return &Sink{opts: opts} }

// Take counts a data row for progress. It returns false for a blank row,
// which it counts as skipped; the reader maps only the rows it takes.
func (s *Sink) Take(row Row) bool {
	s.rows++
	Progress(s.opts, s.rows, false)
	if row.Blank() {
		s.res.Skipped++
		return false
	}
	return true
}

// Add finishes e, the entry of the row on line, and keeps its item.
func (s *Sink) Add(line int, e *build.Entry) error {
	imp, err := e.Finish(line, &s.U)
	if err != nil {
		return err
	}
	s.res.Items = append(s.res.Items, imp)
	return nil
}

// Reports is where a Draft writes its Unmapped lines (build.NewDraft's
// unmapped): one line per report, in the order made.
func (s *Sink) Reports() *[]string { return &s.res.Unmapped }

// AddDraft finishes d, the entry of the row on line, and keeps its item.
func (s *Sink) AddDraft(line int, d *build.Draft) error {
	it, err := d.Finish()
	if err != nil {
		return fmt.Errorf("%w: line %d: %w", transfer.ErrSourceFormat, line, err)
	}
	s.res.Items = append(s.res.Items, build.Detach(transfer.Imported{Item: it, Source: d.Source()}))
	return nil
}

// Result reports the end of the rows to progress and returns what was
// imported. Its Unmapped holds the Drafts' reports, then U's lines.
func (s *Sink) Result() *transfer.ImportResult {
	Progress(s.opts, s.rows, true)
	s.res.Unmapped = append(s.res.Unmapped, s.U.Lines...)
	return &s.res
}
