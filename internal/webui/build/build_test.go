package build

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/webui/manifest"
)

func sources() map[string][]byte {
	return map[string][]byte{
		"index.html": []byte(`<!DOCTYPE html><html><head>
<meta name="keyhold-assets" content='{}'>
<link rel="stylesheet" href="style.css"><script src="app.js"></script></head>
<body><img src="logo.svg" alt=""></body></html>
`),
		"app.js":               []byte("console.log(1);\n"),
		"style.css":            []byte("a { background: url(logo.svg); }\n"),
		"logo.svg":             []byte("<svg xmlns='http://www.w3.org/2000/svg'/>\n"),
		"sw.js":                []byte("// sw\n"),
		"manifest.webmanifest": []byte(`{"icons":[{"src":"logo.svg"}]}`),
		"keyhold.wasm":         []byte("\x00asm\x01\x00\x00\x00"),
		"wasm_exec.js":         []byte("// go\n"),
	}
}

// The same sources give the same bytes, every time.
func TestAssembleIsDeterministic(t *testing.T) {
	a, err := assemble(sources())
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := assemble(sources())
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Files) != len(b.Files) || !bytes.Equal(a.Manifest.Marshal(), b.Manifest.Marshal()) {
			t.Fatal("two builds of the same sources differ")
		}
		for i := range a.Files {
			if a.Files[i].Path != b.Files[i].Path || !bytes.Equal(a.Files[i].Data, b.Files[i].Data) {
				t.Fatalf("%s differs between two builds", a.Files[i].Path)
			}
		}
	}
	// A change to any file changes its name and the build's ID.
	src := sources()
	src["logo.svg"] = []byte("<svg xmlns='http://www.w3.org/2000/svg'><g/></svg>\n")
	c, err := assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	if c.Manifest.ID() == a.Manifest.ID() || c.Table.Assets["logo.svg"].Path == a.Table.Assets["logo.svg"].Path {
		t.Fatal("another logo gives the same build")
	}
	// The style sheet names the new logo, so it is a new file too.
	if c.Table.Assets["style.css"].Path == a.Table.Assets["style.css"].Path {
		t.Error("the style sheet kept its name though the logo it references changed")
	}
}

// The page may hold nothing the Content-Security-Policy would block, and
// scripts and style sheets come from the app only.
func TestPageRules(t *testing.T) {
	for name, page := range map[string]string{
		"inline script":   `<head><script>alert(1)</script></head>`,
		"style element":   `<head><style>a{}</style></head>`,
		"style attribute": `<head></head><body><p style="color:red">x</p></body>`,
		"event handler":   `<head></head><body><button onclick="go()">x</button></body>`,
		"foreign script":  `<head><script src="https://cdn.example/x.js"></script></head>`,
		"foreign sheet":   `<head><link rel="stylesheet" href="https://cdn.example/x.css"></head>`,
		"own integrity":   `<head><script src="app.js" integrity="sha384-x"></script></head>`,
		"single quotes":   `<head><script src='app.js'></script></head>`,
		"two tables":      `<head><meta name="keyhold-assets" content='{}'><meta name="keyhold-assets" content='{}'></head>`,
		"no head":         `<body></body>`,
		"unended comment": `<head><!-- </head>`,
	} {
		src := sources()
		src["index.html"] = []byte(page)
		if _, err := assemble(src); err == nil {
			t.Errorf("%s: the build accepted %s", name, page)
		}
	}
	// The table is filled in however the source wrote it.
	for _, meta := range []string{`<meta name="keyhold-assets" content="{}">`, `<META content='{"x":1}' name="keyhold-assets"/>`} {
		src := sources()
		src["index.html"] = []byte(`<html><head>` + meta + `<script src="app.js"></script></head></html>`)
		r, err := assemble(src)
		if err != nil {
			t.Fatalf("%s: %v", meta, err)
		}
		if _, err := manifest.FindAssetTable(r.Files[0].Data); err != nil || bytes.Contains(r.Files[0].Data, []byte(meta)) {
			t.Errorf("%s: not replaced by the table (%v):\n%s", meta, err, r.Files[0].Data)
		}
	}
	// A page without the table gets one at the end of <head>.
	src := sources()
	src["index.html"] = []byte(`<html><head><script src="app.js"></script></head></html>`)
	r, err := assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Files {
		if f.Path == "/" {
			if _, err := manifest.FindAssetTable(f.Data); err != nil || !bytes.Contains(f.Data, []byte("'>\n</head>")) {
				t.Errorf("no asset table added: %v\n%s", err, f.Data)
			}
		}
	}
}

func TestReferencesRewritten(t *testing.T) {
	r, err := assemble(sources())
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range r.Files {
		files[f.Path] = f.Data
	}
	logo := r.Table.Assets["logo.svg"].Path
	if !strings.HasPrefix(logo, "/a/logo.") || !strings.HasSuffix(logo, ".svg") {
		t.Fatalf("logo served at %s", logo)
	}
	for _, c := range []struct{ file, want string }{
		{"/", `<img src="` + logo + `"`},
		{"/", `<script src="` + r.Table.Assets["app.js"].Path + `" integrity="` + r.Table.Assets["app.js"].Integrity + `">`},
		{r.Table.Assets["style.css"].Path, "url(" + logo + ")"},
		{"/manifest.webmanifest", `"src":"` + logo + `"`},
	} {
		if !bytes.Contains(files[c.file], []byte(c.want)) {
			t.Errorf("%s lacks %s:\n%s", c.file, c.want, files[c.file])
		}
	}
	for _, p := range []string{"/", "/sw.js", "/manifest.webmanifest"} {
		if _, ok := files[p]; !ok {
			t.Errorf("%s is not served under its own name", p)
		}
	}
}

// Another Go release than go.mod's toolchain line is refused.
func TestToolchainPinned(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n\ngo 1.26\n\ntoolchain go1.0.1\n"), 0o644)
	err := checkToolchain(context.Background(), Options{Root: root, Go: "go"})
	if err == nil || !strings.Contains(err.Error(), "go1.0.1") {
		t.Fatalf("checkToolchain: %v", err)
	}
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n\ngo 1.26\n"), 0o644)
	if err := checkToolchain(context.Background(), Options{Root: root, Go: "go"}); err == nil {
		t.Fatal("a go.mod without a toolchain line was accepted")
	}
}

func TestDiscover(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"cmd/keyhold-web", "cmd/keyhold-web-kit", "cmd/keyhold", "cmd/keyhold-web-empty"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
		if !strings.HasSuffix(d, "empty") {
			os.WriteFile(filepath.Join(root, d, "main.go"), []byte("package main\n"), 0o644)
		}
	}
	got, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{"keyhold.wasm", "./cmd/keyhold-web"}, {"keyhold-kit.wasm", "./cmd/keyhold-web-kit"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Discover: %v, want %v", got, want)
	}
}
