// Package webui serves the web vault: the page, its scripts and style
// sheets, and the WebAssembly built from the same Go packages as the
// command line, all embedded in the binary (dist, built by `go generate
// ./internal/webui`, see package build). It serves exactly the files of
// the build's manifest, with the headers docs/WEB.md lists: a strict
// Content-Security-Policy, HSTS and the rest on every answer; immutable
// caching for content-hashed names; brotli, gzip or identity by the
// client's Accept-Encoding.
//
// A binary built before the web vault was generated still serves: "/"
// says, in a plain page, that this binary has no web vault.
package webui

//go:generate go run ./gen

import (
	"bytes"
	"compress/gzip"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"

	"github.com/keyhold/keyhold/internal/webui/manifest"
)

//go:embed dist
var embedded embed.FS

// Headers every answer of the web vault carries. CSP is exactly the
// policy of docs/WEB.md: scripts and WebAssembly only from this origin
// ('wasm-unsafe-eval' allows compiling WebAssembly, nothing else), no
// inline script or style, no framing, no third party of any kind.
const (
	CSP               = manifest.CSP
	HSTS              = "max-age=31536000"
	ReferrerPolicy    = "no-referrer"
	OpenerPolicy      = "same-origin"
	PermissionsPolicy = "camera=(self)"
	// CacheImmutable is for content-hashed names (/a/…), which never
	// change; CacheRevalidate for "/", /sw.js and /manifest.webmanifest,
	// which name the current build.
	CacheImmutable  = manifest.CacheImmutable
	CacheRevalidate = "no-cache"
)

// ErrIncomplete means a build whose manifest names a file it lacks.
var ErrIncomplete = errors.New("the web vault build is incomplete")

// Options configure a Handler.
type Options struct {
	// Dist is the build to serve: manifest.json and www/ as the
	// generator writes them. Nil: the build embedded in this binary.
	// Tests serve other builds (an altered file) through it.
	Dist fs.FS
}

// Handler serves one build of the web vault.
type Handler struct {
	files map[string]*file
	// id is the build's manifest ID; "" when nothing is built.
	id string
}

// file is one served path. Its three forms are made when first asked
// for: a build stores the WebAssembly only brotli-compressed, and the
// server makes gzip (and brotli of small files) itself.
type file struct {
	path      string
	sum       string // hex SHA-256 of the identity bytes, from the manifest
	ctype     string
	immutable bool
	stored    []byte
	storedBr  bool // stored is brotli

	identOnce sync.Once
	ident     []byte
	identErr  error
	brOnce    sync.Once
	br        []byte
	gzOnce    sync.Once
	gz        []byte
}

// New loads the build named by o.Dist (or the embedded one). A build with
// no manifest is "not built": the Handler then answers "/" with a page
// that says so. A manifest that does not parse or names missing files is
// an error: the binary was built from a broken tree.
func New(o Options) (*Handler, error) {
	fsys := o.Dist
	if fsys == nil {
		sub, err := fs.Sub(embedded, "dist")
		if err != nil {
			return nil, err
		}
		fsys = sub
	}
	h := &Handler{files: map[string]*file{}}
	mb, err := fs.ReadFile(fsys, manifest.ManifestFile)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := manifest.Parse(mb)
	if err != nil {
		return nil, fmt.Errorf("the web vault's %s: %w", manifest.ManifestFile, err)
	}
	for p, sum := range m.Files {
		f := &file{path: p, sum: sum, ctype: contentType(p), immutable: strings.HasPrefix(p, "/a/")}
		name := manifest.StoreName(p)
		if manifest.StoredCompressed(p) {
			name += manifest.BrotliSuffix
			f.storedBr = true
		}
		if f.stored, err = fs.ReadFile(fsys, name); err != nil {
			return nil, fmt.Errorf("%w: %s: %v (regenerate it: go generate ./internal/webui)", ErrIncomplete, name, err)
		}
		h.files[p] = f
	}
	h.id = m.ID()
	return h, nil
}

// Built reports whether the handler serves a web vault.
func (h *Handler) Built() bool { return h.id != "" }

// ID is the served build's manifest ID ("" when not built).
func (h *Handler) ID() string { return h.id }

// Identity returns the uncompressed bytes served at p, checked against
// the manifest.
func (h *Handler) Identity(p string) ([]byte, error) {
	f, ok := h.files[p]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return f.identity()
}

func (f *file) identity() ([]byte, error) {
	f.identOnce.Do(func() {
		b := f.stored
		if f.storedBr {
			var err error
			if b, err = io.ReadAll(brotli.NewReader(bytes.NewReader(f.stored))); err != nil {
				f.identErr = fmt.Errorf("%w: %s does not decompress: %v", ErrIncomplete, f.path, err)
				return
			}
		}
		if manifest.Sum(b) != f.sum {
			f.identErr = fmt.Errorf("%w: %s is not the file its manifest names", ErrIncomplete, f.path)
			return
		}
		f.ident = b
	})
	return f.ident, f.identErr
}

