package vault

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/testenv"
)

// TestMain keeps the Secret Key files the tests' devices write out of the
// user's own state directory.
func TestMain(m *testing.M) { os.Exit(testenv.RunIsolatedXDG(m)) }

// testOpts are the options the tests open and create vaults with: Secret
// Key files in the isolated state directory, as the command line would
// place them.
func testOpts() []Option {
	return []Option{WithSecretKeyDir(filepath.Join(os.Getenv("XDG_STATE_HOME"), "keyhold", "secret-keys"))}
}
