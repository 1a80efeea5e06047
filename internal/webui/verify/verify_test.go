package verify

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/webui/manifest"
)

// server is a fake web vault: files by path, with what to send for each
// encoding.
type server struct {
	files map[string][]byte
	// forge, if set, is sent instead when the client accepts enc.
	forge    map[string][]byte
	forgeEnc string
	// forgeDest, if set, sends forge only to requests with this
	// Sec-Fetch-Dest (whatever the encoding).
	forgeDest string
	zstd      bool
	// plainHeaders leaves out the immutable Cache-Control of /a/.
	plainHeaders bool
}

func (s *server) GetRaw(_ context.Context, path string, hdr http.Header, _ int64) (*api.RawResponse, error) {
	b, ok := s.files[path]
	if !ok {
		return &api.RawResponse{Status: 404, Header: http.Header{}, Body: []byte("not found")}, nil
	}
	h := http.Header{"Content-Security-Policy": {manifest.CSP}, "Content-Type": {manifest.ContentType(path)}}
	if strings.HasPrefix(path, "/a/") && !s.plainHeaders {
		h.Set("Cache-Control", manifest.CacheImmutable)
	}
	ae := hdr.Get("Accept-Encoding")
	if s.zstd && strings.Contains(ae, "zstd") {
		h.Set("Content-Encoding", "zstd")
		return &api.RawResponse{Status: 200, Header: h, Body: []byte("zstd…")}, nil
	}
	if f, ok := s.forge[path]; ok && s.forgeDest != "" && hdr.Get("Sec-Fetch-Dest") == s.forgeDest {
		b = f
	} else if ok && s.forgeDest == "" && strings.Contains(ae, s.forgeEnc) {
		b = f
	}
	switch {
	case strings.Contains(ae, "br"):
		var buf bytes.Buffer
		w := brotli.NewWriter(&buf)
		w.Write(b)
		w.Close()
		h.Set("Content-Encoding", "br")
		return &api.RawResponse{Status: 200, Header: h, Body: buf.Bytes()}, nil
	case strings.Contains(ae, "gzip"):
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		h.Set("Content-Encoding", "gzip")
		return &api.RawResponse{Status: 200, Header: h, Body: buf.Bytes()}, nil
	}
	return &api.RawResponse{Status: 200, Header: h, Body: b}, nil
}

func fixture() (*server, *manifest.Manifest) {
	s := &server{files: map[string][]byte{"/": []byte("<html>page</html>"), "/a/app.0123456789abcdef.js": []byte("app();"), "/a/worker.0123456789abcdef.js": []byte("worker();"), "/sw.js": []byte("sw();")}}
	m := &manifest.Manifest{Version: 1, Files: map[string]string{}}
	for p, b := range s.files {
		m.Files[p] = manifest.Sum(b)
	}
	return s, m
}

func status(r *Report) map[string]string {
	out := map[string]string{}
	for _, f := range r.Files {
		out[f.Path] = f.Status
	}
	return out
}

func TestVerify(t *testing.T) {
	s, m := fixture()
	r, err := Verify(context.Background(), s, m)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Files) != 4 || len(r.Warnings) != 0 || r.Expected != m.ID() {
		t.Fatalf("an honest server: %+v", r)
	}

	// Other code only to clients that accept brotli, as browsers do.
	s, m = fixture()
	s.forge, s.forgeEnc = map[string][]byte{"/a/app.0123456789abcdef.js": []byte("steal();")}, "br"
	r, _ = Verify(context.Background(), s, m)
	if st := status(r); r.OK() || st["/a/app.0123456789abcdef.js"] != Differs || st["/"] != OK {
		t.Fatalf("code sent only brotli-compressed: %v", st)
	}
	if d := r.Files[1].Detail; !strings.Contains(d, "br") || strings.Contains(d, "gzip") {
		t.Errorf("detail %q should name brotli only", d)
	}

	// A file not served.
	s, m = fixture()
	delete(s.files, "/sw.js")
	r, _ = Verify(context.Background(), s, m)
	if st := status(r); st["/sw.js"] != Missing || !strings.Contains(r.Files[3].Detail, "HTTP 404") {
		t.Fatalf("a missing file: %v %q", st, r.Files[3].Detail)
	}

	// An encoding keyhold cannot read is not taken on trust.
	s, m = fixture()
	s.zstd = true
	r, _ = Verify(context.Background(), s, m)
	if st := status(r); r.OK() || st["/"] != Unverifiable {
		t.Fatalf("zstd: %v", st)
	}
}