// compressible reports whether compressing the file can pay.
func (f *file) compressible() bool {
	switch path.Ext(f.path) {
	case ".png", ".jpg", ".jpeg", ".webp", ".woff2", ".gif":
		return false
	}
	return true
}

// brotli returns the brotli form, or nil when it would not be smaller.
func (f *file) brotli() []byte {
	f.brOnce.Do(func() {
		if f.storedBr {
			f.br = f.stored
			return
		}
		id, err := f.identity()
		if err != nil || !f.compressible() {
			return
		}
		var buf bytes.Buffer
		w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: brotli.BestCompression, LGWin: 22})
		w.Write(id)
		w.Close()
		if buf.Len() < len(id) {
			f.br = buf.Bytes()
		}
	})
	return f.br
}

// gzip returns the gzip form, or nil when it would not be smaller.
func (f *file) gzip() []byte {
	f.gzOnce.Do(func() {
		id, err := f.identity()
		if err != nil || !f.compressible() {
			return
		}
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		w.Write(id)
		w.Close()
		if buf.Len() < len(id) {
			f.gz = buf.Bytes()
		}
	})
	return f.gz
}

// contentType is the Content-Type of path p (manifest.ContentType).
func contentType(p string) string { return manifest.ContentType(p) }

// setSecurity sets the headers every answer carries.
func setSecurity(hd http.Header) {
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("Strict-Transport-Security", HSTS)
	hd.Set("Referrer-Policy", ReferrerPolicy)
	hd.Set("Cross-Origin-Opener-Policy", OpenerPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Permissions-Policy", PermissionsPolicy)
}

// notBuilt is "/" of a binary without a web vault.
const notBuilt = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Keyhold server</title></head>
<body>
<h1>Keyhold server</h1>
<p>The web vault is not built into this keyhold-server binary, so there is no page to serve here.
The sync API under /v1/ works as usual: use the keyhold command line.</p>
<p>To include the web vault, build keyhold-server from a source tree where <code>go generate ./internal/webui</code> has been run.</p>
</body>
</html>
`

// ServeHTTP serves GET and HEAD of the build's paths.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	setSecurity(hd)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		plain(w, http.StatusMethodNotAllowed, "method not allowed\n")
		return
	}
	if !h.Built() && r.URL.Path == manifest.Root {
		hd.Set("Content-Type", "text/html; charset=utf-8")
		hd.Set("Cache-Control", CacheRevalidate)
		hd.Set("Content-Length", strconv.Itoa(len(notBuilt)))
		w.WriteHeader(http.StatusServiceUnavailable)
		if r.Method != http.MethodHead {
			io.WriteString(w, notBuilt)
		}
		return
	}
	f, ok := h.files[r.URL.Path]
	if !ok {
		plain(w, http.StatusNotFound, "not found\n")
		return
	}
	id, err := f.identity()
	if err != nil {
		plain(w, http.StatusInternalServerError, "this file of the web vault is damaged in the server binary\n")
		return
	}
	body, enc, tag := id, "", ""
	switch negotiate(r.Header.Get("Accept-Encoding")) {
	case "br":
		if b := f.brotli(); b != nil {
			body, enc, tag = b, "br", "-br"
		} else if b := f.gzip(); b != nil && accepts(r.Header.Get("Accept-Encoding"), "gzip") {
			body, enc, tag = b, "gzip", "-gz"
		}
	case "gzip":
		if b := f.gzip(); b != nil {
			body, enc, tag = b, "gzip", "-gz"
		}
	}
	hd.Set("Vary", "Accept-Encoding")
	hd.Set("Content-Type", f.ctype)
	if f.immutable {
		hd.Set("Cache-Control", CacheImmutable)
	} else {
		hd.Set("Cache-Control", CacheRevalidate)
	}
	etag := `"` + f.sum[:32] + tag + `"`
	hd.Set("ETag", etag)
	if enc != "" {
		hd.Set("Content-Encoding", enc)
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Write(body)
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", CacheRevalidate)
	w.WriteHeader(code)
	io.WriteString(w, msg)
}

// negotiate picks "br", "gzip" or "" (identity) from an Accept-Encoding
// header: the one with the highest q-value, brotli first among equals.
func negotiate(ae string) string {
	best, bestQ := "", 0.0
	for _, enc := range []string{"br", "gzip"} {
		if q := qvalue(ae, enc); q > bestQ {
			best, bestQ = enc, q
		}
	}
	return best
}

func accepts(ae, enc string) bool { return qvalue(ae, enc) > 0 }

// qvalue is the weight ae gives enc (or "*"), 0 when absent.
func qvalue(ae, enc string) float64 {
	star := -1.0
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(strings.ToLower(k)) == "q" {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				f = 0
			}
			q = f
		}
		switch name {
		case enc:
			return q
		case "*":
			star = q
		}
	}
	return max(star, 0)
}

func etagMatch(inm, etag string) bool {
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
