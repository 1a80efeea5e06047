package wasmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/testenv"
)

const mod = "github.com/keyhold/keyhold/"

// clientPackages is the one list of the packages a browser client (the
// web vault, the browser extension) is built from. Every check in this
// file covers each of them; add a package here when a client needs it.
//
// runTests says whether the package's own tests also run under js/wasm
// (TestCoreUnderWasm). They do for the packages whose bytes must be the
// same everywhere; not for packages whose tests drive programs (the kit
// renders PDFs with poppler, strength runs the go command), which a
// browser has none of.
var clientPackages = []struct {
	path     string // relative to the module
	runTests bool
}{
	{"internal/keys", true},     // key derivation, the Secret Key, sealing
	{"internal/format", true},   // envelopes, items, manifest: the known-answer vectors
	{"internal/item", true},     // the item model
	{"internal/jsonscan", true}, // JSON strings and integers for item's and api's fast paths
	{"internal/merge", true},    // the merge rules
	{"internal/pake", true},     // OPAQUE login
	{"internal/api", true},      // the wire types the sync client speaks
	{"internal/strength", false},
	{"internal/gen", true},         // the password and passphrase generator
	{"internal/kit", false},        // the kit's QR code and PDF, written and read
	{"internal/kit/kittext", true}, // the kit's text form: its known-answer vectors
	// The vault's write rules over the in-memory store; the ledger's
	// tests also run on SQLite, so they run natively only.
	{"internal/ledger", false},
	{"internal/ledger/memstore", false},
	{"internal/vaultsync", true},   // what the vault and the sync client exchange
	{"internal/syncclient", false}, // server sync; its tests run a server
	// The device's copy and its sync rules; its tests also run on SQLite
	// and a server, so they run natively only.
	{"internal/replica", false},
	{"internal/otpcode", true}, // TOTP codes
	{"internal/health", false}, // weak and reused passwords (strength's tests drive programs)
	// The web vault's session; its tests run a server.
	{"internal/webcore", false},
	// The web vault's WebAssembly module itself (built, not tested: it
	// needs a page's JavaScript).
	{"cmd/keyhold-web", false},
	// Its second module, loaded on demand, and what it runs.
	{"internal/webcore/webextras", false},
	{"cmd/keyhold-web-kit", false},
}

// forbidden are the packages no client package may pull in, directly or
// through others, each with the reason. A package matches its own path
// and the paths below it.
var forbidden = []struct{ path, why string }{
	{"modernc.org/sqlite", "SQLite: a browser keeps the vault in memory and IndexedDB"},
	{"modernc.org/libc", "the C runtime SQLite runs on"},
	{"database/sql", "a SQL database"},
	{"github.com/jackc/pgx", "PostgreSQL"},
	{"os/exec", "it starts programs, which a browser cannot"},
	{"os/signal", "operating-system signals"},
	{"os/user", "the operating system's user database"},
	{"plugin", "loading native code"},
	{"golang.org/x/sys", "raw system calls"},
	{"golang.org/x/term", "the terminal"},
	{"github.com/godbus/dbus", "D-Bus"},
	{"github.com/zalando/go-keyring", "the operating system's key store"},
	{"github.com/atotto/clipboard", "the system clipboard"},
	{"github.com/Microsoft/go-winio", "Windows named pipes"},
	{"github.com/danieljoos/wincred", "the Windows credential store"},
	{mod + "internal/vault", "the local vault on SQLite and files"},
	{mod + "internal/keystore", "the operating system's key store"},
	{mod + "internal/agent", "the unlock agent's socket"},
	{mod + "internal/clip", "the system clipboard"},
	{mod + "internal/cli", "the command line"},
	{mod + "internal/atomicfile", "files on disk"},
	{mod + "internal/server", "the server"},
}

// allowed are packages under a forbidden path that a client may use.
var allowed = map[string]string{
	"database/sql/driver":  "interfaces only, no database; github.com/google/uuid implements them",
	"golang.org/x/sys/cpu": "CPU feature detection, which makes no system call on js/wasm",
}

func forbiddenWhy(path string) (string, bool) {
	if _, ok := allowed[path]; ok {
		return "", false
	}
	for _, f := range forbidden {
		if path == f.path || strings.HasPrefix(path, f.path+"/") {
			return f.why, true
		}
	}
	return "", false
}

func clientImportPaths(testsOnly bool) []string {
	var paths []string
	for _, p := range clientPackages {
		if !testsOnly || p.runTests {
			paths = append(paths, mod+p.path)
		}
	}
	return paths
}

func short(path string) string { return strings.TrimPrefix(path, mod) }

