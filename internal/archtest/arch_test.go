// Package archtest keeps docs/ARCHITECTURE.md true. The document's
// "Import rules" section holds a block of rules that this test reads:
//
//	A -> B C    A imports exactly these internal packages (generated)
//	A !> X Y    A never depends on X or Y, directly or through others
//
// A name ending in /... stands for a package and every package below it.
//
// The "->" lines are the facts, written by `go test ./internal/archtest
// -update` from `go list`; the test fails when the code and the document
// disagree, so a new import or package is a deliberate change to the
// document. The "!>" lines are the rules the layout exists for, written
// by hand and checked against every package A depends on.
package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const (
	mod      = "github.com/keyhold/keyhold/"
	docPath  = "../../docs/ARCHITECTURE.md"
	fenceTop = "```rules"
	fenceEnd = "```"
)

var update = flag.Bool("update", false, "rewrite the -> lines of docs/ARCHITECTURE.md from go list")

// pkg is what go list says of one package of the module.
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// short names a package of the module as the document does: internal/x
// is x; anything else (cmd/..., bench/...) keeps its path.
func short(path string) string {
	p := strings.TrimPrefix(path, mod)
	if s, ok := strings.CutPrefix(p, "internal/"); ok {
		return s
	}
	return p
}

func internalOnly(paths []string) []string {
	var out []string
	for _, p := range paths {
		if strings.HasPrefix(p, mod) {
			out = append(out, short(p))
		}
	}
	slices.Sort(out)
	return out
}

// listModule runs go list over the module (build dependencies only; a
// package's tests may import more).
func listModule(t *testing.T, env ...string) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", "./...")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[short(p.ImportPath)] = p
	}
	return pkgs
}

// rules is the rules block of the document.
type rules struct {
	imports map[string][]string // A -> ...
	never   map[string][]string // A !> ...
	order   []string            // packages with a -> line, in document order
}

// readRules parses the block; start and end are the line indexes of its
// fences, for -update.
func readRules(doc []byte) (r rules, lines []string, start, end int, err error) {
	r = rules{imports: map[string][]string{}, never: map[string][]string{}}
	sc := bufio.NewScanner(bytes.NewReader(doc))
	start, end = -1, -1
	for i := 0; sc.Scan(); i++ {
		line := sc.Text()
		lines = append(lines, line)
		switch {
		case start < 0 && strings.TrimSpace(line) == fenceTop:
			start = i
		case start >= 0 && end < 0 && strings.TrimSpace(line) == fenceEnd:
			end = i
		case start >= 0 && end < 0:
			f := strings.Fields(line)
			if len(f) == 0 || strings.HasPrefix(f[0], "#") {
				continue
			}
			if len(f) < 2 || (f[1] != "->" && f[1] != "!>") {
				return r, nil, 0, 0, fmt.Errorf("line %d of the rules: %q is not \"A -> B ...\" or \"A !> X ...\"", i+1, line)
			}
			if f[1] == "->" {
				if _, dup := r.imports[f[0]]; dup {
					return r, nil, 0, 0, fmt.Errorf("line %d of the rules: a second -> line for %s", i+1, f[0])
				}
				r.imports[f[0]] = f[2:]
				r.order = append(r.order, f[0])
			} else {
				r.never[f[0]] = append(r.never[f[0]], f[2:]...)
			}
		}
	}
	if start < 0 || end < 0 {
		return r, nil, 0, 0, fmt.Errorf("no %s block in %s", fenceTop, docPath)
	}
	return r, lines, start, end, nil
}

func TestDocumentedImports(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	r, lines, start, end, err := readRules(doc)
	if err != nil {
		t.Fatal(err)
	}
	pkgs := listModule(t)
	if *update {
		writeRules(t, r, lines, start, end, pkgs)
		return
	}
	for name, p := range pkgs {
		want, ok := r.imports[name]
		if !ok {
			t.Errorf("%s has no -> line in %s (go test ./internal/archtest -update adds it; then say what it is for)", name, docPath)
			continue
		}
		got := internalOnly(p.Imports)
		if !slices.Equal(got, sortedCopy(want)) {
			t.Errorf("%s imports %v; %s says %v (go test ./internal/archtest -update rewrites the -> lines)", name, got, docPath, want)
		}
	}
	for name := range r.imports {
		if _, ok := pkgs[name]; !ok {
			t.Errorf("%s names %s, which does not exist", docPath, name)
		}
	}
}

