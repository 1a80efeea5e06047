package transfer

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

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
			if n := allocated(func() { _, err = ReadCSV(bytes.NewReader(data), CSVOptions{Now: srcTestNow}) }); n > limit {
				t.Errorf("ReadCSV allocated %d bytes for a %d-byte file", n, len(data))
			}
			if !errors.Is(err, ErrInvalidCSV) || !strings.Contains(err.Error(), "cells") {
				t.Errorf("ReadCSV: %v", err)
			}
			for _, format := range []string{"1password-csv", "bitwarden-csv", "chrome-csv", "firefox-csv", "lastpass-csv", "msecure-csv"} {
				read, _ := Source(format)
				if n := allocated(func() { _, err = read(data, ImportOptions{Now: srcTestNow}) }); n > limit {
					t.Errorf("%s allocated %d bytes for a %d-byte file", format, n, len(data))
				}
				// A reader whose header the file lacks refuses it at the
				// header, before the wide line.
				headerOK := name == "header" || format == "1password-csv" || format == "msecure-csv"
				if !errors.Is(err, ErrSourceFormat) || headerOK && !strings.Contains(err.Error(), "cells") {
					t.Errorf("%s: %v", format, err)
				}
			}
		})
	}
}

// Commas inside quotes are not cells: a wide quoted value is fine.
func TestCSVCellLimiterQuotes(t *testing.T) {
	data := "title,notes\nA,\"" + strings.Repeat(",", 5000) + "\"\n"
	res, err := ReadCSV(strings.NewReader(data), CSVOptions{Now: srcTestNow})
	if err != nil || len(res.Items) != 1 || len(res.Items[0].Notes) != 5000 {
		t.Fatalf("%v %+v", err, res)
	}
}

// BenchmarkReadCSVWide reports what a wide, hostile line costs.
func BenchmarkReadCSVWide(b *testing.B) {
	data := []byte("title,password\nA,b" + strings.Repeat(",", 1_000_000) + "\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		ReadCSV(bytes.NewReader(data), CSVOptions{Now: srcTestNow})
	}
}

// A .1pux whose export.data declares 2 GiB is refused before it is
// inflated: the reader allocates a small part of the (real, inflating)
// entry's content, with the default limits.
func Test1PUXDeclaredSizeRefusedBeforeInflating(t *testing.T) {
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
	chunk := make([]byte, 1<<20)
	for range 64 {
		fw.Write(chunk)
	}
	fw.Close()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	raw, err := w.CreateRaw(&zip.FileHeader{Name: "export.data", Method: zip.Deflate,
		UncompressedSize64: 2 << 30, CompressedSize64: uint64(deflated.Len()), CRC32: 0})
	if err != nil {
		t.Fatal(err)
	}
	raw.Write(deflated.Bytes())
	w.Close()
	var res *ImportResult
	n := allocated(func() { res, err = read1PUXBytes(t, buf.Bytes()) })
	if !errors.Is(err, ErrSourceFormat) || res != nil || !strings.Contains(err.Error(), "declares 2048.0 MiB") {
		t.Fatalf("got %v, %v; want a refusal naming the declared size", res, err)
	}
	if n > 8<<20 {
		t.Errorf("allocated %d bytes refusing it", n)
	}
}
