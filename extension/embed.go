// Package extension holds the browser extension that fills logins from
// the local Keyhold. The files are plain, hand-written JavaScript, HTML and
// CSS, loaded by the browser as they are: there is no build step, so what
// is reviewed here is what runs.
//
// They are embedded so that `keyhold browser install` can write an
// unpacked copy next to the native host it installs; the copy and the
// host then agree on the extension id, which the manifest's public key
// fixes.
package extension

import "embed"

// FS holds the extension's files at its root (manifest.json, the scripts,
// pages and icons), ready to be written out as an unpacked extension.
//
//go:embed manifest.json *.js *.html *.css icons/*.png
var FS embed.FS