// jsEnv is the environment of a go command that targets browsers.
func jsEnv() []string {
	return append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
}

func goTool(t *testing.T) string {
	t.Helper()
	return testenv.NeedProgram(t, "go", "golang-go")
}

// TestClientPackagesBuildForWasm compiles every client package for
// GOOS=js GOARCH=wasm.
func TestClientPackagesBuildForWasm(t *testing.T) {
	cmd := exec.Command(goTool(t), append([]string{"build"}, clientImportPaths(false)...)...)
	cmd.Env = jsEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the client packages do not build for js/wasm: %v\n%s", err, out)
	}
}

// listed is what `go list -json` says of one package.
type listed struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Error      *struct{ Err string }
}

// listDeps lists roots and everything they import, as built for js/wasm.
func listDeps(t *testing.T, roots ...string) map[string]*listed {
	t.Helper()
	args := append([]string{"list", "-e", "-deps", "-json=ImportPath,Standard,Imports,Error"}, roots...)
	cmd := exec.Command(goTool(t), args...)
	cmd.Env = jsEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs := map[string]*listed{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listed
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = &p
	}
	for _, r := range roots {
		p, ok := pkgs[r]
		if !ok {
			t.Fatalf("go list did not list %s", r)
		}
		if p.Error != nil {
			t.Fatalf("%s: %s", r, p.Error.Err)
		}
	}
	return pkgs
}

// portabilityProblems returns one line for each forbidden package a root
// pulls in, and for each non-standard package it pulls in that makes
// system calls of its own (imports syscall; syscall/js, the bridge to
// JavaScript, is fine), naming the chain of imports that leads there.
func portabilityProblems(pkgs map[string]*listed, roots []string) []string {
	var problems []string
	for _, root := range roots {
		// Breadth first, so that each chain reported is a shortest one.
		parent := map[string]string{root: ""}
		queue := []string{root}
		chain := func(p string) string {
			var c []string
			for ; p != ""; p = parent[p] {
				c = append(c, short(p))
			}
			slices.Reverse(c)
			return strings.Join(c, " -> ")
		}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if why, bad := forbiddenWhy(p); bad && p != root {
				problems = append(problems, fmt.Sprintf("%s pulls in %s (%s): %s", short(root), short(p), why, chain(p)))
				continue // what lies beyond it is its own business
			}
			lp := pkgs[p]
			if lp == nil {
				continue
			}
			if !lp.Standard && slices.Contains(lp.Imports, "syscall") {
				problems = append(problems, fmt.Sprintf("%s pulls in %s, which makes system calls of its own (imports syscall): %s", short(root), short(p), chain(p)))
			}
			for _, imp := range lp.Imports {
				if _, seen := parent[imp]; !seen {
					parent[imp] = p
					queue = append(queue, imp)
				}
			}
		}
	}
	return problems
}

// TestClientPackagesStayPortable: built for js/wasm, no client package
// pulls in SQLite, starts programs, or talks to the operating system
// beyond what Go's own runtime does for the browser.
func TestClientPackagesStayPortable(t *testing.T) {
	roots := clientImportPaths(false)
	for _, p := range portabilityProblems(listDeps(t, roots...), roots) {
		t.Error(p)
	}
}

