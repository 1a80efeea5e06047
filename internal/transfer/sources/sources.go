// Package sources is the table of the formats `keyhold import --format`
// reads: one line a format, naming the package that reads it. It is the
// only package that knows every reader; the readers know none of it.
package sources

import (
	"fmt"
	"strings"

	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/bitwarden"
	"github.com/keyhold/keyhold/internal/transfer/browser"
	"github.com/keyhold/keyhold/internal/transfer/kdbx"
	"github.com/keyhold/keyhold/internal/transfer/lastpass"
	"github.com/keyhold/keyhold/internal/transfer/msecure"
	"github.com/keyhold/keyhold/internal/transfer/onepassword"
)

// Format is one format another password manager exports.
type Format struct {
	// Name is the format's name on the command line (--from).
	Name string
	// Read reads a whole file.
	Read transfer.SourceReader
	// Stream, for the CSV formats, reads the file as a stream, so that
	// memory follows the items made rather than the file's size; nil for
	// the formats that need the whole file.
	Stream transfer.CSVStreamReader
}

// Table lists the formats, sorted by name.
func Table() []Format {
	return []Format{
		{Name: "1password-csv", Read: onepassword.ReadCSV, Stream: onepassword.StreamCSV},
		{Name: "1pux", Read: onepassword.Read1PUX},
		{Name: "bitwarden-csv", Read: bitwarden.ReadCSV, Stream: bitwarden.StreamCSV},
		{Name: "bitwarden-json", Read: bitwarden.ReadJSON},
		{Name: "chrome-csv", Read: browser.ReadChrome, Stream: browser.StreamChrome},
		{Name: "firefox-csv", Read: browser.ReadFirefox, Stream: browser.StreamFirefox},
		{Name: "kdbx", Read: kdbx.Read},
		{Name: "lastpass-csv", Read: lastpass.Read, Stream: lastpass.Stream},
		{Name: "msecure-csv", Read: msecure.Read, Stream: msecure.Stream},
	}
}

// Source returns the reader for a format name.
func Source(name string) (transfer.SourceReader, error) {
	for _, f := range Table() {
		if f.Name == name {
			return f.Read, nil
		}
	}
	return nil, fmt.Errorf("unknown import format %q (one of: %s)", name, strings.Join(Names(), ", "))
}

// Names lists the format names, sorted.
func Names() []string {
	var names []string
	for _, f := range Table() {
		names = append(names, f.Name)
	}
	return names
}

// Streamed returns the streaming reader of a CSV export format, or nil
// when the format is not CSV (those readers need the whole file).
func Streamed(name string) transfer.CSVStreamReader {
	for _, f := range Table() {
		if f.Name == name {
			return f.Stream
		}
	}
	return nil
}