func TestNeverDependsOn(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	r, _, _, _, err := readRules(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.never) == 0 {
		t.Fatalf("%s states no !> rules", docPath)
	}
	pkgs := listModule(t)
	for pattern, forbidden := range r.never {
		names := matching(pkgs, pattern)
		if len(names) == 0 {
			t.Errorf("a !> rule names %s, which matches no package", pattern)
			continue
		}
		for _, f := range forbidden {
			if !strings.Contains(f, ".") && len(matching(pkgs, f)) == 0 {
				t.Errorf("a !> rule of %s names %s, which matches no package", pattern, f)
			}
		}
		for _, name := range names {
			for _, dep := range append(internalOnly(pkgs[name].Deps), externalDeps(pkgs[name].Deps)...) {
				for _, f := range forbidden {
					if matches(f, dep) {
						t.Errorf("%s depends on %s (through %s), which %s rules out", name, dep, path(pkgs, name, dep), docPath)
					}
				}
			}
		}
	}
}

// matches reports whether a rule's name covers package p: a name ending
// in /... covers the package and every package below it.
func matches(name, p string) bool {
	if base, ok := strings.CutSuffix(name, "/..."); ok {
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == name
}

func matching(pkgs map[string]pkg, name string) []string {
	var out []string
	for p := range pkgs {
		if matches(name, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// externalDeps lists the module paths outside this module a package
// depends on, so a rule can name one (modernc.org/sqlite).
func externalDeps(deps []string) []string {
	var out []string
	for _, d := range deps {
		if !strings.HasPrefix(d, mod) && strings.Contains(strings.SplitN(d, "/", 2)[0], ".") {
			out = append(out, d)
		}
	}
	return out
}

// path finds one chain of imports from a to b, to name in a failure.
func path(pkgs map[string]pkg, a, b string) string {
	prev := map[string]string{a: ""}
	queue := []string{a}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		var next []string
		if p, ok := pkgs[n]; ok {
			next = internalOnly(p.Imports)
			for _, imp := range p.Imports {
				if imp == b {
					next = append(next, b)
				}
			}
		}
		for _, m := range next {
			if _, seen := prev[m]; seen {
				continue
			}
			prev[m] = n
			if m == b {
				chain := []string{b}
				for c := n; c != ""; c = prev[c] {
					chain = append([]string{c}, chain...)
				}
				return strings.Join(chain, " → ")
			}
			queue = append(queue, m)
		}
	}
	return "an import outside the module"
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// writeRules rewrites the -> lines from go list, keeping the comments
// and !> lines where they are, in the document's order with new packages
// at the end.
func writeRules(t *testing.T, r rules, lines []string, start, end int, pkgs map[string]pkg) {
	var names []string
	for n := range pkgs {
		names = append(names, n)
	}
	slices.Sort(names)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	arrow := func(n string) string {
		return strings.TrimRight(fmt.Sprintf("%-*s -> %s", width, n, strings.Join(internalOnly(pkgs[n].Imports), " ")), " ")
	}
	var body []string
	done := map[string]bool{}
	for _, line := range lines[start+1 : end] {
		f := strings.Fields(line)
		if len(f) >= 2 && f[1] == "->" {
			if _, ok := pkgs[f[0]]; ok {
				body = append(body, arrow(f[0]))
				done[f[0]] = true
			}
			continue
		}
		body = append(body, line)
	}
	for _, n := range names {
		if !done[n] {
			body = append(body, arrow(n))
		}
	}
	out := slices.Concat(lines[:start+1], body, lines[end:])
	if err := os.WriteFile(docPath, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rewrote the -> lines of %s", docPath)
}

// TestModulesDocumented: the third-party table of docs/ARCHITECTURE.md
// names every module go.mod requires directly, and nothing else, so a
// dependency is never added or dropped without saying why.
func TestModulesDocumented(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{if not .Indirect}}{{if not .Main}}{{.Path}}{{end}}{{end}}", "all")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	var required []string
	for _, m := range strings.Fields(string(out)) {
		required = append(required, m)
	}
	documented := modulesInDoc(string(doc))
	for _, m := range required {
		if !slices.Contains(documented, m) {
			t.Errorf("go.mod requires %s, which the third-party table of %s does not name: say what it is for", m, docPath)
		}
	}
	for _, m := range documented {
		if !slices.Contains(required, m) {
			t.Errorf("%s names %s, which go.mod does not require", docPath, m)
		}
	}
}

// modulesInDoc lists the modules the "Third-party modules" section names:
// every `path` in its table's first column, and those of its lines that
// say they are used by the tests only.
func modulesInDoc(doc string) []string {
	_, sec, _ := strings.Cut(doc, "## Third-party modules")
	sec, _, _ = strings.Cut(sec, "\n## ")
	var mods []string
	for _, line := range strings.Split(sec, "\n") {
		var names string
		switch {
		case strings.HasPrefix(line, "|"):
			names = strings.SplitN(line[1:], "|", 2)[0]
		case strings.Contains(line, "used by the tests only"):
			names = line
		default:
			continue
		}
		parts := strings.Split(names, "`")
		for i := 1; i < len(parts); i += 2 {
			if p := parts[i]; strings.Contains(p, ".") && strings.Contains(p, "/") && !strings.ContainsAny(p, " (") {
				mods = append(mods, p)
			}
		}
	}
	return mods
}
