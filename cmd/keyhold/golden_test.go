//go:build unix

package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// updateGolden rewrites the --json golden files from what the commands
// print now: go test ./cmd/keyhold -run 'Scripts/json' -update.
var updateGolden = flag.Bool("update", false, "rewrite testdata/json/*.json from the commands' output")

// goldenDir holds one file per --json document keyhold prints. Scripts
// keep their documents stable: a renamed key, a changed key order or a
// number printed differently fails the script that prints it.
const goldenDir = "testdata/json"

var (
	reUUID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	reTime = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	rePort = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	reSK   = regexp.MustCompile(`K1(-[0-9A-Z]{4}){7}`)
	reDev  = regexp.MustCompile(`"[0-9a-f]{32}"`)
)

// normaliseJSON replaces what changes from run to run in a --json
// document with placeholders that still show its shape: ids, times (with
// or without fractions, UTC or not), loopback ports, Secret Keys, device ids, the
// script's work directory, and the values of the keys named in mask
// (a string becomes "<key>", anything else <key>).
func normaliseJSON(doc, work string, mask []string) string {
	if work != "" {
		doc = strings.ReplaceAll(doc, work, "$WORK")
	}
	doc = reUUID.ReplaceAllString(doc, "<uuid>")
	doc = reTime.ReplaceAllStringFunc(doc, func(s string) string {
		m := reTime.FindStringSubmatch(s)
		out := "<time"
		if m[1] != "" {
			out += ".frac"
		}
		if m[2] != "Z" {
			out += "+off"
		}
		return out + ">"
	})
	doc = rePort.ReplaceAllString(doc, "127.0.0.1:<port>")
	doc = reSK.ReplaceAllString(doc, "<secret-key>")
	doc = reDev.ReplaceAllString(doc, `"<device-id>"`)
	for _, k := range mask {
		re := regexp.MustCompile(`("` + regexp.QuoteMeta(k) + `": )("(?:[^"\\]|\\.)*"|[^,\n\]}]+)`)
		doc = re.ReplaceAllStringFunc(doc, func(s string) string {
			m := re.FindStringSubmatch(s)
			if strings.HasPrefix(m[2], `"`) {
				return m[1] + `"<` + k + `>"`
			}
			return m[1] + "<" + k + ">"
		})
	}
	return doc
}

// golden NAME [KEY...]
// compares the last command's stdout, normalised (see normaliseJSON, KEY
// names values to mask), with testdata/json/NAME.json; with -update it
// writes the file instead.
func cmdGolden(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: golden NAME [KEY...]")
	}
	got := normaliseJSON(ts.ReadFile("stdout"), ts.Getenv("WORK"), args[1:])
	path, err := filepath.Abs(filepath.Join(goldenDir, args[0]+".json"))
	ts.Check(err)
	if *updateGolden {
		ts.Check(os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		ts.Fatalf("golden: %v (run go test with -update to write it)", err)
	}
	if got != string(want) {
		ts.Fatalf("golden %s: stdout differs from %s\n--- got\n%s--- want\n%s", args[0], path, got, want)
	}
}