// TestPortabilityCheckFindsOSPackages shows that the check above can
// fail: packages known to need the operating system are reported, each
// with the chain of imports that brings the offending package in.
func TestPortabilityCheckFindsOSPackages(t *testing.T) {
	tests := []struct {
		root string // a package that is not portable
		want string // a line that must be among the problems
	}{
		{"internal/vault", "internal/vault pulls in modernc.org/sqlite (SQLite: a browser keeps the vault in memory and IndexedDB): internal/vault -> modernc.org/sqlite"},
		{"internal/clip", "internal/clip pulls in os/exec (it starts programs, which a browser cannot): internal/clip -> os/exec"},
		{"internal/keystore", "internal/keystore pulls in github.com/zalando/go-keyring (the operating system's key store): internal/keystore -> github.com/zalando/go-keyring"},
	}
	for _, tc := range tests {
		t.Run(tc.root, func(t *testing.T) {
			root := mod + tc.root
			problems := portabilityProblems(listDeps(t, root), []string{root})
			if !slices.Contains(problems, tc.want) {
				t.Errorf("the check did not report\n\t%s\nit reported:\n\t%s", tc.want, strings.Join(problems, "\n\t"))
			}
		})
	}
	// A package that is only reached through a forbidden one is not
	// blamed on its own: the chain names the first forbidden step.
	pkgs := map[string]*listed{
		mod + "internal/a":     {ImportPath: mod + "internal/a", Imports: []string{mod + "internal/vault"}},
		mod + "internal/vault": {ImportPath: mod + "internal/vault", Imports: []string{"modernc.org/sqlite"}},
		"modernc.org/sqlite":   {ImportPath: "modernc.org/sqlite"},
	}
	got := portabilityProblems(pkgs, []string{mod + "internal/a"})
	want := []string{"internal/a pulls in internal/vault (the local vault on SQLite and files): internal/a -> internal/vault"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// A third-party package making its own system calls is reported.
	pkgs = map[string]*listed{
		mod + "internal/a": {ImportPath: mod + "internal/a", Imports: []string{"example.com/raw"}},
		"example.com/raw":  {ImportPath: "example.com/raw", Imports: []string{"syscall"}},
		"syscall":          {ImportPath: "syscall", Standard: true},
	}
	got = portabilityProblems(pkgs, []string{mod + "internal/a"})
	want = []string{"internal/a pulls in example.com/raw, which makes system calls of its own (imports syscall): internal/a -> example.com/raw"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// knownAnswers are tests that must pass under js/wasm, not merely be
// absent or skipped there: the known-answer vectors and the checks that
// pin derivation and sealing bytes.
var knownAnswers = map[string][]string{
	"internal/keys":   {"TestSealCommitsToKey", "TestDeriveNeedsBothSecrets"},
	"internal/format": {"TestVectors", "TestServerEntryKnownAnswer", "TestEnvelopeHeaderMatchesEnvelope", "TestTransitionLayout"},
	"internal/pake":   {"TestVectors", "TestRoundTrip"},
	// The kit's setup code, as the web vault reads it when typed.
	"internal/kit/kittext": {"TestVectors"},
}

// testEvent is one line of `go test -json`.
type testEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// TestCoreUnderWasm runs the tests of the client packages marked
// runTests compiled for js/wasm, under Node through Go's own runner
// (GOROOT/lib/wasm/go_js_wasm_exec). Among them are the known-answer
// vectors of internal/format (key derivation, the envelope, item and
// manifest sealing) and internal/pake's login vectors (OPAQUE): passing
// here means a browser derives, seals and logs in with the same bytes as
// the desktop. The child go test gets -count=1 so that it really runs.
func TestCoreUnderWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the core's tests under js/wasm take a while")
	}
	goCmd := goTool(t)
	testenv.NeedProgram(t, "node", "nodejs")
	out, err := exec.Command(goCmd, "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	runner := filepath.Join(strings.TrimSpace(string(out)), "lib", "wasm", "go_js_wasm_exec")
	if _, err := os.Stat(runner); err != nil {
		t.Fatalf("Go's js/wasm test runner is missing (Go 1.24 or later keeps it in GOROOT/lib/wasm): %v", err)
	}
	pkgs := clientImportPaths(true)
	args := append([]string{"test", "-count=1", "-json", "-timeout=5m", "-exec=" + runner}, pkgs...)
	cmd := exec.Command(goCmd, args...)
	cmd.Env = jsEnv()
	res, runErr := cmd.CombinedOutput()

	// What each package's tests said, and which top-level tests passed.
	output := map[string]*strings.Builder{}
	result := map[string]string{}
	passed := map[string]bool{}
	var other strings.Builder // lines that are not events (go's own errors)
	for _, line := range bytes.Split(res, []byte("\n")) {
		var e testEvent
		if len(line) == 0 {
			continue
		}
		if json.Unmarshal(line, &e) != nil || e.Action == "" {
			other.Write(line)
			other.WriteByte('\n')
			continue
		}
		if e.Package == "" { // a build failure's output (build-output events)
			other.WriteString(e.Output)
			continue
		}
		if output[e.Package] == nil {
			output[e.Package] = &strings.Builder{}
		}
		output[e.Package].WriteString(e.Output)
		switch {
		case e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			result[e.Package] = e.Action
		case e.Action == "pass" && !strings.Contains(e.Test, "/"):
			passed[e.Package+" "+e.Test] = true
		}
	}
	for _, p := range pkgs {
		if result[p] != "pass" {
			var said string
			if output[p] != nil {
				said = output[p].String()
			}
			t.Errorf("%s under js/wasm: %q, want pass:\n%s%s", short(p), result[p], said, other.String())
		}
	}
	for p, tests := range knownAnswers {
		for _, name := range tests {
			if !passed[mod+p+" "+name] {
				t.Errorf("%s %s did not pass under js/wasm", p, name)
			}
		}
	}
	if runErr != nil && !t.Failed() {
		t.Errorf("go test for js/wasm: %v\n%s", runErr, other.String())
	}
}
