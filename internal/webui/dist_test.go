package webui

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/webui/build"
	"github.com/keyhold/keyhold/internal/webui/dist"
	"github.com/keyhold/keyhold/internal/webui/manifest"
)

// The tests in this file check the committed build in dist/: that it is
// what the sources build to, that it is whole, and that it keeps to the
// size budget.

// sourcesExist reports whether the tree has the web vault's sources: the
// page (internal/webui/app) and its js/wasm program (cmd/keyhold-web).
func sourcesExist(t *testing.T) bool {
	t.Helper()
	_, errApp := os.Stat("app")
	w, err := build.Discover("../..")
	if err != nil {
		t.Fatal(err)
	}
	return errApp == nil && len(w) > 0
}

// TestCommittedBuildIsReproducible rebuilds the web vault from its sources
// and fails if any committed file differs from what they build to
// (uncompressed bytes), or if the sources exist and nothing is built.
func TestCommittedBuildIsReproducible(t *testing.T) {
	h, err := New(Options{})
	if err != nil {
		t.Fatalf("%v\nregenerate it: %s", err, build.Command)
	}
	if !sourcesExist(t) {
		if h.Built() {
			t.Fatalf("dist/ holds a build, but internal/webui/app or cmd/keyhold-web is missing; regenerate it: %s", build.Command)
		}
		t.Skip("no web vault sources (internal/webui/app, cmd/keyhold-web) and nothing built: nothing to compare")
	}
	if !h.Built() {
		t.Fatalf("the web vault's sources exist but dist/ holds no build; run %s and commit internal/webui/dist", build.Command)
	}
	if testing.Short() {
		t.Skip("-short: not rebuilding the WebAssembly")
	}
	root, _ := filepath.Abs("../..")
	r, err := build.Build(context.Background(), build.Options{Root: root, App: filepath.Join(root, "internal/webui/app"), NoCompress: true})
	if err != nil {
		t.Fatal(err)
	}
	built := map[string][]byte{}
	for _, f := range r.Files {
		built[f.Path] = f.Data
	}
	committed, err := manifest.Parse(dist.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	var differ []string
	for p := range committed.Files {
		if _, ok := built[p]; !ok {
			differ = append(differ, p+" (committed, no longer built)")
		}
	}
	for _, p := range r.Manifest.Paths() {
		got, err := h.Identity(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			differ = append(differ, p+" (built, not committed)")
		case err != nil:
			differ = append(differ, p+" ("+err.Error()+")")
		case manifest.Sum(got) != manifest.Sum(built[p]):
			differ = append(differ, p+" (differs)")
		}
	}
	if len(differ) > 0 || string(committed.Marshal()) != string(r.Manifest.Marshal()) {
		t.Fatalf("the committed web vault (internal/webui/dist) is not what its sources build to:\n  %s\nregenerate it with %s (with %s) and commit the result",
			strings.Join(differ, "\n  "), build.Command, "the go.mod toolchain")
	}
}

// TestEmbeddedFilesMatchManifest: the manifest keyhold embeds (package
// dist) is the one the server serves by, every file it names is embedded
// and hashes to its entry, and nothing else is embedded.
func TestEmbeddedFilesMatchManifest(t *testing.T) {
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(embedded, "dist")
	var stored []string
	fs.WalkDir(sub, manifest.WWW, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			stored = append(stored, p)
		}
		return nil
	})
	if !h.Built() {
		if dist.Manifest() != nil || len(stored) > 0 {
			t.Fatalf("no build is served, yet dist holds a manifest (%v) or files %q", dist.Manifest() != nil, stored)
		}
		t.Skip("no web vault built into this tree")
	}
	m, err := manifest.Parse(dist.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	if m.ID() != h.ID() {
		t.Fatalf("keyhold's manifest is build %s, the server's %s", m.ID(), h.ID())
	}
	names := map[string]bool{}
	for _, p := range m.Paths() {
		b, err := h.Identity(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if manifest.Sum(b) != m.Files[p] {
			t.Errorf("%s: embedded bytes differ from the manifest", p)
		}
		n := manifest.StoreName(p)
		if manifest.StoredCompressed(p) {
			n += manifest.BrotliSuffix
		}
		names[n] = true
	}
	for _, s := range stored {
		if !names[s] {
			t.Errorf("dist/%s is embedded but in no manifest entry", s)
		}
	}
}

// MaxColdWasm is the size budget: all the WebAssembly a cold load of the
// page transfers, brotli-compressed.
const MaxColdWasm = 2_621_440 // 2.5 MiB

// TestWasmSizeBudget reports the brotli size of every WebAssembly module
// of the build and fails when what a cold load transfers is over budget.
// The page loads keyhold.wasm at start (its worker loads the same file,
// from the cache); other modules (keyhold-NAME.wasm) only on the screens
// that need them.
func TestWasmSizeBudget(t *testing.T) {
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Built() {
		t.Skip("no web vault built into this tree: nothing to measure")
	}
	cold, all := 0, 0
	for p, f := range h.files {
		if !strings.HasSuffix(p, ".wasm") {
			continue
		}
		br := f.brotli()
		id, _ := f.identity()
		t.Logf("%s: %d bytes, %d brotli", p, len(id), len(br))
		all += len(br)
		if strings.HasPrefix(p, "/a/keyhold.") {
			cold += len(br)
		}
	}
	t.Logf("cold load: %d bytes of WebAssembly, brotli (budget %d); all modules: %d", cold, MaxColdWasm, all)
	if cold == 0 {
		t.Fatal("the build has no keyhold.wasm")
	}
	if cold > MaxColdWasm {
		t.Fatalf("a cold load transfers %d bytes of WebAssembly (brotli), over the budget of %d", cold, MaxColdWasm)
	}
}
