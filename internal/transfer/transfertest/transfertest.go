// Package transfertest holds what the tests of the import readers share:
// fixed times, checks that a result holds only valid items, a compact dump
// of a result for golden comparisons, and the bodies of the fuzz targets.
package transfertest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
)

// File is the content of a fixture file.
func File(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// SrcNow is the time the Bitwarden and 1Password readers' tests import at.
var SrcNow = time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)

// Read runs read on a fixture file.
func Read(t testing.TB, read transfer.SourceReader, file string, password []byte) (*transfer.ImportResult, error) {
	t.Helper()
	return read(File(t, file), transfer.ImportOptions{Password: password, Now: SrcNow})
}

// MustRead is Read that fails the test on error and checks the
// result's items and history.
func MustRead(t testing.TB, read transfer.SourceReader, file string, password []byte) *transfer.ImportResult {
	t.Helper()
	res, err := Read(t, read, file, password)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	Check(t, res)
	return res
}

// Check checks that every item and revision is valid, and every history
// oldest first with no revision newer than its item.
func Check(t testing.TB, res *transfer.ImportResult) {
	t.Helper()
	Outcome(t, res, nil)
	historyOrder(t, res)
}

// historyOrder checks that every history is oldest first with no revision
// newer than its item.
func historyOrder(t testing.TB, res *transfer.ImportResult) {
	t.Helper()
	for _, im := range res.Items {
		for i, h := range im.History {
			if h.Modified.After(im.Item.Modified) {
				t.Fatalf("item %q history %d is newer than the item", im.Source, i)
			}
			if i > 0 && h.Modified.Before(im.History[i-1].Modified) {
				t.Fatalf("item %q history is not oldest first", im.Source)
			}
		}
	}
}

// ByTitle finds an imported item.
func ByTitle(t testing.TB, res *transfer.ImportResult, title string) transfer.Imported {
	t.Helper()
	for _, im := range res.Items {
		if im.Item.Title == title {
			return im
		}
	}
	var titles []string
	for _, im := range res.Items {
		titles = append(titles, im.Item.Title)
	}
	t.Fatalf("no item titled %q; have %q", title, titles)
	return transfer.Imported{}
}

// Field returns a field by exact name.
func Field(it *item.Item, name string) (item.Field, bool) {
	for _, f := range it.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return item.Field{}, false
}

// FieldCase is one expected field of one item.
type FieldCase = struct {
	Title, Field, Value string
	Kind                item.Kind
	Custom              bool
}

func CheckFields(t *testing.T, res *transfer.ImportResult, cases []FieldCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Title+"/"+c.Field, func(t *testing.T) {
			it := ByTitle(t, res, c.Title).Item
			f, ok := Field(it, c.Field)
			if !ok {
				t.Fatalf("no field %q; fields: %+v", c.Field, it.Fields)
			}
			if f.Value != c.Value || f.Kind != c.Kind || f.Custom != c.Custom {
				t.Fatalf("field %q = %q kind %s custom %v; want %q kind %s custom %v", c.Field, f.Value, f.Kind, f.Custom, c.Value, c.Kind, c.Custom)
			}
		})
	}
}

