package syncfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/syncclient"
)

// TestLoadSave: settings round-trip through the vault directory in a
// file only the user can read; a directory without them is "not
// enabled"; a damaged file is named, with what to do.
func TestLoadSave(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, syncclient.ErrNotEnabled) {
		t.Fatalf("no settings: %v, want ErrNotEnabled", err)
	}
	c, err := syncclient.NewConfig("https://sync.example", "", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	c.Token = "tok"
	if err := Save(dir, c); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, syncclient.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("settings file mode %v, want 0600", st.Mode().Perm())
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *c {
		t.Fatalf("loaded %+v, saved %+v", got, c)
	}
	if err := os.WriteFile(filepath.Join(dir, syncclient.ConfigFile), []byte(`{"version":2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, syncclient.ConfigFile)+" is damaged; run keyhold sync enable") {
		t.Fatalf("damaged settings: %v", err)
	}
}
