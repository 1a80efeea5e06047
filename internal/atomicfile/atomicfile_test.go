package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestReplaceKeepsOnlyTheNewFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "settings.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Replace(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "new" {
		t.Fatalf("read %q, %v; want new", b, err)
	}
	if runtime.GOOS != "windows" {
		st, _ := os.Stat(path)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600 (not the old file's)", st.Mode().Perm())
		}
	}
	assertNoTemps(t, dir)
}

func TestReplaceConcurrentWritersNeverMix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	a := make([]byte, 1<<16)
	b := make([]byte, 1<<16)
	for i := range a {
		a[i], b[i] = 'a', 'b'
	}
	var wg sync.WaitGroup
	for _, data := range [][]byte{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := Replace(path, data, 0o600); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(a) && string(got) != string(b) {
		t.Fatalf("file mixes two writers' data")
	}
	assertNoTemps(t, dir)
}

func TestCreateNewRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kit.txt")
	if err := CreateNew(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := CreateNew(path, []byte("second"), 0o600)
	var ee *ExistsError
	if !errors.As(err, &ee) || !errors.Is(err, fs.ErrExist) || ee.Path != path {
		t.Fatalf("second CreateNew: %v; want an ExistsError for %s", err, path)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "first" {
		t.Fatalf("file now holds %q; the first write must be kept", b)
	}
	assertNoTemps(t, dir)
}

func TestCreateNewMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent", "f")
	for name, write := range map[string]func(string, []byte, fs.FileMode) error{"CreateNew": CreateNew, "Replace": Replace, "WriteNew": WriteNew} {
		err := write(path, []byte("x"), 0o600)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s in a missing directory: %v; want a not-exist error", name, err)
		}
		// The message names the file asked for, not a temporary name.
		if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), TempPrefix) {
			t.Errorf("%s: error %q should name %s and no temporary file", name, err, path)
		}
	}
}

func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "export.csv")
	if err := WriteNew(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteNew(path, []byte("second"), 0o600)
	var ee *ExistsError
	if !errors.As(err, &ee) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second WriteNew: %v; want an ExistsError", err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "first" {
		t.Fatalf("file now holds %q; the first write must be kept", b)
	}
	if runtime.GOOS != "windows" {
		st, _ := os.Stat(path)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", st.Mode().Perm())
		}
	}
	// Nothing is ever written beside the file the user named.
	des, _ := os.ReadDir(dir)
	if len(des) != 1 {
		t.Errorf("directory holds %d entries, want only %s", len(des), path)
	}
}

// A write that fails leaves nothing behind: no temporary file, and the
// old file whole.
func TestFailedWriteLeavesNothing(t *testing.T) {
	if runtime.GOOS == "windows" || os.Getuid() == 0 {
		t.Skip("needs a directory this user cannot write to")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "settings.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if err := Replace(path, []byte("new"), 0o600); err == nil {
		t.Fatal("Replace into a read-only directory succeeded")
	}
	if err := CreateNew(filepath.Join(dir, "other"), []byte("new"), 0o600); err == nil {
		t.Fatal("CreateNew into a read-only directory succeeded")
	}
	os.Chmod(dir, 0o700)
	b, _ := os.ReadFile(path)
	if string(b) != "old" {
		t.Errorf("old file holds %q after a failed replace", b)
	}
	assertNoTemps(t, dir)
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if len(de.Name()) >= len(TempPrefix) && de.Name()[:len(TempPrefix)] == TempPrefix {
			t.Errorf("temporary file %s left behind", de.Name())
		}
	}
}
