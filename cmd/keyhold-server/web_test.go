package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/webui"
	"github.com/keyhold/keyhold/internal/webui/manifest"
)

// TestServeWebVault: keyhold-server serves the web vault built into it at
// / of its HTTPS listener, with the security headers, and the API under
// /v1/ as before. A binary with no web vault built in starts all the same
// and says so at /.
func TestServeWebVault(t *testing.T) {
	p := start(t, nil, "--dev-tls", "--listen", "127.0.0.1:0", "--data", t.TempDir())
	if !strings.HasPrefix(p.URL, "https://") {
		t.Fatalf("listening on %s", p.URL)
	}
	// The certificate is the development one; the test checks headers and
	// bodies, not the chain (the CLI's tests check pinning).
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := hc.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	h, err := webui.New(webui.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, body := get("/")
	if res.Header.Get("Content-Security-Policy") != webui.CSP || res.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("GET /: headers %v", res.Header)
	}
	if h.Built() {
		tab, err := manifest.FindAssetTable([]byte(body))
		if res.StatusCode != 200 || err != nil || tab.Manifest != h.ID() {
			t.Errorf("GET /: %d, asset table %v (%v); want build %s", res.StatusCode, tab, err, h.ID())
		}
	} else if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "web vault is not built into this keyhold-server binary") {
		t.Errorf("GET / of a binary with no web vault: %d\n%s", res.StatusCode, body)
	}
	if res, body := get("/v1/nowhere"); res.StatusCode != 404 || !strings.Contains(body, `"not_found"`) {
		t.Errorf("GET /v1/nowhere: %d %s", res.StatusCode, body)
	}
	if res, _ := get("/healthz"); res.StatusCode != 200 {
		t.Errorf("GET /healthz: %d", res.StatusCode)
	}
	p.Stop(t, stopWithin)
}
