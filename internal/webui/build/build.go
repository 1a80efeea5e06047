// Package build turns the web vault's sources into the files the server
// embeds (internal/webui/dist): it compiles the js/wasm programs
// (cmd/keyhold-web and any cmd/keyhold-web-*), copies wasm_exec.js from
// the same toolchain, names every file but index.html, sw.js and
// manifest.webmanifest by its content hash under /a/, rewrites the
// references in index.html (adding Subresource Integrity), CSS and the web
// app manifest, fills index.html's asset table, and writes the manifest
// and brotli copies of the WebAssembly. The output depends only on the
// sources and the toolchain: no time, no path, sorted everywhere, so that
// a test can rebuild it and compare (docs/WEB.md).
package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/andybalholm/brotli"

	"github.com/keyhold/keyhold/internal/webui/manifest"
)

// Command is the one command that regenerates internal/webui/dist; error
// messages and tests name it.
const Command = "go generate ./internal/webui"

// Entry is one js/wasm program of the build.
type Entry struct {
	Name string // the asset name: keyhold.wasm, keyhold-kit.wasm
	Pkg  string // the package, relative to the module root: ./cmd/keyhold-web
}

// Options say what to build.
type Options struct {
	// Root is the module root (the directory of go.mod).
	Root string
	// App is the directory of the page's sources (internal/webui/app).
	App string
	// Wasm are the programs to build; nil: Discover(Root).
	Wasm []Entry
	// Go is the go command (default "go").
	Go string
	// BrotliQuality for the stored copies (default 11, the smallest).
	BrotliQuality int
	// NoCompress leaves out the brotli copies: what a comparison of the
	// uncompressed files needs, in a fraction of the time.
	NoCompress bool
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// File is one served file of a build.
type File struct {
	Path string // the URL path: "/", "/sw.js", "/a/app.3f2a9c1e0d3b7a8f.js"
	Data []byte // the bytes served, uncompressed
	// Brotli is the stored copy, for paths manifest.StoredCompressed
	// names (nil with Options.NoCompress).
	Brotli []byte
}

// Result is a whole build.
type Result struct {
	Files    []File // sorted by Path
	Manifest *manifest.Manifest
	Table    *manifest.AssetTable
}

// Discover lists the js/wasm programs under root/cmd: keyhold-web (asset
// keyhold.wasm) and every keyhold-web-NAME (keyhold-NAME.wasm), sorted.
func Discover(root string) ([]Entry, error) {
	dirs, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, d := range dirs {
		n := d.Name()
		if !d.IsDir() || (n != "keyhold-web" && !strings.HasPrefix(n, "keyhold-web-")) {
			continue
		}
		gofiles, _ := filepath.Glob(filepath.Join(root, "cmd", n, "*.go"))
		if len(gofiles) == 0 {
			continue
		}
		out = append(out, Entry{Name: "keyhold" + strings.TrimPrefix(n, "keyhold-web") + ".wasm", Pkg: "./cmd/" + n})
	}
	return out, nil
}

// Unhashed are the app files served under their own names at the root:
// the page, the service worker (whose URL must stay the same for the
// browser to update it) and the web app manifest.
var unhashed = map[string]bool{manifest.IndexFile: true, "sw.js": true, "manifest.webmanifest": true}

// Build builds everything in memory.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Go == "" {
		o.Go = "go"
	}
	if o.BrotliQuality == 0 {
		o.BrotliQuality = brotli.BestCompression
	}
	if o.Wasm == nil {
		w, err := Discover(o.Root)
		if err != nil {
			return nil, err
		}
		o.Wasm = w
	}
	if len(o.Wasm) == 0 {
		return nil, fmt.Errorf("no WebAssembly program to build: expected %s", filepath.Join(o.Root, "cmd", "keyhold-web"))
	}
	if err := checkToolchain(ctx, o); err != nil {
		return nil, err
	}
	src, err := readApp(o.App)
	if err != nil {
		return nil, err
	}
	if _, ok := src[manifest.IndexFile]; !ok {
		return nil, fmt.Errorf("%s has no %s", o.App, manifest.IndexFile)
	}
	for _, reserved := range []string{"manifest", "version"} {
		if _, ok := src[reserved]; ok {
			return nil, fmt.Errorf("%s: a file may not be named %q, a key of the asset table", o.App, reserved)
		}
	}
	tmp, err := os.MkdirTemp("", "keyhold-webbuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, e := range o.Wasm {
		if _, dup := src[e.Name]; dup {
			return nil, fmt.Errorf("%s: the app has a file named %s, which the build makes itself", o.App, e.Name)
		}
		logf(o, "building %s from %s (js/wasm)", e.Name, e.Pkg)
		out := filepath.Join(tmp, e.Name)
		cmd := exec.CommandContext(ctx, o.Go, "build", "-tags", WasmTags, "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, e.Pkg)
		cmd.Dir = o.Root
		cmd.Env = wasmEnv()
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %v\n%s", e.Pkg, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return nil, err
		}
		src[e.Name] = b
	}
	goroot, err := goEnv(ctx, o, "GOROOT")
	if err != nil {
		return nil, err
	}
	if _, dup := src["wasm_exec.js"]; dup {
		return nil, fmt.Errorf("%s: the app has a file named wasm_exec.js, which the build copies from the toolchain", o.App)
	}
	we, err := os.ReadFile(filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return nil, fmt.Errorf("wasm_exec.js of the toolchain: %w", err)
	}
	src["wasm_exec.js"] = we
	r, err := assemble(src)
	if err != nil {
		return nil, err
	}
	if !o.NoCompress {
		for i := range r.Files {
			f := &r.Files[i]
			if manifest.StoredCompressed(f.Path) {
				logf(o, "compressing %s (brotli %d)", f.Path, o.BrotliQuality)
				f.Brotli = Brotli(f.Data, o.BrotliQuality)
			}
		}
	}
	return r, nil
}

