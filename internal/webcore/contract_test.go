package webcore_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/webui/build"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/testenv"
)

// TestContractUnderNode builds the web vault's two WebAssembly modules as
// the server ships them and drives them through the page's contract
// (docs/WEB.md; testdata/contract.mjs) under Node, against a real
// keyhold-server and an account a CLI vault made: the JavaScript bindings,
// the Promises and error codes, the Argon2 Worker role and the module
// loaded on demand, over the browser's fetch.
func TestContractUnderNode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the WebAssembly modules")
	}
	goCmd := testenv.NeedProgram(t, "go", "golang-go")
	node := testenv.NeedProgram(t, "node", "nodejs")
	dir := t.TempDir()
	for _, m := range []string{"keyhold-web", "keyhold-web-kit"} {
		// Built as the served modules are (build.WasmTags), so the
		// contract checked here is the one the page talks to.
		cmd := exec.Command(goCmd, "build", "-tags", build.WasmTags, "-trimpath", "-buildvcs=false", "-ldflags=-s -w",
			"-o", filepath.Join(dir, m+".wasm"), "github.com/keyhold/keyhold/cmd/"+m)
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", m, err, out)
		}
	}
	root, err := exec.Command(goCmd, "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), js, 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	script, err := filepath.Abs(filepath.Join("testdata", "contract.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script, dir, w.url, w.kit.Text(), string(testPW))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if line == "READY" {
			// The browser is signed in and its sync loop runs: the CLI
			// adds an item, which must appear there live.
			if _, err := w.s.Add(context.Background(), item.New(item.Note, "live from the CLI", time.Now())); err != nil {
				t.Fatal(err)
			}
			w.sync(t)
			stdin.Write([]byte("go\n"))
		}
	}
	err = cmd.Wait()
	if err != nil || !strings.HasSuffix(out.String(), "READY\nok\n") {
		t.Fatalf("the contract under Node: %v\n%s", err, out.String())
	}
}
