package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/keystore"
)

// Without a system key store, a device keeps its Secret Key in a file of
// its own outside the vault directory (SPEC §10, "Secret Key files"), so
// that copying, backing up or syncing the vault directory never carries
// the Secret Key along with the data it protects. The files are named
// like the key store's entries (one per vault directory and Secret Key, so
// several vaults coexist and a rotation writes beside the old key).

// SecretKeyDir is the directory of the Secret Key files:
// $XDG_STATE_HOME/keyhold/secret-keys, else ~/.local/state/keyhold/
// secret-keys (on macOS and Windows, the user's configuration directory
// instead of ~/.local/state).
func SecretKeyDir() (string, error) {
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

// SecretKeyFile is the path of the Secret Key file for entry name.
func SecretKeyFile(name string) (string, error) {
	dir, err := SecretKeyDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, strings.ReplaceAll(name, " ", "-")), nil
}

// secretStore is where entry-named Secret Keys live: the system key store
// or the Secret Key files.
type secretStore interface {
	Get(name string) ([]byte, error)
	Set(name string, secret []byte) error
	Delete(name string) error
}

func storeFor(m keystore.Mode) secretStore {
	if m == keystore.OS {
		return osStore{}
	}
	return fileStore{}
}

type osStore struct{}

func (osStore) Get(name string) ([]byte, error)      { return keystore.Get(name) }
func (osStore) Set(name string, secret []byte) error { return keystore.Set(name, secret) }
func (osStore) Delete(name string) error             { return keystore.Delete(name) }

type fileStore struct{}

func (fileStore) Get(name string) ([]byte, error) {
	path, err := SecretKeyFile(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", keystore.ErrNotFound, path)
	}
	return b, err
}

func (fileStore) Set(name string, secret []byte) error {
	path, err := SecretKeyFile(name)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("making the directory for Secret Key files: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	return atomicfile.Replace(path, secret, 0o600)
}

func (fileStore) Delete(name string) error {
	path, err := SecretKeyFile(name)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
