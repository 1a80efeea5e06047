package manifest

import (
	"path"
	"strings"
)

// How a build is stored in internal/webui/dist (and read back by the
// server): manifest.json beside a www/ directory holding each served path
// under its own name ("/" as index.html). A large file is stored only
// brotli-compressed, its name followed by BrotliSuffix; the server
// decompresses it when first asked (docs/WEB.md, "Serving and building").
const (
	ManifestFile = "manifest.json"
	WWW          = "www"
	BrotliSuffix = ".br"
	IndexFile    = "index.html"
)

// StoreName is the file, relative to dist, that holds path p.
func StoreName(p string) string {
	if p == Root {
		return WWW + "/" + IndexFile
	}
	return WWW + p
}

// StoredCompressed reports whether the generator stores path p only as
// brotli: the WebAssembly modules, which are large and binary (text files
// stay plain, so that git stores their changes as small deltas).
func StoredCompressed(p string) bool {
	return strings.HasSuffix(p, ".wasm")
}

// CSP is the Content-Security-Policy the page is built for and served
// with (docs/WEB.md): scripts and WebAssembly only from the page's own
// origin ('wasm-unsafe-eval' allows compiling WebAssembly, nothing else),
// no inline script or style (the generator refuses them), no framing, no
// third party of any kind. `keyhold web verify` compares a server's with
// it.
const CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// CacheImmutable is the Cache-Control of every hashed file under /a/: its
// name changes with its bytes, so a browser may keep it for a year without
// asking again. `keyhold web verify` requires it (docs/WEB.md, "Verifying").
const CacheImmutable = "public, max-age=31536000, immutable"

// ContentType is the Content-Type of path p, by its extension; nosniff
// makes browsers keep to it, so each must be right (application/wasm for
// instantiateStreaming, text/javascript for scripts and workers). The
// server sends it and `keyhold web verify` checks it.
func ContentType(p string) string {
	if p == Root {
		return "text/html; charset=utf-8"
	}
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".wasm":
		return "application/wasm"
	case ".webmanifest":
		return "application/manifest+json"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	case ".webp":
		return "image/webp"
	case ".woff2":
		return "font/woff2"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}