// Brotli compresses b at quality q with the largest window.
func Brotli(b []byte, q int) []byte {
	var buf bytes.Buffer
	w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: q, LGWin: 24})
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func logf(o Options, format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

// wasmEnv is the environment of the js/wasm builds: this process's, with
// everything that changes the output pinned.
// WasmTags are the build tags of the web vault's WebAssembly modules.
// nethttpomithttp2 leaves HTTP/2 out of net/http: under js/wasm every
// request goes through the browser's fetch, which speaks HTTP/2 itself,
// and the unused client code costs about 140 KB of brotli in the module
// a cold load transfers (docs/WEB.md, the size budget).
const WasmTags = "nethttpomithttp2"

func wasmEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOOS", "GOARCH", "CGO_ENABLED", "GOWASM", "GOFLAGS", "GOEXPERIMENT":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0", "GOWASM=", "GOFLAGS=-mod=readonly", "GOEXPERIMENT=")
}

func goEnv(ctx context.Context, o Options, name string) (string, error) {
	cmd := exec.CommandContext(ctx, o.Go, "env", name)
	cmd.Dir = o.Root
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

var toolchainRE = regexp.MustCompile(`(?m)^toolchain\s+(go\S+)\s*$`)

// checkToolchain refuses to build with another Go release than go.mod's
// toolchain line names: the committed files are reproducible only with
// that one.
func checkToolchain(ctx context.Context, o Options) error {
	mod, err := os.ReadFile(filepath.Join(o.Root, "go.mod"))
	if err != nil {
		return err
	}
	m := toolchainRE.FindSubmatch(mod)
	if m == nil {
		return errors.New("go.mod has no toolchain line: the web vault is reproducible only with a pinned Go release")
	}
	have, err := goEnv(ctx, o, "GOVERSION")
	if err != nil {
		return err
	}
	if have != string(m[1]) {
		return fmt.Errorf("the web vault must be built with %s (go.mod's toolchain line) to be reproducible; this go is %s (run with GOTOOLCHAIN=%s)", m[1], have, m[1])
	}
	return nil
}

// readApp reads every file of the app directory, by slash path relative
// to it. Hidden files and directories are left out.
func readApp(dir string) (map[string][]byte, error) {
	src := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		if !manifest.ValidPath("/" + rel) {
			return fmt.Errorf("%s: a file name of the app may hold only letters, digits, '.', '_' and '-'", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		src[rel] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the page sources: %w", err)
	}
	return src, nil
}

// hashedPath is where a file is served: its name with the first 16 hex
// digits of its SHA-256 before the extension, under /a/.
func hashedPath(name string, data []byte) string {
	dir, base := path.Split(name)
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	return "/a/" + dir + stem + "." + manifest.Sum(data)[:16] + ext
}

// assemble names, rewrites and hashes the files of src (app files and
// built ones, by name).
func assemble(src map[string][]byte) (*Result, error) {
	names := make([]string, 0, len(src))
	for n := range src {
		names = append(names, n)
	}
	slices.Sort(names)
	paths := map[string]string{} // source name → served path
	final := map[string][]byte{}
	// Files that reference others come after those they reference:
	// everything else, then style sheets (url(…)), then the web app
	// manifest (icons), then index.html.
	rank := func(n string) int {
		switch {
		case n == manifest.IndexFile:
			return 3
		case n == "manifest.webmanifest":
			return 2
		case strings.HasSuffix(n, ".css"):
			return 1
		}
		return 0
	}
	slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
	for _, n := range names {
		b := src[n]
		switch {
		case n == manifest.IndexFile:
			continue
		case n == "manifest.webmanifest":
			b = rewriteRefs(b, webmanifestSrcRE, paths)
		case strings.HasSuffix(n, ".css"):
			b = rewriteRefs(b, cssURLRE, paths)
		}
		final[n] = b
		if unhashed[n] {
			paths[n] = "/" + n
		} else {
			paths[n] = hashedPath(n, b)
		}
	}
	t := &manifest.AssetTable{Assets: map[string]manifest.Asset{}}
	files := map[string]string{}
	for n, b := range final {
		p := paths[n]
		t.Assets[n] = manifest.Asset{Path: p, Integrity: manifest.Integrity(b), Size: int64(len(b))}
		files[p] = manifest.Sum(b)
	}
	t.Manifest = manifest.IDOf(files)
	t.Version = manifest.Version(t.Manifest)
	index, err := rewriteIndex(src[manifest.IndexFile], t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", manifest.IndexFile, err)
	}
	files[manifest.Root] = manifest.Sum(index)
	r := &Result{Manifest: &manifest.Manifest{Version: manifest.FormatVersion, Files: files}, Table: t}
	r.Files = append(r.Files, File{Path: manifest.Root, Data: index})
	for n, b := range final {
		r.Files = append(r.Files, File{Path: paths[n], Data: b})
	}
	slices.SortFunc(r.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	if r.Manifest.ID() != t.Manifest {
		return nil, errors.New("internal error: the manifest's ID is not the asset table's")
	}
	return r, nil
}

var (
	webmanifestSrcRE = regexp.MustCompile(`("src"\s*:\s*")([^"]*)(")`)
	cssURLRE         = regexp.MustCompile(`(url\(\s*["']?)([^"')\s]*)(["']?\s*\))`)
)

// rewriteRefs replaces each reference re's second group finds that names
// a file of paths with that file's served path.
func rewriteRefs(b []byte, re *regexp.Regexp, paths map[string]string) []byte {
	return re.ReplaceAllFunc(b, func(m []byte) []byte {
		g := re.FindSubmatch(m)
		if p, ok := paths[strings.TrimPrefix(string(g[2]), "./")]; ok {
			return slices.Concat(g[1], []byte(p), g[3])
		}
		return m
	})
}

// Write replaces the build in dist with r: manifest.json and www/. The Go
// files of dist (its package) are kept; everything else there goes.
func (r *Result) Write(dist string) error {
	ents, err := os.ReadDir(dist)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dist, e.Name())); err != nil {
			return err
		}
	}
	write := func(rel string, b []byte) error {
		p := filepath.Join(dist, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, b, 0o644)
	}
	for _, f := range r.Files {
		var err error
		if manifest.StoredCompressed(f.Path) {
			if f.Brotli == nil {
				return fmt.Errorf("%s: built without its brotli copy", f.Path)
			}
			err = write(manifest.StoreName(f.Path)+manifest.BrotliSuffix, f.Brotli)
		} else {
			err = write(manifest.StoreName(f.Path), f.Data)
		}
		if err != nil {
			return err
		}
	}
	return write(manifest.ManifestFile, r.Manifest.Marshal())
}
