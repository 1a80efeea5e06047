//go:build unix

package browsertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/testenv"
)

const vectorDir = "../../testdata/vectors"

const katHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>known answers</title><link rel="icon" href="data:,">
<script src="wasm_exec.js"></script><script src="kat.js" defer></script></head>
<body><p role="status" id="status">running</p></body></html>`

const katJS = `const status = document.getElementById("status");
globalThis.katDone = () => { status.textContent = globalThis.katError ? "error: " + globalThis.katError : "done"; };
(async () => {
  const files = await (await fetch("files.json")).json();
  const input = {};
  for (const f of files) input[f] = await (await fetch("vectors/" + f)).text();
  globalThis.katInput = input;
  const go = new Go();
  go.argv = ["kat"];
  const {instance} = await WebAssembly.instantiateStreaming(fetch("kat.wasm"), go.importObject);
  await go.run(instance);
})().catch((e) => { status.textContent = "error: " + e; });
`

// katResult mirrors testdata/kat's Result.
type katResult struct {
	File   string            `json:"file"`
	Name   string            `json:"name"`
	Result string            `json:"result"`
	Out    map[string]string `json:"out"`
}

// TestKnownAnswersInChromium runs the core's known-answer vectors inside
// Chromium's WebAssembly, under the web vault's Content-Security-Policy:
// key derivation (Argon2id and the key schedule), envelopes, item boxes,
// key checks, key files, manifests, rotation transitions and OPAQUE. The
// program (testdata/kat) opens every vector and seals the valid ones
// again; its output in the browser must be byte for byte its native
// output, and both must agree with the committed vectors.
func TestKnownAnswersInChromium(t *testing.T) {
	goCmd := testenv.NeedProgram(t, "go", "golang-go")
	Program(t)
	dir := t.TempDir()
	build := func(out string, env ...string) {
		cmd := exec.Command(goCmd, "build", "-trimpath", "-o", out, "./testdata/kat")
		cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0"}, env...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the known-answer program %v: %v\n%s", env, err, b)
		}
	}
	build(filepath.Join(dir, "kat"))
	build(filepath.Join(dir, "kat.wasm"), "GOOS=js", "GOARCH=wasm")
	goroot, err := exec.Command(goCmd, "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	wasmExec := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js")

	native, err := exec.Command(filepath.Join(dir, "kat"), vectorDir).Output()
	if err != nil {
		t.Fatalf("the known-answer program, natively: %v", err)
	}

	files, err := filepath.Glob(filepath.Join(vectorDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	mux := http.NewServeMux()
	strict := func(ctype string, h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", WebVaultCSP)
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Content-Type", ctype)
			h(w, r)
		}
	}
	file := func(ctype, path string) http.HandlerFunc {
		return strict(ctype, func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) })
	}
	mux.Handle("/{$}", strict("text/html; charset=utf-8", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, katHTML) }))
	mux.Handle("/kat.js", strict("text/javascript", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, katJS) }))
	mux.Handle("/files.json", strict("application/json", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(names) }))
	mux.Handle("/wasm_exec.js", file("text/javascript", wasmExec))
	mux.Handle("/kat.wasm", file("application/wasm", filepath.Join(dir, "kat.wasm")))
	for _, n := range names {
		mux.Handle("/vectors/"+n, file("application/json", filepath.Join(vectorDir, n)))
	}
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()

	b := Start(t, Options{TrustSPKI: []string{SPKIHash(srv.Certificate())}})
	p := b.NewPage(t, Desktop)
	p.Timeout = 3 * 60e9 // the js/wasm build derives keys slowly
	p.Navigate(srv.URL + "/")
	p.WaitText("done")
	inBrowser := Eval[string](p, "globalThis.katResult")

	if !bytes.Equal([]byte(inBrowser), native) {
		t.Errorf("Chromium's WebAssembly computed other bytes than the native build:\n%s", firstDifference(inBrowser, string(native)))
	}
	t.Logf("Chromium computed %d bytes of known answers", len(inBrowser))
	checkAgainstVectors(t, []byte(inBrowser))
	p.ExpectClean(t, srv.URL, nil)
}

func firstDifference(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n\tChromium: %s\n\tnative:   %s", i+1, x, y)
		}
	}
	return "(same lines)"
}

// outputs are the fields of each file's vectors that decoding yields (the
// others are inputs).
var outputs = map[string][]string{
	"envelope.json":        {"account_key", "wrap_key", "login_key"},
	"envelope_header.json": {"wrap_key", "login_key"},
	"item.json":            {"plaintext"},
	"keyfile.json":         {"account_key"},
	"transition.json":      {"new_secret_key", "new_account_key"},
}

// checkAgainstVectors compares the program's output with the committed
// vectors: every vector ran, gave the declared outcome, decoded to the
// recorded values, and the valid ones sealed again to the recorded bytes.
func checkAgainstVectors(t *testing.T, doc []byte) {
	t.Helper()
	var results []katResult
	if err := json.Unmarshal(doc, &results); err != nil {
		t.Fatal(err)
	}
	got := map[string]katResult{}
	for _, r := range results {
		got[r.File+"\x00"+r.Name] = r
	}
	sealed := 0
	for _, f := range []string{"envelope.json", "envelope_header.json", "item.json", "keycheck.json", "keyfile.json", "manifest.json", "transition.json", "login.json"} {
		raw, err := os.ReadFile(filepath.Join(vectorDir, f))
		if err != nil {
			t.Fatal(err)
		}
		var vs []map[string]any
		if err := json.Unmarshal(raw, &vs); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			name, _ := v["name"].(string)
			str := func(k string) string { s, _ := v[k].(string); return s }
			r, ok := got[f+"\x00"+name]
			if !ok {
				t.Errorf("%s %q: not computed", f, name)
				continue
			}
			want := str("expect")
			if f == "login.json" {
				want = "ok"
				for k, w := range map[string]string{"register_response": str("register_response"), "login": "ok", "login_other_key": "ErrServerAuth"} {
					if r.Out[k] != w {
						t.Errorf("%s %q: %s is %q, want %q", f, name, k, r.Out[k], w)
					}
				}
			}
			if r.Result != want {
				t.Errorf("%s %q: %s, want %s", f, name, r.Result, want)
			}
			for _, k := range outputs[f] {
				if w := str(k); w != "" && r.Result == "ok" && r.Out[k] != w {
					t.Errorf("%s %q: %s is %q, want %q", f, name, k, r.Out[k], w)
				}
			}
			if s, ok := r.Out["sealed"]; ok {
				sealed++
				if s != str("encoded") {
					t.Errorf("%s %q: sealing the vector's inputs gave\n%s, want\n%s", f, name, s, str("encoded"))
				}
			}
			if rm, ok := r.Out["remarshal"]; ok && f != "keyfile.json" && rm != str("encoded") {
				t.Errorf("%s %q: re-encoding gave other bytes", f, name)
			}
		}
	}
	// The valid envelope (both versions), item, key check, both manifests
	// and the transition are sealed again.
	if sealed < 7 {
		t.Errorf("only %d vectors were sealed again, want at least 7", sealed)
	}
	if r := got["(none)\x00derive t=1 m=16MiB p=4"]; r.Result != "ok" || len(r.Out["wrap_key"]) != 64 {
		t.Errorf("the 16 MiB derivation: %+v", r)
	}
}
