//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyhold/keyhold/internal/webui/build"
	"github.com/keyhold/keyhold/internal/webui/manifest"
)

// The scripts in testdata/web run `keyhold web verify` against real
// keyhold-server processes. Both programs are built with a small web
// vault (internal/webui/testdata: a fixture page and the smallest js/wasm
// program) in place of internal/webui/dist, through go build -overlay, so
// that the scripts do not depend on whether the real web vault is built:
//
//	keyhold           keyhold with the fixture's manifest
//	server            keyhold-server serving the fixture
//	altserver         keyhold-server serving the fixture with another
//	                  /sw.js (its own manifest updated to match, as a
//	                  server operator who changes the code would)
//	realserver        keyhold-server as built from the tree (the real web
//	                  vault, or none)

var webBins struct {
	dir                  string
	keyhold, good, alter string
}

// buildWebBins builds the programs the scripts run, removed when the test
// and all its scripts are done.
func buildWebBins(t *testing.T) {
	err := doBuildWebBins()
	if webBins.dir != "" {
		t.Cleanup(func() { os.RemoveAll(webBins.dir) })
	}
	if err != nil {
		t.Fatal(err)
	}
}

func doBuildWebBins() error {
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "keyhold-web-bins-")
	if err != nil {
		return err
	}
	webBins.dir = dir
	r, err := build.Build(context.Background(), build.Options{
		Root:          root,
		App:           filepath.Join(root, "internal/webui/testdata/app"),
		Wasm:          []build.Entry{{Name: "keyhold.wasm", Pkg: "./internal/webui/testdata/wasm"}},
		BrotliQuality: 1,
	})
	if err != nil {
		return err
	}
	good := filepath.Join(dir, "dist-good")
	if err := r.Write(good); err != nil {
		return err
	}
	// The altered build: the same files, but another service worker,
	// and a manifest that says so.
	alter := filepath.Join(dir, "dist-alter")
	if err := r.Write(alter); err != nil {
		return err
	}
	sw := []byte("self.addEventListener('fetch', (e) => { /* also sends what it sees elsewhere */ });\n")
	if err := os.WriteFile(filepath.Join(alter, manifest.StoreName("/sw.js")), sw, 0o644); err != nil {
		return err
	}
	am := *r.Manifest
	am.Files = map[string]string{}
	for p, s := range r.Manifest.Files {
		am.Files[p] = s
	}
	am.Files["/sw.js"] = manifest.Sum(sw)
	if err := os.WriteFile(filepath.Join(alter, manifest.ManifestFile), am.Marshal(), 0o644); err != nil {
		return err
	}
	distDir := filepath.Join(root, "internal/webui/dist")
	overlay := func(name, from string) (string, error) {
		repl := map[string]string{}
		// Hide the tree's own build, if any, then add the fixture's.
		err := filepath.WalkDir(distDir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".go") {
				repl[p] = ""
			}
			return err
		})
		if err != nil {
			return "", err
		}
		err = filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(from, p)
				repl[filepath.Join(distDir, rel)] = p
			}
			return err
		})
		if err != nil {
			return "", err
		}
		b, _ := json.Marshal(map[string]any{"Replace": repl})
		path := filepath.Join(dir, name+".json")
		return path, os.WriteFile(path, b, 0o644)
	}
	goodOv, err := overlay("good", good)
	if err != nil {
		return err
	}
	alterOv, err := overlay("alter", alter)
	if err != nil {
		return err
	}
	gobuild := func(out, ov, pkg string) (string, error) {
		path := filepath.Join(dir, out)
		cmd := exec.Command("go", "build", "-overlay", ov, "-o", path, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s: %v\n%s", pkg, err, b)
		}
		return path, nil
	}
	if webBins.keyhold, err = gobuild("bin/keyhold", goodOv, "./cmd/keyhold"); err != nil {
		return err
	}
	if webBins.good, err = gobuild("keyhold-server-good", goodOv, "./cmd/keyhold-server"); err != nil {
		return err
	}
	webBins.alter, err = gobuild("keyhold-server-alter", alterOv, "./cmd/keyhold-server")
	return err
}

func TestWebScripts(t *testing.T) {
	buildWebBins(t)
	real := buildServer(t)
	good := &serverSet{procs: map[string]*serverProc{}, bin: webBins.good}
	alter := &serverSet{procs: map[string]*serverProc{}, bin: webBins.alter}
	plain := &serverSet{procs: map[string]*serverProc{}, bin: real}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/web",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			if err := setup(env); err != nil {
				return err
			}
			// keyhold built with the fixture's manifest comes first.
			env.Setenv("PATH", filepath.Dir(webBins.keyhold)+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("BACKEND", "sqlite")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":   cmdExitCode,
			"golden":     cmdGolden,
			"server":     good.cmd,
			"altserver":  alter.cmd,
			"realserver": plain.cmd,
		},
	})
}
