package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/keystore"
)

// The recovery kit in the system key store. Besides each vault's own
// entry ("device …"), a device whose Secret Key is in the key store keeps
// what its recovery kit holds under "kit ACCOUNT-ID", and the newest such
// kit under "kit", so that `keyhold setup --from-keystore` can set up a
// vault from it when the vault directory is gone, or on another computer
// that shares the key store (an iCloud Keychain, a roaming profile).

const kitEntry = "kit"

// storedKit is the JSON of a kit entry.
type storedKit struct {
	Version      int    `json:"version"`
	AccountID    string `json:"account_id"`
	SecretKey    string `json:"secret_key"`
	SyncLocation string `json:"sync_location,omitempty"`
}

// StoredKit is a recovery kit read from the key store.
type StoredKit struct {
	AccountID    keys.AccountID
	SecretKey    *keys.SecretKey
	SyncLocation string
}

func rememberKit(st *keystore.Store, di *DeviceInfo) error {
	b, err := json.Marshal(storedKit{Version: 1, AccountID: di.AccountID.String(),
		SecretKey: di.SecretKey.Display(), SyncLocation: di.SyncLocation})
	if err != nil {
		return err
	}
	defer clear(b)
	for _, name := range []string{kitEntry + " " + di.AccountID.String(), kitEntry} {
		if err := st.Set(name, b); err != nil {
			return fmt.Errorf("keeping the recovery kit in the system key store: %w", err)
		}
	}
	return nil
}

// KitFromKeystore reads the recovery kit kept in the system key store st:
// the given account's, or with account empty the newest one stored.
func KitFromKeystore(st *keystore.Store, account string) (*StoredKit, error) {
	name := kitEntry
	if account != "" {
		id, err := keys.ParseAccountID(account)
		if err != nil {
			return nil, err
		}
		name += " " + id.String()
	}
	b, err := st.Get(name)
	if err != nil {
		if errors.Is(err, keystore.ErrNotFound) {
			return nil, fmt.Errorf("the system key store holds no Keyhold recovery kit%s; use --kit with your printed kit or its file", forAccount(account))
		}
		return nil, err
	}
	defer clear(b)
	var sk storedKit
	if err := json.Unmarshal(b, &sk); err != nil || sk.Version != 1 {
		return nil, fmt.Errorf("the recovery kit in the system key store (entry %q) is damaged", name)
	}
	id, err := keys.ParseAccountID(sk.AccountID)
	if err != nil {
		return nil, fmt.Errorf("the recovery kit in the system key store (entry %q) is damaged: %w", name, err)
	}
	key, err := keys.ParseSecretKey(sk.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("the recovery kit in the system key store (entry %q) is damaged: %w", name, err)
	}
	return &StoredKit{AccountID: id, SecretKey: key, SyncLocation: sk.SyncLocation}, nil
}

func forAccount(a string) string {
	if a == "" {
		return ""
	}
	return " for account " + a
}

// SecretsPlace reports where a vault directory's device keeps its Secret
// Key (keystore.OS or keystore.File) and the entry: of the key store, or
// of the Secret Key files (SecretKeyFile; empty for a device file from
// before them, which still holds the key until its next use).
func SecretsPlace(dir string) (keystore.Mode, string, error) {
	d, err := readDeviceFile(filepath.Join(dir, DeviceFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", "", ErrNoDevice
		}
		return "", "", err
	}
	if d.Keystore == string(keystore.OS) {
		return keystore.OS, d.KeystoreItem, nil
	}
	return keystore.File, d.KeystoreItem, nil
}

// MoveSecrets moves this device's Secret Key to the key store (mode
// keystore.OS) or into its device file (keystore.File). The new place is
// written and read back before the old one is cleared, so a failure
// leaves the Secret Key where it was.
func (v *Vault) MoveSecrets(mode keystore.Mode) error {
	path := filepath.Join(v.Dir, DeviceFile)
	di, err := v.Device()
	if err != nil {
		return err
	}
	defer di.SecretKey.Wipe()
	if di.Keystore == mode {
		return nil
	}
	old, oldMode := di.keystoreItem, di.Keystore
	moved := *di
	moved.Keystore, moved.keystoreItem, moved.supersedes = mode, "", ""
	if err := v.opts.sec.writeDevice(path, &moved); err != nil {
		return err
	}
	back, err := v.opts.sec.readDevice(path)
	if err != nil {
		return fmt.Errorf("the Secret Key could not be read back from its new place: %w", err)
	}
	same := *back.SecretKey == *di.SecretKey
	back.SecretKey.Wipe()
	if !same {
		return errors.New("the Secret Key read back from its new place differs; it was left in both places")
	}
	if old != "" {
		return v.opts.sec.store(oldMode).Delete(old)
	}
	return nil
}

// ForgetDevice deletes a vault directory's key store entry, if its device
// keeps one. Call it before removing the directory's device file. The
// "kit" entries stay: they are the recovery kit, which outlives a device.
func ForgetDevice(dir string, o ...Option) error {
	return newOptions(o).sec.forgetDevice(dir)
}

func (sc secrets) forgetDevice(dir string) error {
	mode, item, err := SecretsPlace(dir)
	if err != nil || item == "" {
		return nil
	}
	return sc.store(mode).Delete(item)
}
