package origin

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/match-cases.md from the table of cases")

// casesMarkdown renders the table of cases as the Markdown table that
// docs/BROWSER.md shows, so that the documentation lists exactly the
// cases the tests check.
func casesMarkdown() string {
	mark := func(r Result) string {
		switch r {
		case HostMatch:
			return "fills (same host)"
		case DomainMatch:
			return "fills"
		}
		return "—"
	}
	cell := func(s string) string {
		if len(s) > 60 {
			s = s[:40] + "…"
		}
		if s == "" {
			return "(empty)"
		}
		return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
	}
	var b strings.Builder
	b.WriteString("| case | saved URL | page | domain mode | exact host |\n|---|---|---|---|---|\n")
	for _, c := range matchCases {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", c.name, cell(c.saved), cell(c.page), mark(c.domain), mark(c.host))
	}
	return b.String()
}

// TestCasesDocumented keeps testdata/match-cases.md, and docs/BROWSER.md
// where it exists, in step with the table of cases (go test -update
// rewrites the former).
func TestCasesDocumented(t *testing.T) {
	want := casesMarkdown()
	const path = "testdata/match-cases.md"
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is out of date: run go test ./internal/origin -run TestCasesDocumented -update", path)
	}
	doc, err := os.ReadFile("../../docs/BROWSER.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), want) {
		t.Errorf("docs/BROWSER.md does not hold the table of %s; paste it there", path)
	}
}
