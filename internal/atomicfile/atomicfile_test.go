package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
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
	if err := CreateNew(path, []byte("x"), 0o600); err == nil || errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateNew in a missing directory: %v; want a not-exist error", err)
	}
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
