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
		s, done, err := vault.CreateJoinedOpen(dir, j, kv, func() error { return saveConfig(dir, cfg) }, testOpts()...)
		if err != nil {
			return nil, nil, err
		}
		return s, done, nil
	}
}

// loadConfig and saveConfig keep a device's settings in its vault
// directory, as package syncfile does for the command line (which this
// package's tests cannot import).
func loadConfig(dir string) (*Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, err
	}
	return ParseConfig(b)
}

func saveConfig(dir string, c *Config) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o600)
}

func hostName() string {
	name, _ := os.Hostname()
	return name
}
