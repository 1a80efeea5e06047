//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// The scripts in testdata/folder run devices that share a vault through
// a folder: each device has its own copy of the folder, and foldercopy
// plays the sync client between the copies.
func TestFolderScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/folder",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup:               setup,
		Condition:           folderCondition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":   cmdExitCode,
			"capture":    cmdCapture,
			"jsonget":    cmdJSONGet,
			"streq":      cmdStrEq,
			"typo":       cmdTypo,
			"foldercopy": cmdFolderCopy,
			"foldergrep": cmdFolderGrep,
			"waitlocked": cmdWaitLocked,
			"sameitem":   cmdSameItem,
			"stpair":     cmdSTPair,
			"stwait":     cmdSTWait,
			"golden":     cmdGolden,
		},
	})
}

// foldercopy [-partial] SEED SRC DST
// copies the files of folder SRC that DST lacks (or holds shorter) into
// DST, in an order drawn from SEED, as a sync client would. With
// -partial it copies only some of them, cuts some short (a copy caught
// mid-write, completed by a later foldercopy), and leaves the sync
// client's own half-written temporary files behind. It never deletes.
func cmdFolderCopy(ts *testscript.TestScript, neg bool, args []string) {
	partial := len(args) > 0 && args[0] == "-partial"
	if partial {
		args = args[1:]
	}
	if neg || len(args) != 3 {
		ts.Fatalf("usage: foldercopy [-partial] SEED SRC DST")
	}
	var seed uint64
	for _, c := range args[0] {
		seed = seed*31 + uint64(c)
	}
	r := rand.New(rand.NewPCG(seed, 11))
	src, dst := ts.MkAbs(args[1]), ts.MkAbs(args[2])
	var rels []string
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(src, p)
			rels = append(rels, rel)
		}
		return nil
	})
	r.Shuffle(len(rels), func(i, j int) { rels[i], rels[j] = rels[j], rels[i] })
	for _, rel := range rels {
		if strings.HasPrefix(filepath.Base(rel), ".") {
			continue // another client's temporary file
		}
		data, err := os.ReadFile(filepath.Join(src, rel))
		ts.Check(err)
		to := filepath.Join(dst, rel)
		if old, err := os.ReadFile(to); err == nil && len(old) >= len(data) {
			continue
		}
		ts.Check(os.MkdirAll(filepath.Dir(to), 0o700))
		if partial {
			switch r.IntN(4) {
			case 0:
				continue // not yet
			case 1:
				if len(data) > 1 {
					data = data[:r.IntN(len(data))] // caught mid-write
				}
			case 2:
				// The client's own temporary file, half written.
				tmp := filepath.Join(filepath.Dir(to), ".syncthing."+filepath.Base(rel)+".tmp")
				ts.Check(os.WriteFile(tmp, data[:len(data)/2], 0o600))
				continue
			}
		}
		ts.Check(os.WriteFile(to, data, 0o600))
	}
}

// foldergrep DIR TEXT...
// succeeds if some file under DIR contains one of the TEXTs; with !,
// fails naming the file and the text found.
func cmdFolderGrep(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: foldergrep DIR TEXT...")
	}
	found := ""
	n := 0
	filepath.WalkDir(ts.MkAbs(args[0]), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		n++
		b, err := os.ReadFile(p)
		ts.Check(err)
		for _, s := range args[1:] {
			if bytes.Contains(b, []byte(s)) || bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(s))) {
				found = p + " holds " + s
			}
		}
		return nil
	})
	if n == 0 {
		ts.Fatalf("foldergrep: no files under %s", args[0])
	}
	if neg && found != "" {
		ts.Fatalf("%s", found)
	}
	if !neg && found == "" {
		ts.Fatalf("none of %q found under %s", args[1:], args[0])
	}
}

// sameitem FILE1 FILE2
// compares two `keyhold show --json` outputs, apart from the revision
// number (each device numbers its own revisions).
func cmdSameItem(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sameitem FILE1 FILE2")
	}
	var a, b map[string]any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &a))
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &b))
	delete(a, "revision")
	delete(b, "revision")
	if reflect.DeepEqual(a, b) == neg {
		ts.Fatalf("%s and %s: same %v", args[0], args[1], !neg)
	}
}
