// Command gen builds the web vault into internal/webui/dist, the files
// keyhold-server embeds. Run it as
//
//	go generate ./internal/webui
//
// after changing internal/webui/app, cmd/keyhold-web or anything the
// WebAssembly is built from, and commit the result: a test rebuilds it
// and fails when the committed files differ (docs/WEB.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/keyhold/keyhold/internal/webui/build"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	app := flag.String("app", "", "the page sources (default: internal/webui/app)")
	out := flag.String("out", "", "where to write the build (default: internal/webui/dist)")
	var wasm entries
	flag.Var(&wasm, "wasm", "NAME=PKG: a js/wasm program to build, such as keyhold.wasm=./cmd/keyhold-web (repeatable; default: cmd/keyhold-web and cmd/keyhold-web-*)")
	quality := flag.Int("brotli", 11, "brotli quality of the stored copies (11: smallest)")
	flag.Parse()
	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if *app == "" {
		*app = filepath.Join(root, "internal", "webui", "app")
	}
	if *out == "" {
		*out = filepath.Join(root, "internal", "webui", "dist")
	}
	if _, err := os.Stat(*app); err != nil {
		return fmt.Errorf("no page sources: %w", err)
	}
	r, err := build.Build(context.Background(), build.Options{
		Root: root, App: *app, Wasm: wasm, BrotliQuality: *quality, Log: os.Stderr,
	})
	if err != nil {
		return err
	}
	if err := r.Write(*out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %d files to %s; manifest %s\n", len(r.Files), *out, r.Manifest.ID())
	return nil
}

type entries []build.Entry

func (e *entries) String() string { return fmt.Sprint(*e) }
func (e *entries) Set(s string) error {
	name, pkg, ok := strings.Cut(s, "=")
	if !ok || !strings.HasSuffix(name, ".wasm") || pkg == "" {
		return fmt.Errorf("%q is not NAME.wasm=PKG", s)
	}
	*e = append(*e, build.Entry{Name: name, Pkg: pkg})
	return nil
}
