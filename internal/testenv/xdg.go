// Package testenv holds what the tests of several packages need from
// their environment. It is imported by tests only.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// xdgVar carries the temporary directory to helper processes the tests
// start (the test binary again), so that they share it.
const xdgVar = "KEYHOLD_TEST_XDG"

// RunIsolatedXDG runs the tests with every XDG base directory pointing
// into a temporary directory, removed at the end, and returns the exit
// code for os.Exit. Devices made by tests write their Secret Key files
// under XDG_STATE_HOME: without this they would land in the user's own
// state directory. Call it from TestMain.
func RunIsolatedXDG(m *testing.M) int {
	dir := os.Getenv(xdgVar)
	owner := dir == ""
	if owner {
		var err error
		if dir, err = os.MkdirTemp("", "keyhold-test-xdg-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.Setenv(xdgVar, dir)
		defer os.RemoveAll(dir)
	}
	for _, k := range []string{"XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"} {
		os.Setenv(k, filepath.Join(dir, k))
	}
	return m.Run()
}
