// Command pack writes the extension's packages for the browsers' stores
// and for loading by hand: a zip for Chromium-based browsers and one for
// Firefox. It packs exactly the files the keyhold binary embeds
// (extension.FS), so a package and an installed unpacked copy cannot
// differ.
//
// The zips are reproducible: files in sorted order, one fixed time, no
// owner or permission details from the machine that built them. Two
// builds of the same sources give the same bytes, so anyone can check a
// published package against the repository.
//
//	go run ./extension/pack -out dist
package main

import (
	"archive/zip"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/keyhold/keyhold/extension"
)

// fixedTime is written as every file's time (the zip format cannot say
// earlier than 1980).
var fixedTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	out := flag.String("out", "dist", "directory to write the packages to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "pack:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	chromium, err := fs.ReadFile(extension.FS, "manifest.json")
	if err != nil {
		return err
	}
	firefox, err := extension.FirefoxManifest(chromium)
	if err != nil {
		return err
	}
	for name, m := range map[string][]byte{"keyhold-extension-chromium.zip": chromium, "keyhold-extension-firefox.zip": firefox} {
		var buf bytes.Buffer
		if err := writeZip(&buf, extension.FS, m); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		p := filepath.Join(out, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Println(p)
	}
	return nil
}

// writeZip writes every file of files in sorted order, with manifest as
// manifest.json.
func writeZip(w io.Writer, files fs.FS, manifest []byte) error {
	var names []string
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	zw := zip.NewWriter(w)
	for _, name := range names {
		data := manifest
		if name != "manifest.json" {
			if data, err = fs.ReadFile(files, name); err != nil {
				return err
			}
		}
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: fixedTime}
		h.SetMode(0o644)
		f, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}
