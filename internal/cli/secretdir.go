package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/keyhold/keyhold/internal/keystore"
	"github.com/keyhold/keyhold/internal/vault"
)

// secretKeyDir is the directory of the Secret Key files (SPEC §10,
// "Secret Key files"): $XDG_STATE_HOME/keyhold/secret-keys, else
// ~/.local/state/keyhold/secret-keys (on macOS and Windows, the user's
// configuration directory instead of ~/.local/state).
func secretKeyDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "keyhold", "secret-keys"), nil
	}
	switch runtime.GOOS {
	case "darwin", "windows", "ios":
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("finding the directory for Secret Key files: %w", err)
		}
		return filepath.Join(d, "keyhold", "secret-keys"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the directory for Secret Key files (set XDG_STATE_HOME or HOME): %w", err)
	}
	return filepath.Join(home, ".local", "state", "keyhold", "secret-keys"), nil
}

// secretKeyFile is the path of the Secret Key file for a device's entry.
func secretKeyFile(entry string) (string, error) {
	dir, err := secretKeyDir()
	if err != nil {
		return "", err
	}
	return vault.SecretKeyFile(dir, entry), nil
}

// vaultOpts are what the vault is told about this process: where Secret
// Key files go, and where a device created now keeps its Secret Key
// (decided by applyKeystore).
func (c *cmdEnv) vaultOpts() []vault.Option {
	mode := c.newKeystore
	if mode == "" {
		mode = keystore.File
	}
	return []vault.Option{vault.WithSecretKeyDirFunc(secretKeyDir), vault.WithNewKeystore(mode), vault.WithSystemKeystore(c.keystore())}
}
