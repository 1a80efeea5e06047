package syncclient

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/testenv"
	"github.com/keyhold/keyhold/internal/vault"
)

// TestMain keeps the Secret Key files the tests' devices write out of the
// user's own state directory.
func TestMain(m *testing.M) { os.Exit(testenv.RunIsolatedXDG(m)) }

// testOpts are the options the tests open and create vaults with: Secret
// Key files in the isolated state directory, as the command line would
// place them.
func testOpts() []vault.Option {
	return []vault.Option{vault.WithSecretKeyDir(filepath.Join(os.Getenv("XDG_STATE_HOME"), "keyhold", "secret-keys"))}
}

// joinedVault writes a new device's vault and sync settings in dir and
// opens it, for Setup, as the command line does.
func joinedVault(dir string, cfg *Config) func(*vault.Join, uint32) (Local, func(), error) {
	return func(j *vault.Join, kv uint32) (Local, func(), error) {
		s, done, err := vault.CreateJoinedOpen(dir, j, kv, func() error { return cfg.Save(dir) }, testOpts()...)
		if err != nil {
			return nil, nil, err
		}
		return s, done, nil
	}
}
