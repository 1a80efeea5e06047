package sources

import (
	"slices"
	"testing"
)

// The table is sorted, names each format once, and gives every CSV
// format a streaming reader, which `keyhold import` uses for them.
func TestTable(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("format names %q are not sorted or not unique", names)
	}
	for _, f := range Table() {
		if f.Read == nil {
			t.Errorf("%s has no reader", f.Name)
		}
		csv := len(f.Name) > 4 && f.Name[len(f.Name)-4:] == "-csv"
		if csv != (f.Stream != nil) {
			t.Errorf("%s: a streaming reader is %v, want it exactly for the CSV formats", f.Name, f.Stream != nil)
		}
	}
	if _, err := Source("keepass"); err == nil || err.Error() != `unknown import format "keepass" (one of: 1password-csv, 1pux, bitwarden-csv, bitwarden-json, chrome-csv, firefox-csv, kdbx, lastpass-csv, msecure-csv)` {
		t.Errorf("unknown format: %v", err)
	}
}
