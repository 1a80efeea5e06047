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
	zstd     bool
}

func (s *server) GetRaw(_ context.Context, path string, hdr http.Header, _ int64) (*api.RawResponse, error) {
	b, ok := s.files[path]
	if !ok {
		return &api.RawResponse{Status: 404, Header: http.Header{}, Body: []byte("not found")}, nil
	}
	h := http.Header{"Content-Security-Policy": {manifest.CSP}}
	ae := hdr.Get("Accept-Encoding")
	if s.zstd && strings.Contains(ae, "zstd") {
		h.Set("Content-Encoding", "zstd")
		return &api.RawResponse{Status: 200, Header: h, Body: []byte("zstd…")}, nil
	}
	if f, ok := s.forge[path]; ok && strings.Contains(ae, s.forgeEnc) {
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
	s := &server{files: map[string][]byte{"/": []byte("<html>page</html>"), "/a/app.0123456789abcdef.js": []byte("app();"), "/sw.js": []byte("sw();")}}
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
	if !r.OK() || len(r.Files) != 3 || len(r.Warnings) != 0 || r.Expected != m.ID() {
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
	if st := status(r); st["/sw.js"] != Missing || !strings.Contains(r.Files[2].Detail, "HTTP 404") {
		t.Fatalf("a missing file: %v %q", st, r.Files[2].Detail)
	}

	// An encoding keyhold cannot read is not taken on trust.
	s, m = fixture()
	s.zstd = true
	r, _ = Verify(context.Background(), s, m)
	if st := status(r); r.OK() || st["/"] != Unverifiable {
		t.Fatalf("zstd: %v", st)
	}
}
