package manifest

import "strings"

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
