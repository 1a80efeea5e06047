//go:build unix

package main

import (
	"archive/zip"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyhold/keyhold/internal/testenv"
)

// The scripts in testdata/import run keyhold import and export against
// files made by the other password managers' own tools where they run
// here (keepassxc-cli for KeePass), checking what a user sees.
func TestImportScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/import",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup:               importSetup,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
			"capture":  cmdCapture,
			"jsonget":  cmdJSONGet,
			"streq":    cmdStrEq,
			"flipbyte": cmdFlipByte,
			"truncate": cmdTruncate,
			"garbage":  cmdGarbage,
		},
		Condition: importCondition,
	})
}

// importSetup is setup plus $FIXTURES, the importers' fixture files
// (written from each format's documentation), one directory a source as
// each reader's package keeps them, and $WORK/export.1pux, the 1PUX
// fixture zipped as 1Password writes it.
func importSetup(env *testscript.Env) error {
	if err := setup(env); err != nil {
		return err
	}
	readers, err := filepath.Abs("../../internal/transfer")
	if err != nil {
		return err
	}
	fixtures := filepath.Join(env.WorkDir, ".fixtures")
	if err := os.Mkdir(fixtures, 0o700); err != nil {
		return err
	}
	for _, src := range []string{"bitwarden", "browser", "lastpass", "msecure", "onepassword"} {
		if err := os.Symlink(filepath.Join(readers, src, "testdata", src), filepath.Join(fixtures, src)); err != nil {
			return err
		}
	}
	env.Setenv("FIXTURES", fixtures)
	return zipDir(filepath.Join(fixtures, "onepassword", "1pux"), filepath.Join(env.WorkDir, "export.1pux"))
}

func zipDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// importCondition adds [keepassxc]: whether keepassxc-cli is installed.
// Under CI, where scripts/deps.sh installs it, its absence fails the
// script instead of skipping it.
func importCondition(cond string) (bool, error) {
	if cond != "keepassxc" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	path, err := testenv.HaveProgram("keepassxc-cli", "keepassxc")
	return path != "", err
}
