package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/extension"
)

func pack(t *testing.T, manifest []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeZip(&buf, extension.FS, manifest); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A published package can be checked against the sources: packing twice
// gives the same bytes, and the zip holds exactly the embedded files, in
// order, with nothing from the build machine.
func TestPackageIsReproducibleAndComplete(t *testing.T) {
	m, err := fs.ReadFile(extension.FS, "manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	a, b := pack(t, m), pack(t, m)
	if !bytes.Equal(a, b) {
		t.Fatal("two packages of the same files differ")
	}
	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range zr.File {
		got = append(got, f.Name)
		if !f.Modified.Equal(fixedTime) {
			t.Errorf("%s: time %v, want %v", f.Name, f.Modified, fixedTime)
		}
		if strings.HasSuffix(f.Name, ".go") {
			t.Errorf("%s: Go source in the package", f.Name)
		}
	}
	if !slices.IsSorted(got) {
		t.Errorf("files not in sorted order: %v", got)
	}
	var want []string
	fs.WalkDir(extension.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			want = append(want, p)
		}
		return err
	})
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("package holds %v, want %v", got, want)
	}
}

func TestFirefoxManifest(t *testing.T) {
	m, err := fs.ReadFile(extension.FS, "manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	ff, err := extension.FirefoxManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Key        *string `json:"key"`
		Background struct {
			ServiceWorker string   `json:"service_worker"`
			Scripts       []string `json:"scripts"`
		} `json:"background"`
		BSS struct {
			Gecko struct {
				ID string `json:"id"`
			} `json:"gecko"`
		} `json:"browser_specific_settings"`
		CSP map[string]string `json:"content_security_policy"`
	}
	if err := json.Unmarshal(ff, &got); err != nil {
		t.Fatal(err)
	}
	if got.Key != nil {
		t.Error("Firefox manifest keeps Chromium's key")
	}
	if got.BSS.Gecko.ID != extension.FirefoxID {
		t.Errorf("gecko id %q, want %q", got.BSS.Gecko.ID, extension.FirefoxID)
	}
	if got.Background.ServiceWorker != "" || !slices.Equal(got.Background.Scripts, []string{"inject.js", "background.js"}) {
		t.Errorf("background %+v: want the event page scripts inject.js, background.js", got.Background)
	}
	var orig struct {
		CSP map[string]string `json:"content_security_policy"`
	}
	json.Unmarshal(m, &orig)
	if got.CSP["extension_pages"] != orig.CSP["extension_pages"] {
		t.Errorf("Firefox CSP %q differs from Chromium's %q", got.CSP["extension_pages"], orig.CSP["extension_pages"])
	}
	if _, err := extension.FirefoxManifest([]byte(`{"background":{}}`)); err == nil {
		t.Error("a manifest without a service worker was accepted")
	}
}
