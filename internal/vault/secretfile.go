package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/keystore"
)

// Without a system key store, a device keeps its Secret Key in a file of
// its own outside the vault directory (SPEC §10, "Secret Key files"), so
// that copying, backing up or syncing the vault directory never carries
// the Secret Key along with the data it protects. The files are named
// like the key store's entries (one per vault directory and Secret Key, so
// several vaults coexist and a rotation writes beside the old key).

// secretStore is where entry-named Secret Keys live: the system key store
// or the Secret Key files.
type secretStore interface {
	Get(name string) ([]byte, error)
	Set(name string, secret []byte) error
	Delete(name string) error
}

func (sc secrets) store(m keystore.Mode) secretStore {
	if m == keystore.OS {
		return sc.systemStore()
	}
	return fileStore{sc}
}

// systemStore is the system key store given with WithSystemKeystore.
func (sc secrets) systemStore() *keystore.Store {
	if sc.system == nil {
		return keystore.New(keystore.Options{})
	}
	return sc.system
}

type fileStore struct{ sc secrets }

func (f fileStore) Get(name string) ([]byte, error) {
	path, err := f.sc.keyFile(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", keystore.ErrNotFound, path)
	}
	return b, err
}

func (f fileStore) Set(name string, secret []byte) error {
	path, err := f.sc.keyFile(name)
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

func (f fileStore) Delete(name string) error {
	path, err := f.sc.keyFile(name)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
