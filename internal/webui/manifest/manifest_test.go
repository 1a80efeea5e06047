package manifest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const h1 = "0000000000000000000000000000000000000000000000000000000000000001"
const h2 = "0000000000000000000000000000000000000000000000000000000000000002"

func TestParseAndID(t *testing.T) {
	m := &Manifest{Version: 1, Files: map[string]string{"/": h1, "/a/app.0123456789abcdef.js": h2, "/sw.js": h2}}
	got, err := Parse(m.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Marshal(), m.Marshal()) || got.ID() != m.ID() {
		t.Fatal("a manifest does not survive Marshal and Parse")
	}
	// The ID covers every file but the page itself (which carries it).
	other := &Manifest{Version: 1, Files: map[string]string{"/": h2, "/a/app.0123456789abcdef.js": h2, "/sw.js": h2}}
	if other.ID() != m.ID() {
		t.Error("the ID depends on the page's own hash")
	}
	other.Files["/sw.js"] = h1
	if other.ID() == m.ID() {
		t.Error("the ID does not change with a file")
	}
	// Its definition: SHA-256 of the compact JSON without "/".
	if want := Sum([]byte(`{"version":1,"files":{"/a/app.0123456789abcdef.js":"` + h2 + `","/sw.js":"` + h2 + `"}}`)); m.ID() != want {
		t.Errorf("ID %s, want %s", m.ID(), want)
	}
	if Version(m.ID()) != m.ID()[:12] {
		t.Error("Version is not the ID's first 12 digits")
	}
}

func TestParseRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"version 2":    `{"version":2,"files":{"/":"` + h1 + `"}}`,
		"no files":     `{"version":1,"files":{}}`,
		"no page":      `{"version":1,"files":{"/sw.js":"` + h1 + `"}}`,
		"bad hash":     `{"version":1,"files":{"/":"` + strings.Repeat("A", 64) + `"}}`,
		"short hash":   `{"version":1,"files":{"/":"00"}}`,
		"dot-dot":      `{"version":1,"files":{"/":"` + h1 + `","/a/../x":"` + h1 + `"}}`,
		"query":        `{"version":1,"files":{"/":"` + h1 + `","/x?y":"` + h1 + `"}}`,
		"unknown key":  `{"version":1,"files":{"/":"` + h1 + `"},"extra":1}`,
		"trailing":     `{"version":1,"files":{"/":"` + h1 + `"}} {}`,
		"not json":     `version 1`,
		"empty":        ``,
		"double slash": `{"version":1,"files":{"/":"` + h1 + `","/a//x":"` + h1 + `"}}`,
	} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Parse gave %v, want ErrInvalid", name, err)
		}
	}
}

func TestAssetTableRoundTrip(t *testing.T) {
	tab := &AssetTable{
		Assets:   map[string]Asset{"keyhold.wasm": {Path: "/a/keyhold.0123456789abcdef.wasm", Integrity: Integrity([]byte("x")), Size: 1}},
		Manifest: h1, Version: Version(h1),
	}
	el, err := tab.Element()
	if err != nil {
		t.Fatal(err)
	}
	page := []byte("<head>\n" + el + "\n</head>")
	got, err := FindAssetTable(page)
	if err != nil {
		t.Fatal(err)
	}
	if got.Manifest != h1 || got.Version != h1[:12] || got.Assets["keyhold.wasm"] != tab.Assets["keyhold.wasm"] {
		t.Fatalf("asset table did not survive: %+v", got)
	}
	for name, p := range map[string]string{
		"none":      "<head></head>",
		"unended":   AssetMeta + `{"manifest":"x"}`,
		"two":       string(page) + string(page),
		"bad asset": AssetMeta + `{"a.js":{"path":"../x","integrity":"","size":1}}'>`,
		"not json":  AssetMeta + `{'>`,
	} {
		if _, err := FindAssetTable([]byte(p)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: FindAssetTable gave %v, want ErrInvalid", name, err)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts survives Marshal
// and Parse unchanged, with the same ID.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"files":{"/":"` + h1 + `","/a/x.js":"` + h2 + `"}}`))
	f.Add([]byte(`{"version":1,"files":{"/":"` + h1 + `"}}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		again, err := Parse(m.Marshal())
		if err != nil {
			t.Fatalf("accepted manifest does not parse again: %v", err)
		}
		if !bytes.Equal(again.Marshal(), m.Marshal()) || again.ID() != m.ID() {
			t.Fatal("Parse(Marshal(m)) differs")
		}
	})
}

// FuzzFindAssetTable reads a server's page: it never panics, and a table
// it accepts has only valid paths and writes out again.
func FuzzFindAssetTable(f *testing.F) {
	f.Add([]byte(`<head>` + AssetMeta + `{"a.js":{"path":"/a/a.0123456789abcdef.js","integrity":"sha384-x","size":3},"manifest":"` + h1 + `","version":"000000000000"}'></head>`))
	f.Add([]byte(AssetMeta + `{}'>`))
	f.Add([]byte(`<html></html>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, err := FindAssetTable(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		for n, a := range tab.Assets {
			if !ValidPath(a.Path) || a.Size < 0 {
				t.Fatalf("accepted asset %q: %+v", n, a)
			}
		}
		if _, err := tab.MarshalJSON(); err != nil {
			t.Fatal(err)
		}
	})
}
