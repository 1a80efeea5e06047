package webui

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"

	"github.com/keyhold/keyhold/internal/webui/build"
	"github.com/keyhold/keyhold/internal/webui/manifest"
)

// The fixture build: the pages of testdata/app and the smallest js/wasm
// program, built once per test binary by the real generator.
var fixture struct {
	once sync.Once
	dir  string
	res  *build.Result
	err  error
}

func fixtureBuild(t *testing.T) (string, *build.Result) {
	t.Helper()
	fixture.once.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			fixture.err = err
			return
		}
		r, err := build.Build(context.Background(), build.Options{
			Root:          root,
			App:           filepath.Join(root, "internal/webui/testdata/app"),
			Wasm:          []build.Entry{{Name: "keyhold.wasm", Pkg: "./internal/webui/testdata/wasm"}},
			BrotliQuality: 1,
		})
		if err != nil {
			fixture.err = err
			return
		}
		dir, err := os.MkdirTemp("", "keyhold-webui-test-")
		if err != nil {
			fixture.err = err
			return
		}
		fixture.dir, fixture.res, fixture.err = dir, r, r.Write(dir)
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.dir, fixture.res
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

func fixtureHandler(t *testing.T) (*Handler, *build.Result) {
	dir, r := fixtureBuild(t)
	h, err := New(Options{Dist: os.DirFS(dir)})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Built() || h.ID() != r.Manifest.ID() {
		t.Fatalf("handler serves build %q, want %q", h.ID(), r.Manifest.ID())
	}
	return h, r
}

func get(h http.Handler, method, path string, hdr ...string) *http.Response {
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func checkSecurityHeaders(t *testing.T, what string, res *http.Response) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy":    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
		"Strict-Transport-Security":  "max-age=31536000",
		"Referrer-Policy":            "no-referrer",
		"Cross-Origin-Opener-Policy": "same-origin",
		"X-Content-Type-Options":     "nosniff",
		"Permissions-Policy":         "camera=(self)",
	}
	for k, v := range want {
		if got := res.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// decode undoes the answer's Content-Encoding.
func decode(t *testing.T, res *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	switch res.Header.Get("Content-Encoding") {
	case "":
		return b
	case "br":
		out, err := io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("brotli: %v", err)
		}
		return out
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Fatalf("unexpected Content-Encoding %q", res.Header.Get("Content-Encoding"))
	return nil
}

// Every file of the build is served at its path, with the right type,
// caching and security headers, and its bytes are the manifest's in every
// encoding a browser may ask for.
func TestServesEveryFileOfTheBuild(t *testing.T) {
	h, r := fixtureHandler(t)
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm", ".css": "text/css; charset=utf-8",
		".webmanifest": "application/manifest+json", ".svg": "image/svg+xml"}
	for _, f := range r.Files {
		for _, ae := range []string{"", "gzip", "br", "gzip, deflate, br, zstd", "br;q=0, gzip", "identity"} {
			res := get(h, "GET", f.Path, "Accept-Encoding", ae)
			what := f.Path + " (Accept-Encoding: " + ae + ")"
			if res.StatusCode != 200 {
				t.Fatalf("%s: %d", what, res.StatusCode)
			}
			checkSecurityHeaders(t, what, res)
			if got := decode(t, res); manifest.Sum(got) != r.Manifest.Files[f.Path] {
				t.Errorf("%s: served bytes are not the manifest's", what)
			}
			if res.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("%s: Vary %q", what, res.Header.Get("Vary"))
			}
			enc := res.Header.Get("Content-Encoding")
			if (ae == "" || ae == "identity") && enc != "" || strings.HasPrefix(ae, "br;q=0") && enc == "br" {
				t.Errorf("%s: Content-Encoding %q", what, enc)
			}
			wantCache := "no-cache"
			if strings.HasPrefix(f.Path, "/a/") {
				wantCache = "public, max-age=31536000, immutable"
			}
			if got := res.Header.Get("Cache-Control"); got != wantCache {
				t.Errorf("%s: Cache-Control %q, want %q", what, got, wantCache)
			}
			ext := filepath.Ext(f.Path)
			if f.Path == "/" {
				ext = ".html"
				types[".html"] = "text/html; charset=utf-8"
			}
			if want, ok := types[ext]; ok && res.Header.Get("Content-Type") != want {
				t.Errorf("%s: Content-Type %q, want %q", what, res.Header.Get("Content-Type"), want)
			}
		}
	}
	// The WebAssembly goes out brotli-compressed to a browser.
	wasm := r.Table.Assets["keyhold.wasm"].Path
	if res := get(h, "GET", wasm, "Accept-Encoding", "gzip, deflate, br, zstd"); res.Header.Get("Content-Encoding") != "br" {
		t.Errorf("%s to a browser: Content-Encoding %q, want br", wasm, res.Header.Get("Content-Encoding"))
	}
}

func TestHeadAndRevalidation(t *testing.T) {
	h, _ := fixtureHandler(t)
	full := get(h, "GET", "/", "Accept-Encoding", "br")
	body, _ := io.ReadAll(full.Body)
	head := get(h, "HEAD", "/", "Accept-Encoding", "br")
	hb, _ := io.ReadAll(head.Body)
	if head.StatusCode != 200 || len(hb) != 0 || head.Header.Get("Content-Length") != full.Header.Get("Content-Length") ||
		full.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("HEAD: %d, %d body bytes, Content-Length %q (GET: %q, %d bytes)", head.StatusCode, len(hb),
			head.Header.Get("Content-Length"), full.Header.Get("Content-Length"), len(body))
	}
	checkSecurityHeaders(t, "HEAD /", head)
	etag := full.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if res := get(h, "GET", "/", "Accept-Encoding", "br", "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the current ETag: %d, want 304", res.StatusCode)
	}
	if res := get(h, "GET", "/", "Accept-Encoding", "br", "If-None-Match", `"0000"`); res.StatusCode != 200 {
		t.Errorf("If-None-Match with another ETag: %d, want 200", res.StatusCode)
	}
}

