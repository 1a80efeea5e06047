package vault

import (
	"context"
	"fmt"
	"os"

	"github.com/keyhold/keyhold/internal/ledger"
)

// Report is the outcome of Verify.
type Report struct {
	Items     int      `json:"items"`
	Revisions int      `json:"history_revisions"`
	Problems  []string `json:"problems"`
}

// Verify checks the whole vault: database integrity, the key check, that
// every current and past revision opens and is well formed, and that the
// manifest matches the items exactly.
func (s *Session) Verify(ctx context.Context) (*Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Report{Problems: []string{}}
	tx, err := s.v.readTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var ic string
	if err := tx.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ic); err != nil || ic != "ok" {
		r.Problems = append(r.Problems, fmt.Sprintf("database integrity check: %v%s", err, ic))
	}
	// SQLite writes the database file in whole pages; a file cut inside
	// a page is damaged even where the lost bytes were only a cache that
	// the integrity check does not look into.
	var ps int64
	if err := tx.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&ps); err == nil && ps > 0 {
		if st, err := os.Stat(s.v.path()); err == nil && st.Size()%ps != 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("the database file is cut short: %d bytes is not a whole number of %d-byte pages", st.Size(), ps))
		}
	}
	if err := s.v.meta.keyCheck.Verify(s.ak, s.v.meta.accountID, s.kv); err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	m, err := s.readManifest(ctx, tx)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	var sums ledger.Sums
	check := func(table string) int {
		rows, err := tx.QueryContext(ctx, `SELECT id, rev, box FROM `+table)
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("reading %s: %v", table, err))
			return 0
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var idb, box []byte
			var rev uint64
			if err := rows.Scan(&idb, &rev, &box); err != nil || len(idb) != 16 {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: unreadable row", table))
				continue
			}
			id := ItemID(idb)
			if _, err := s.open(id, rev, box); err != nil {
				r.Problems = append(r.Problems, err.Error())
			}
			sums.Add(s.keys(), ledger.Row{ID: id, Rev: rev, Box: box}, table == "history")
			n++
		}
		if err := rows.Err(); err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("reading %s: %v", table, err))
		}
		return n
	}
	r.Items = check("items")
	r.Revisions = check("history")
	if m != nil {
		items, history := sums.Matches(m)
		if !items {
			r.Problems = append(r.Problems, "the items do not match the manifest: an item was deleted, swapped or rolled back")
		}
		if !history {
			r.Problems = append(r.Problems, "the history does not match the manifest: a past revision was deleted or swapped")
		}
	}
	return r, nil
}
