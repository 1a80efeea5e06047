package cli

import (
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"
)

// TestWriteColumnsAsTabwriter: list's own column writer prints exactly
// what text/tabwriter (padding 2, spaces) printed before it, including for
// cells with wide or combining characters, empty cells, and the
// characters tabwriter treats specially.
func TestWriteColumnsAsTabwriter(t *testing.T) {
	cases := map[string][]string{
		"none":    nil,
		"one":     {"GitHub", "login", "alice", "0190-aaaa"},
		"unicode": {"Ünïcödé 名前", "login", "", "id1", "a", "note", "bøb", "id2", "e\u0301", "card", "x", "id3"},
		"tab":     {"a\tb", "login", "u", "id1", "c", "login", "", "id2"},
		"newline": {"first\nsecond", "note", "", "id1", "z", "login", "u", "id2"},
		"vtab-ff": {"a\vb", "x", "y", "id1", "c\fd", "x", "y", "id2"},
		"escape":  {"a\xffb\xff", "x", "y", "id1", "c", "x", "y", "id2"},
		"empty":   {"", "", "", "", "", "", "", ""},
	}
	for name, cells := range cases {
		var want bytes.Buffer
		tw := tabwriter.NewWriter(&want, 0, 0, 2, ' ', 0)
		for i := 0; i < len(cells); i += 4 {
			tw.Write([]byte(strings.Join(cells[i:i+4], "\t") + "\n"))
		}
		tw.Flush()
		var got bytes.Buffer
		if err := writeColumns(&got, len(cells)/4, 4, func(i, j int) string { return cells[4*i+j] }); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s:\n got %q\nwant %q", name, got.String(), want.String())
		}
	}
}