// Only the build's paths exist: no directory listing, no index.html by
// name, no source file, no path outside.
func TestUnknownPathsAndMethods(t *testing.T) {
	h, r := fixtureHandler(t)
	for _, p := range []string{"/index.html", "/a/", "/a", "/app.js", "/manifest.json", "/www/index.html", "/a/../sw.js", "/nowhere", "/" + r.Table.Assets["app.js"].Path[3:]} {
		res := get(h, "GET", p)
		if res.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
		checkSecurityHeaders(t, "GET "+p, res)
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		res := get(h, m, "/")
		if res.StatusCode != 405 || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: %d, Allow %q", m, res.StatusCode, res.Header.Get("Allow"))
		}
	}
}

// A binary built before the web vault was generated serves a page saying
// so, and nothing else.
func TestNotBuilt(t *testing.T) {
	h, err := New(Options{Dist: fstest.MapFS{"manifest.go": {Data: []byte("package dist\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	if h.Built() {
		t.Fatal("an empty build counts as built")
	}
	res := get(h, "GET", "/")
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "not built into this keyhold-server binary") {
		t.Fatalf("GET /: %d\n%s", res.StatusCode, b)
	}
	checkSecurityHeaders(t, "GET / (not built)", res)
	if res := get(h, "GET", "/sw.js"); res.StatusCode != 404 {
		t.Errorf("GET /sw.js: %d", res.StatusCode)
	}
}

// A file that is not what the manifest says is never served, and a
// manifest naming a missing file stops the server from starting.
func TestDamagedBuild(t *testing.T) {
	dir, r := fixtureBuild(t)
	fsys := fstest.MapFS{}
	for _, f := range r.Files {
		name := manifest.StoreName(f.Path)
		b, err := os.ReadFile(filepath.Join(dir, name))
		if manifest.StoredCompressed(f.Path) {
			name += manifest.BrotliSuffix
			b, err = os.ReadFile(filepath.Join(dir, name))
		}
		if err != nil {
			t.Fatal(err)
		}
		fsys[name] = &fstest.MapFile{Data: b}
	}
	fsys[manifest.ManifestFile] = &fstest.MapFile{Data: r.Manifest.Marshal()}
	app := manifest.StoreName(r.Table.Assets["app.js"].Path)
	fsys[app] = &fstest.MapFile{Data: append([]byte("alert(1);"), fsys[app].Data...)}
	h, err := New(Options{Dist: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if res := get(h, "GET", r.Table.Assets["app.js"].Path); res.StatusCode != 500 {
		t.Errorf("an altered file: %d, want 500", res.StatusCode)
	}
	if res := get(h, "GET", "/"); res.StatusCode != 200 {
		t.Errorf("the intact page: %d", res.StatusCode)
	}
	delete(fsys, app)
	if _, err := New(Options{Dist: fsys}); err == nil {
		t.Error("a build with a missing file loaded")
	}
}

// The page's references are rewritten to hashed paths with integrity, and
// its asset table names every file the page loads by itself.
func TestPageReferencesTheBuild(t *testing.T) {
	_, r := fixtureBuild(t)
	var page []byte
	for _, f := range r.Files {
		if f.Path == "/" {
			page = f.Data
		}
	}
	tab, err := manifest.FindAssetTable(page)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Manifest != r.Manifest.ID() || tab.Version != r.Manifest.ID()[:12] {
		t.Errorf("asset table: manifest %q version %q; the build's ID is %s", tab.Manifest, tab.Version, r.Manifest.ID())
	}
	for _, name := range []string{"keyhold.wasm", "wasm_exec.js", "worker.js", "app.js", "style.css", "sw.js", "manifest.webmanifest", "icons/icon.svg"} {
		a, ok := tab.Assets[name]
		if !ok {
			t.Errorf("asset table lacks %s", name)
			continue
		}
		sum, ok := r.Manifest.Files[a.Path]
		if !ok {
			t.Errorf("%s: %s is not in the manifest", name, a.Path)
			continue
		}
		for _, f := range r.Files {
			if f.Path == a.Path && (manifest.Sum(f.Data) != sum || manifest.Integrity(f.Data) != a.Integrity || int64(len(f.Data)) != a.Size) {
				t.Errorf("%s: asset table entry does not describe %s", name, a.Path)
			}
		}
	}
	for _, want := range []string{
		`<script type="module" src="` + tab.Assets["app.js"].Path + `" integrity="` + tab.Assets["app.js"].Integrity + `"></script>`,
		`<link rel="stylesheet" href="` + tab.Assets["style.css"].Path + `" integrity="` + tab.Assets["style.css"].Integrity + `">`,
		`<link rel="manifest" href="/manifest.webmanifest">`,
		`<link rel="icon" href="` + tab.Assets["icons/icon.svg"].Path + `">`,
		`<!-- <script src="not-a-tag.js"></script> -->`,
		`<a href="#main">`,
	} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the page lacks %s\n%s", want, page)
		}
	}
}
