// Package verify checks the web vault a server serves against a manifest
// (the one built into keyhold): it fetches every file the manifest names,
// in every encoding a browser may be sent and with the request headers a
// browser sends for the file's use (a script, a worker, the service
// worker, the page), and compares the SHA-256 of the uncompressed bytes;
// hashed files must also come with the immutable Cache-Control and their
// Content-Type. It is what `keyhold web verify` runs; it proves
// what the server sent to this verifier, not what it sends to everyone
// (docs/WEB.md, "Verifying").
package verify

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"

	"github.com/andybalholm/brotli"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/webui/manifest"
)

// MaxFile bounds one file as sent and as decompressed.
const MaxFile = 64 << 20

// Fetcher fetches a path as sent (api.Client.GetRaw).
type Fetcher interface {
	GetRaw(ctx context.Context, path string, hdr http.Header, limit int64) (*api.RawResponse, error)
}

// Encodings are the Accept-Encoding headers each file is fetched with:
// each encoding alone, and what Chromium sends. A server could send other
// code compressed than uncompressed; each form a browser may get is
// checked.
var Encodings = []string{"identity", "gzip", "br", "gzip, deflate, br, zstd"}

// Status of one file.
const (
	OK           = "ok"           // every form is the manifest's bytes
	Differs      = "differs"      // some form is other bytes
	Missing      = "missing"      // not served (404 or another error status)
	Unverifiable = "unverifiable" // sent in an encoding this program cannot read
	BadHeaders   = "headers"      // the right bytes, but not the Cache-Control or Content-Type of the build
)

// Dest is how a browser asks for a file for one use: the Sec-Fetch-Dest
// (and Sec-Fetch-Mode) it sends, and Service-Worker: script for the
// service worker. A server could send other code only to requests that
// look like a worker being started; each use a browser makes of a file is
// asked for. (A server that tells requests apart by other headers, by
// cookies, by address or by time is not caught: docs/WEB.md.)
type Dest struct {
	Dest, Mode    string
	ServiceWorker bool
}

var hashed = regexp.MustCompile(`\.[0-9a-f]{16}(\.[A-Za-z0-9]+)$`)

// Dests lists the uses the page makes of path p: the page is a document;
// /sw.js is registered as the service worker; worker.js is fetched (to
// check its integrity) then started as a worker; other scripts are
// fetched (wasm_exec.js, in the worker) and loaded as scripts; the
// stylesheet, icons and the web app manifest have their own; WebAssembly
// is only fetched.
func Dests(p string) []Dest {
	name := path.Base(hashed.ReplaceAllString(p, "$1"))
	switch {
	case p == manifest.Root:
		return []Dest{{Dest: "document", Mode: "navigate"}}
	case p == "/sw.js":
		return []Dest{{Dest: "serviceworker", Mode: "same-origin", ServiceWorker: true}}
	case name == "worker.js":
		return []Dest{{Dest: "empty", Mode: "cors"}, {Dest: "worker", Mode: "same-origin"}}
	case path.Ext(p) == ".js":
		return []Dest{{Dest: "empty", Mode: "cors"}, {Dest: "script", Mode: "cors"}}
	case path.Ext(p) == ".css":
		return []Dest{{Dest: "style", Mode: "no-cors"}}
	case path.Ext(p) == ".webmanifest":
		return []Dest{{Dest: "manifest", Mode: "cors"}}
	case path.Ext(p) == ".png" || path.Ext(p) == ".svg":
		return []Dest{{Dest: "image", Mode: "no-cors"}}
	}
	return []Dest{{Dest: "empty", Mode: "cors"}}
}

func (d Dest) header(ae string) http.Header {
	h := http.Header{"Accept-Encoding": {ae}, "Sec-Fetch-Dest": {d.Dest}, "Sec-Fetch-Mode": {d.Mode}, "Sec-Fetch-Site": {"same-origin"}}
	if d.Dest == "document" {
		h["Sec-Fetch-Site"] = []string{"none"}
	}
	if d.ServiceWorker {
		h.Set("Service-Worker", "script")
	}
	return h
}

func (d Dest) String() string {
	if d.ServiceWorker {
		return "as the service worker"
	}
	return "as " + d.Dest
}

// File is the verdict on one path of the manifest.
type File struct {
	Path   string
	Status string
	// Detail says what differed, for people: the encodings and statuses.
	Detail string
}

// Report is the whole comparison.
type Report struct {
	// Expected is the ID of the manifest checked against.
	Expected string
	// Served is the build ID the server's page names in its asset table
	// ("" when the page has none: not a web vault of this kind, or none
	// built).
	Served string
	Files  []File
	// Warnings are findings that do not change the code run: a
	// Content-Security-Policy other than the build's.
	Warnings []string
}

// OK reports whether every file matched.
func (r *Report) OK() bool {
	for _, f := range r.Files {
		if f.Status != OK {
			return false
		}
	}
	return true
}