// A server can tell a worker being started from the fetch that checked
// its integrity (Sec-Fetch-Dest: worker against empty), and the service
// worker from a plain fetch (Service-Worker: script): verify asks as each.
func TestVerifyAsBrowserUses(t *testing.T) {
	for _, c := range []struct{ path, dest string }{
		{"/a/worker.0123456789abcdef.js", "worker"},
		{"/a/app.0123456789abcdef.js", "script"},
		{"/sw.js", "serviceworker"},
		{"/", "document"},
	} {
		s, m := fixture()
		s.forge, s.forgeDest = map[string][]byte{c.path: []byte("steal();")}, c.dest
		r, err := Verify(context.Background(), s, m)
		if err != nil {
			t.Fatal(err)
		}
		st := status(r)
		if r.OK() || st[c.path] != Differs {
			t.Fatalf("%s sent other code only as %s: %v", c.path, c.dest, st)
		}
		for p, v := range st {
			if p != c.path && v != OK {
				t.Errorf("%s: %s", p, v)
			}
		}
	}
}

func TestDests(t *testing.T) {
	if d := Dests("/sw.js"); len(d) != 1 || !d[0].ServiceWorker || d[0].header("br").Get("Service-Worker") != "script" {
		t.Errorf("sw.js: %+v", d)
	}
	if d := Dests("/a/worker.ca1dfaaad6a9773b.js"); len(d) != 2 || d[1].Dest != "worker" {
		t.Errorf("worker.js: %+v", d)
	}
	if d := Dests("/a/wasm_exec.0c949f4996f9a896.js"); len(d) != 2 || d[1].Dest != "script" {
		t.Errorf("wasm_exec.js: %+v", d)
	}
	if d := Dests("/"); len(d) != 1 || d[0].Dest != "document" {
		t.Errorf("page: %+v", d)
	}
}

// Hashed files must be immutable (the page checks a worker's integrity
// with one fetch and starts it from the cache with a second) and carry
// their Content-Type (nosniff): otherwise verify fails, naming the file.
func TestVerifyHeaders(t *testing.T) {
	s, m := fixture()
	s.plainHeaders = true
	r, _ := Verify(context.Background(), s, m)
	st := status(r)
	if r.OK() || st["/a/worker.0123456789abcdef.js"] != BadHeaders || st["/a/app.0123456789abcdef.js"] != BadHeaders || st["/sw.js"] != OK || st["/"] != OK {
		t.Fatalf("no immutable Cache-Control: %v", st)
	}
	for _, f := range r.Files {
		if f.Status == BadHeaders && !strings.Contains(f.Detail, "Cache-Control") {
			t.Errorf("%s: %q", f.Path, f.Detail)
		}
	}

	bad := &typed{s: func() *server { s, _ := fixture(); return s }()}
	r, _ = Verify(context.Background(), bad, m)
	if st := status(r); st["/a/worker.0123456789abcdef.js"] != BadHeaders || !strings.Contains(r.Files[2].Detail, "Content-Type") {
		t.Fatalf("worker.js as text/plain: %v %+v", st, r.Files)
	}
}

// typed serves worker.js as text/plain.
type typed struct{ s *server }

func (t *typed) GetRaw(ctx context.Context, path string, hdr http.Header, limit int64) (*api.RawResponse, error) {
	res, err := t.s.GetRaw(ctx, path, hdr, limit)
	if err == nil && strings.Contains(path, "worker.") {
		res.Header.Set("Content-Type", "text/plain")
	}
	return res, err
}
