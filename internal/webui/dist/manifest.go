// Package dist holds the web vault as built by `go generate
// ./internal/webui` (internal/webui/build): manifest.json and www/, both
// generated; only the Go files are written by hand. It embeds the manifest
// alone, so that keyhold can check a server's web vault (`keyhold web
// verify`) without carrying the WebAssembly; internal/webui embeds the
// whole directory to serve it.
package dist

import "embed"

// files holds this file and, once built, manifest.json: the pattern must
// match something when nothing is built yet.
//
//go:embed manifest.*
var files embed.FS

// Manifest returns the manifest of the web vault built into this tree,
// or nil when none is built (manifest.json missing).
func Manifest() []byte {
	b, err := files.ReadFile("manifest.json")
	if err != nil {
		return nil
	}
	return b
}
