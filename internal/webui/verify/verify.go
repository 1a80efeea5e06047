// Package verify checks the web vault a server serves against a manifest
// (the one built into keyhold): it fetches every file the manifest names,
// in every encoding a browser may be sent, and compares the SHA-256 of
// the uncompressed bytes. It is what `keyhold web verify` runs; it proves
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
	"net/http"
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
)

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
		for _, ae := range Encodings {
			res, err := f.GetRaw(ctx, p, http.Header{"Accept-Encoding": {ae}}, MaxFile)
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
				notes = append(notes, "other bytes "+name)
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

// rank orders statuses from best to worst.
var rank = map[string]int{OK: 0, Unverifiable: 1, Missing: 2, Differs: 3}

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