// Verify fetches every path of m from f and compares. An error means the
// server could not be asked at all (unreachable, untrusted certificate,
// redirect); files it serves wrongly are in the report.
func Verify(ctx context.Context, f Fetcher, m *manifest.Manifest) (*Report, error) {
	r := &Report{Expected: m.ID()}
	for _, p := range m.Paths() {
		file := File{Path: p, Status: OK}
		var notes []string
		worst := OK
		for _, d := range Dests(p) {
			for _, ae := range Encodings {
				res, err := f.GetRaw(ctx, p, d.header(ae), MaxFile)
				if err != nil {
					if errors.Is(err, api.ErrAnswerTooLarge) {
						worst = worse(worst, Differs)
						notes = append(notes, fmt.Sprintf("over %d bytes (Accept-Encoding: %s)", MaxFile, ae))
						continue
					}
					return nil, err
				}
				if p == manifest.Root && ae == "identity" {
					checkPage(r, res)
				}
				if res.Status != http.StatusOK {
					worst = worse(worst, Missing)
					notes = append(notes, fmt.Sprintf("HTTP %d", res.Status))
					continue
				}
				if note := checkHeaders(p, res.Header); note != "" {
					worst = worse(worst, BadHeaders)
					notes = append(notes, note)
				}
				enc := strings.ToLower(strings.TrimSpace(res.Header.Get("Content-Encoding")))
				body, err := decode(enc, res.Body)
				if errors.Is(err, errUnknownEncoding) {
					worst = worse(worst, Unverifiable)
					notes = append(notes, fmt.Sprintf("sent with Content-Encoding %q, which keyhold cannot check", api.Printable(enc)))
					continue
				}
				if err != nil || manifest.Sum(body) != m.Files[p] {
					worst = worse(worst, Differs)
					name := enc
					if name == "" {
						name = "uncompressed"
					}
					note := "other bytes " + name
					if len(Dests(p)) > 1 || d.Dest != "empty" {
						note += " " + d.String()
					}
					notes = append(notes, note)
				}
			}
		}
		file.Status = worst
		file.Detail = strings.Join(dedup(notes), "; ")
		r.Files = append(r.Files, file)
	}
	return r, nil
}

// checkPage reads which build the served page names, and its policy.
func checkPage(r *Report, res *api.RawResponse) {
	if t, err := manifest.FindAssetTable(res.Body); err == nil && res.Status == http.StatusOK {
		r.Served = t.Manifest
	}
	if got := res.Header.Values("Content-Security-Policy"); len(got) != 1 || got[0] != manifest.CSP {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the page's Content-Security-Policy is not the build's (%q)", api.Printable(strings.Join(got, ", "))))
	}
}

// checkHeaders says what is wrong with the headers of a hashed file
// ("" when nothing): the page checks the integrity of worker.js and
// wasm_exec.js with one fetch and then loads them by URL, so those URLs
// must be immutable for the second load to be the bytes checked, and
// nosniff makes the Content-Type decide whether a browser runs a file.
func checkHeaders(p string, h http.Header) string {
	if !strings.HasPrefix(p, "/a/") {
		return ""
	}
	var bad []string
	if cc := h.Values("Cache-Control"); len(cc) != 1 || cc[0] != manifest.CacheImmutable {
		bad = append(bad, fmt.Sprintf("Cache-Control %q, not %q", api.Printable(strings.Join(cc, ", ")), manifest.CacheImmutable))
	}
	want, _, _ := mime.ParseMediaType(manifest.ContentType(p))
	if got, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || got != want {
		bad = append(bad, fmt.Sprintf("Content-Type %q, not %q", api.Printable(h.Get("Content-Type")), want))
	}
	return strings.Join(bad, ", ")
}

// rank orders statuses from best to worst.
var rank = map[string]int{OK: 0, Unverifiable: 1, BadHeaders: 2, Missing: 3, Differs: 4}

func worse(a, b string) string {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func dedup(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

var errUnknownEncoding = errors.New("unknown content encoding")

// decode undoes a Content-Encoding, reading at most MaxFile bytes.
func decode(enc string, b []byte) ([]byte, error) {
	var r io.Reader
	switch enc {
	case "", "identity":
		return b, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "deflate":
		// HTTP's deflate is zlib; some servers send raw deflate.
		if zr, err := zlib.NewReader(bytes.NewReader(b)); err == nil {
			r = zr
		} else {
			r = flate.NewReader(bytes.NewReader(b))
		}
	default:
		return nil, errUnknownEncoding
	}
	out, err := io.ReadAll(io.LimitReader(r, MaxFile+1))
	if err != nil {
		return nil, err
	}
	if len(out) > MaxFile {
		return nil, fmt.Errorf("decompresses to over %d bytes", MaxFile)
	}
	return out, nil
}
