// Package manifest is what a build of the web vault says about itself:
// the manifest (dist/manifest.json: the SHA-256 of every file the server
// serves, uncompressed) and the asset table the build writes into
// index.html (each file's hashed path, SRI integrity and size). The
// generator (internal/webui/build) writes both, the server
// (internal/webui) serves by the manifest, and `keyhold web verify`
// compares what a server serves against the manifest built into keyhold.
//
// Both formats are read from untrusted sources too (a server's index.html,
// a manifest file), so the parsers are strict and bounded.
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// FormatVersion is the manifest's "version".
const FormatVersion = 1

// MaxSize bounds a manifest or an asset table a parser accepts.
const MaxSize = 1 << 20

// MaxFiles bounds the number of files a manifest may list.
const MaxFiles = 4096

// Root is the path of the page itself, index.html.
const Root = "/"

// ErrInvalid means a manifest or asset table that does not parse.
var ErrInvalid = errors.New("not a valid web vault manifest")

// Manifest lists every path the server serves for one build, with the
// SHA-256 (lowercase hex) of its uncompressed bytes.
//
//	{"version": 1, "files": {"/": "…", "/a/app.3f2a9c1e0d3b7a8f.js": "…", …}}
type Manifest struct {
	Version int               `json:"version"`
	Files   map[string]string `json:"files"`
}

// Parse reads a manifest strictly: version 1, at least one file, every
// path a valid served path, every hash 64 lowercase hex digits.
func Parse(b []byte) (*Manifest, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxSize)
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the manifest", ErrInvalid)
	}
	if m.Version != FormatVersion {
		return nil, fmt.Errorf("%w: version %d (this program reads version %d)", ErrInvalid, m.Version, FormatVersion)
	}
	if len(m.Files) == 0 || len(m.Files) > MaxFiles {
		return nil, fmt.Errorf("%w: %d files", ErrInvalid, len(m.Files))
	}
	if _, ok := m.Files[Root]; !ok {
		return nil, fmt.Errorf("%w: no entry for %s", ErrInvalid, Root)
	}
	for p, h := range m.Files {
		if !ValidPath(p) {
			return nil, fmt.Errorf("%w: bad path %q", ErrInvalid, p)
		}
		if !validHex(h, sha256.Size) {
			return nil, fmt.Errorf("%w: bad hash for %s", ErrInvalid, p)
		}
	}
	return &m, nil
}

// Marshal encodes the manifest as the generator writes it: indented, keys
// sorted, a final newline, so that the same build gives the same bytes.
func (m *Manifest) Marshal() []byte {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // a map of strings always encodes
	}
	return append(b, '\n')
}

// Paths returns the manifest's paths, sorted.
func (m *Manifest) Paths() []string {
	ps := make([]string, 0, len(m.Files))
	for p := range m.Files {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// ID is the build's identity as the page shows it (the asset table's
// "manifest") and `keyhold web verify` prints it: the SHA-256 (hex) of
// the compact JSON {"version":1,"files":{…}} of every file except "/"
// itself, keys sorted. index.html carries the ID, so the ID cannot cover
// index.html; it covers everything index.html loads, and the manifest's
// "/" entry covers index.html.
func (m *Manifest) ID() string {
	files := make(map[string]string, len(m.Files))
	for p, h := range m.Files {
		if p != Root {
			files[p] = h
		}
	}
	return IDOf(files)
}

// IDOf is ID for the files of a build other than "/".
func IDOf(files map[string]string) string {
	b, err := json.Marshal(Manifest{Version: FormatVersion, Files: files})
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Version is the short form of an ID the page shows as its version: its
// first 12 hex digits.
func Version(id string) string {
	if len(id) < 12 {
		return id
	}
	return id[:12]
}

// ValidPath reports whether p is a path a build may serve: "/", or "/"
// followed by segments of letters, digits, '.', '_' and '-', none empty,
// "." or "..".
func ValidPath(p string) bool {
	if p == Root {
		return true
	}
	if len(p) < 2 || len(p) > 256 || p[0] != '/' {
		return false
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for _, c := range seg {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			default:
				return false
			}
		}
	}
	return true
}

func validHex(s string, n int) bool {
	if len(s) != 2*n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Sum is the hex SHA-256 of b, as a manifest records it.
func Sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
