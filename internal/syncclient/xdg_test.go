package syncclient

import (
	"fmt"
	"os"
	"testing"
)

// TestMain keeps the Secret Key files the tests' devices write out of the
// user's own state directory: every XDG directory points into a temporary
// directory removed at the end.
// Helper processes the tests start (this binary again) inherit the
// directory through KEYHOLD_TEST_XDG.
func TestMain(m *testing.M) {
	dir := os.Getenv("KEYHOLD_TEST_XDG")
	owner := dir == ""
	if owner {
		var err error
		if dir, err = os.MkdirTemp("", "keyhold-test-xdg-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Setenv("KEYHOLD_TEST_XDG", dir)
	}
	for _, k := range []string{"XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"} {
		os.Setenv(k, dir+"/"+k)
	}
	code := m.Run()
	if owner {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}
