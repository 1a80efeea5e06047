package sources

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/keyholdcsv"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// A CSV line of millions of cells is refused after reading a bounded part
// of it: what the readers allocate stays far below the file's size, where
// encoding/csv alone would take some 45 times it.
func TestCSVManyColumnsBoundedMemory(t *testing.T) {
	const cells = 2_000_000
	wide := strings.Repeat(",", cells)
	files := map[string][]byte{
		"header": []byte("title,password" + wide + "\n"),
		"row":    []byte("title,password\nA,b" + wide + "\n"),
		"quoted": []byte("title,password\n\"A,a\",\"b\"" + wide + "\n"),
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			limit := uint64(len(data)) / 4
			var err error
			if n := transfertest.Allocated(func() { _, err = keyholdcsv.Read(bytes.NewReader(data), keyholdcsv.Options{Now: transfertest.SrcNow}) }); n > limit {
				t.Errorf("ReadCSV allocated %d bytes for a %d-byte file", n, len(data))
			}
			if !errors.Is(err, keyholdcsv.ErrInvalid) || !strings.Contains(err.Error(), "cells") {
				t.Errorf("ReadCSV: %v", err)
			}
			for _, format := range []string{"1password-csv", "bitwarden-csv", "chrome-csv", "firefox-csv", "lastpass-csv", "msecure-csv"} {
				read, _ := Source(format)
				if n := transfertest.Allocated(func() { _, err = read(data, transfer.ImportOptions{Now: transfertest.SrcNow}) }); n > limit {
					t.Errorf("%s allocated %d bytes for a %d-byte file", format, n, len(data))
				}
				// A reader whose header the file lacks refuses it at the
				// header, before the wide line.
				headerOK := name == "header" || format == "1password-csv" || format == "msecure-csv"
				if !errors.Is(err, transfer.ErrSourceFormat) || headerOK && !strings.Contains(err.Error(), "cells") {
					t.Errorf("%s: %v", format, err)
				}
			}
		})
	}
}
