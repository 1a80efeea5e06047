package ledger

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The ledger is the only writer of items, history and the manifest: SQL
// that writes them belongs to the storage implementation alone, and only
// the ledger (internal/ledger and its stores) names the manifest's key
// to a function that writes.
const storageDir = "internal/ledger/sqlitestore"

var (
	// A statement that writes the items or history table.
	rowWrite = regexp.MustCompile(`(?is)\b(insert(\s+or\s+\w+)?\s+into|replace\s+into|update|delete\s+from)\s+["\x60]?(items|history)\b`)
	// A write to a table named at run time ("INSERT INTO " + table, or
	// fmt.Sprintf("INSERT INTO %s ...", table)). The bare keyword must end
	// in white space, as a fragment a table name is appended to does: the
	// word "update" alone is an ordinary string (an operation's name).
	dynWrite = regexp.MustCompile(`(?is)(^\s*(insert(\s+or\s+\w+)?\s+into|replace\s+into|update|delete\s+from)\s+$)|\b(insert(\s+or\s+\w+)?\s+into|replace\s+into|update|delete\s+from)\s+%`)
	// A function that writes: its name starts so.
	writerFunc = regexp.MustCompile(`^(?i)(put|set|write|store|exec|insert|update|replace|delete)`)
	// A statement that writes the meta table.
	metaWrite = regexp.MustCompile(`(?is)\b(insert(\s+or\s+\w+)?\s+into|replace\s+into|update|delete\s+from)\s+["\x60]?meta\b`)
)

// offence is one place that writes ledger rows around the ledger.
type offence struct {
	pos  token.Position
	what string
}

// scanSource reports the string literals of one Go file that write the
// items or history tables, write a table named at run time, or write the
// manifest's meta row (named in the statement, or as the literal key
// "manifest" in a file that writes meta).
func scanSource(fset *token.FileSet, name string, src []byte) ([]offence, error) {
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var lits []*ast.BasicLit
	ast.Inspect(f, func(n ast.Node) bool {
		if l, ok := n.(*ast.BasicLit); ok && l.Kind == token.STRING {
			lits = append(lits, l)
		}
		return true
	})
	var out []offence
	writesMeta := false
	for _, l := range lits {
		v, err := strconv.Unquote(l.Value)
		if err != nil {
			continue
		}
		switch {
		case rowWrite.MatchString(v):
			out = append(out, offence{fset.Position(l.Pos()), "writes items or history"})
		case dynWrite.MatchString(v):
			out = append(out, offence{fset.Position(l.Pos()), "writes a table named at run time"})
		case metaWrite.MatchString(v):
			writesMeta = true
			if strings.Contains(v, "'manifest'") {
				out = append(out, offence{fset.Position(l.Pos()), "writes the manifest"})
			}
		}
	}
	if writesMeta {
		for _, l := range lits {
			if v, err := strconv.Unquote(l.Value); err == nil && v == ManifestKey {
				out = append(out, offence{fset.Position(l.Pos()), `names the manifest's meta key in a file that writes meta`})
			}
		}
	}
	// A call of a writing function (putMeta, ExecContext, …) given the
	// manifest's key by name: ledger.ManifestKey, ManifestKey, or a
	// constant of the same value already caught above.
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !writerFunc.MatchString(funcName(call.Fun)) {
			return true
		}
		for _, a := range call.Args {
			if name := funcName(a); name == "ManifestKey" {
				out = append(out, offence{fset.Position(a.Pos()), "passes the manifest's meta key to " + funcName(call.Fun)})
			}
		}
		return true
	})
	return out, nil
}

// funcName is the name an expression ends in: f, or x.f.
func funcName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	}
	return ""
}

func moduleRoot(t *testing.T) string {
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// TestOnlyTheLedgerWrites scans every Go file of the module but tests
// (which tamper with rows on purpose) for SQL that changes items, history
// or the manifest outside the ledger's SQLite storage.
func TestOnlyTheLedgerWrites(t *testing.T) {
	root := moduleRoot(t)
	fset := token.NewFileSet()
	scanned := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == storageDir || rel == "internal/ledger" || d.Name() == "testdata" || d.Name() == "node_modules" || (strings.HasPrefix(d.Name(), ".") && rel != ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned++
		offs, err := scanSource(fset, rel, src)
		if err != nil {
			return err
		}
		for _, o := range offs {
			t.Errorf("%s: %s outside the ledger: go through internal/ledger", o.pos, o.what)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 50 {
		t.Fatalf("scanned only %d Go files under %s", scanned, root)
	}
}

// TestScanSourceFinds checks that the scan reports each kind of write
// around the ledger with its file and line, and passes reads and other
// tables.
func TestScanSourceFinds(t *testing.T) {
	src := "package p\n" +
		"const a = `SELECT rev, box FROM items WHERE id = ?`\n" +
		"const b = `INSERT INTO history (id, rev, box) VALUES (?, ?, ?)`\n" +
		"const c = `UPDATE items SET rev = ?`\n" +
		"const d = \"DELETE FROM \" + \"x\"\n" +
		"const e = `UPDATE meta SET v = ? WHERE k = 'manifest'`\n" +
		"const f = `INSERT INTO remote (id, rev) VALUES (?, ?)`\n" +
		"const g = `INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)`\n" +
		"var h = map[string]int{\"manifest\": 1}\n" +
		"const i = `DELETE FROM items`\n" +
		"const j = \" FOR UPDATE\"\n" +
		"var k = fmt.Sprintf(`DELETE FROM %s WHERE id = ?`, t)\n" +
		"func l() { putMeta(ctx, tx, ledger.ManifestKey, b) }\n" +
		"func m() { getMeta(ctx, tx, ledger.ManifestKey) }\n" +
		"const n = \"update\"\n" +
		"var o = \"UPDATE \" + table\n"
	offs, err := scanSource(token.NewFileSet(), "p/p.go", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range offs {
		got = append(got, o.pos.String())
	}
	want := []string{"p/p.go:3:11", "p/p.go:4:11", "p/p.go:5:11", "p/p.go:6:11", "p/p.go:10:11", "p/p.go:12:21", "p/p.go:16:9", "p/p.go:9:24", "p/p.go:13:29"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("offences at %v, want %v", got, want)
	}
}

// TestCoreImports keeps the ledger and its in-memory store free of what a
// browser build cannot have: SQL drivers, files, processes, system calls;
// and builds them for js/wasm.
func TestCoreImports(t *testing.T) {
	root := moduleRoot(t)
	banned := regexp.MustCompile(`^(database/sql|modernc\.org/.*|os|os/exec|os/signal|syscall|golang\.org/x/sys/.*|net|path/filepath)$`)
	for _, dir := range []string{"internal/ledger", "internal/ledger/memstore"} {
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			n++
			pf, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range pf.Imports {
				p, _ := strconv.Unquote(im.Path.Value)
				if banned.MatchString(p) {
					t.Errorf("%s imports %s", f, p)
				}
			}
		}
		if n == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, "./internal/ledger", "./internal/ledger/memstore")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go build: %v\n%s", err, out)
	}
}