// HasLine reports whether some Unmapped line contains every part.
func HasLine(lines []string, parts ...string) bool {
	for _, l := range lines {
		ok := true
		for _, p := range parts {
			if !strings.Contains(l, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Fuzz checks a reader's contract on any input: no panic, a result
// or an error but never both, every item valid, history oldest first.
func Fuzz(t *testing.T, read transfer.SourceReader, in []byte, password []byte) {
	res, err := read(in, transfer.ImportOptions{Password: password, Now: SrcNow})
	if Outcome(t, res, err) {
		historyOrder(t, res)
	}
}

// Outcome checks what a reader made of any input: a result or an error
// but never both, an error that wraps ErrSourceFormat or
// ErrSourcePassword, and every item and earlier version of a result
// valid. It reports whether there is a result.
func Outcome(t testing.TB, res *transfer.ImportResult, err error) bool {
	t.Helper()
	if err != nil {
		if res != nil {
			t.Fatalf("a result came with error %v", err)
		}
		if !errors.Is(err, transfer.ErrSourceFormat) && !errors.Is(err, transfer.ErrSourcePassword) {
			t.Fatalf("error %v wraps neither ErrSourceFormat nor ErrSourcePassword", err)
		}
		return false
	}
	for _, im := range res.Items {
		if err := im.Item.Validate(); err != nil {
			t.Fatalf("%s: %v", im.Source, err)
		}
		for _, h := range im.History {
			if err := h.Validate(); err != nil {
				t.Fatalf("%s, earlier version: %v", im.Source, err)
			}
		}
	}
	return true
}

// Dump writes a result in a compact text form that names every part
// of every item, so that a test compares all of it at once.
func Dump(res *transfer.ImportResult) string {
	var b strings.Builder
	for _, imp := range res.Items {
		it := imp.Item
		fmt.Fprintf(&b, "%s %q source=%q", it.Type, it.Title, imp.Source)
		if len(it.Tags) > 0 {
			fmt.Fprintf(&b, " tags=%q", it.Tags)
		}
		if len(it.URLs) > 0 {
			fmt.Fprintf(&b, " urls=%q", it.URLs)
		}
		if it.Favorite {
			b.WriteString(" favorite")
		}
		if !it.Created.Equal(Now) || !it.Modified.Equal(Now) {
			fmt.Fprintf(&b, " created=%s modified=%s", it.Created.Format(time.RFC3339), it.Modified.Format(time.RFC3339))
		}
		b.WriteByte('\n')
		for _, f := range it.Fields {
			c := ""
			if f.Custom {
				c = " custom"
			}
			fmt.Fprintf(&b, "  %s (%s%s) = %q\n", f.Name, f.Kind, c, f.Value)
		}
		if it.Notes != "" {
			fmt.Fprintf(&b, "  notes = %q\n", it.Notes)
		}
	}
	fmt.Fprintf(&b, "skipped %d\n", res.Skipped)
	for _, l := range res.Unmapped {
		fmt.Fprintf(&b, "unmapped: %s\n", l)
	}
	return b.String()
}

// ReadCSV runs read on data, at Now unless opts says otherwise.
func ReadCSV(t *testing.T, read transfer.SourceReader, data []byte, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	t.Helper()
	if opts.Now.IsZero() {
		opts.Now = Now
	}
	return read(data, opts)
}

// CheckValid fails unless every item passes item.Validate and every
// Unmapped line is text.
func CheckValid(t testing.TB, res *transfer.ImportResult) {
	t.Helper()
	for i, imp := range res.Items {
		if imp.Item == nil {
			t.Fatalf("item %d is nil", i)
		}
		if err := imp.Item.Validate(); err != nil {
			t.Fatalf("item %d (%q) is invalid: %v", i, imp.Source, err)
		}
	}
	for _, l := range res.Unmapped {
		if !utf8.ValidString(l) || l == "" {
			t.Fatalf("bad Unmapped line %q", l)
		}
	}
}

// GoldenCase is a fixture file and the Dump of its import.
type GoldenCase = struct{ File, Want string }

// BadCase is a file a reader refuses, and words its error must hold.
type BadCase = struct{ Name, In, Want string }

// Golden compares fixture files with the expected import, field by
// field.
func Golden(t *testing.T, read transfer.SourceReader, tests []GoldenCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.File, func(t *testing.T) {
			res, err := ReadCSV(t, read, File(t, tc.File), transfer.ImportOptions{})
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			CheckValid(t, res)
			if got := Dump(res); got != tc.Want {
				t.Errorf("import of %s:\n--- got\n%s--- want\n%s", tc.File, got, tc.Want)
			}
		})
	}
}

// Bad checks that each input fails with ErrSourceFormat, no result,
// a message containing the given words, and none of the file's secrets.
func Bad(t *testing.T, read transfer.SourceReader, tests []BadCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.Name, func(t *testing.T) {
			res, err := ReadCSV(t, read, []byte(tc.In), transfer.ImportOptions{})
			if err == nil {
				t.Fatalf("import succeeded with %d items; want an error", len(res.Items))
			}
			if res != nil {
				t.Errorf("a result came with the error %v", err)
			}
			if !errors.Is(err, transfer.ErrSourceFormat) {
				t.Errorf("error %v does not wrap ErrSourceFormat", err)
			}
			if !strings.Contains(err.Error(), tc.Want) {
				t.Errorf("error %q does not say %q", err, tc.Want)
			}
			if strings.Contains(err.Error(), "S3CRET") {
				t.Errorf("error %q quotes a value from the file", err)
			}
		})
	}
}

// FuzzCSV is the body of every CSV source fuzz target: no panic, an
// error wraps ErrSourceFormat and comes alone, and what is accepted is
// valid.
func FuzzCSV(f *testing.F, read transfer.SourceReader, seeds []string, files []string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	AddFiles(f, files...)
	f.Fuzz(func(t *testing.T, in []byte) {
		res, err := read(in, transfer.ImportOptions{Now: Now})
		if err != nil {
			if res != nil {
				t.Fatalf("a result came with the error %v", err)
			}
			if !errors.Is(err, transfer.ErrSourceFormat) {
				t.Fatalf("error %v does not wrap ErrSourceFormat", err)
			}
			return
		}
		CheckValid(t, res)
	})
}

// AddFiles adds each file to a fuzz target's seed corpus.
func AddFiles(f *testing.F, files ...string) {
	f.Helper()
	for _, name := range files {
		f.Add(File(f, name))
	}
}

// Now is the time the CSV readers' tests import at.
var Now = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// Allocated returns the bytes f allocates.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
