package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyhold/keyhold/internal/keys"
)

// DeviceFile is the name, inside the vault directory, of the file that holds
// this device's secrets: the Secret Key (and, while a key rotation
// completes, the next one). It is separate from the vault database, so a
// copied vault file alone is useless even with the password, and it is
// created 0600 in a 0700 directory.
const DeviceFile = "device.json"

// device is the on-disk form of DeviceFile.
type device struct {
	Version      int            `json:"version"`
	AccountID    string         `json:"account_id"`
	SecretKey    string         `json:"secret_key"`
	Email        string         `json:"email,omitempty"`
	SyncLocation string         `json:"sync_location,omitempty"`
	KDFFloor     keys.KDFParams `json:"kdf_floor"`
}

// DeviceInfo is what the device file records, with the Secret Key parsed.
type DeviceInfo struct {
	AccountID    keys.AccountID
	SecretKey    *keys.SecretKey
	Email        string
	SyncLocation string
	// KDFFloor is the strongest KDF setting this device has used. An
	// envelope with weaker settings is refused: it can only come from a
	// downgrade by someone who replaced the vault file.
	KDFFloor keys.KDFParams
}

// ErrNoDevice means the vault directory has no device secrets.
var ErrNoDevice = errors.New("this device has no Secret Key for the vault")

func readDevice(path string) (*DeviceInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoDevice
		}
		return nil, err
	}
	defer clear(b)
	di, err := parseDevice(b)
	if err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", path, err)
	}
	return di, nil
}

// parseDevice decodes a device file.
func parseDevice(b []byte) (*DeviceInfo, error) {
	var d device
	if err := json.Unmarshal(b, &d); err != nil || d.Version != 1 {
		return nil, ErrNoDevice
	}
	id, err := keys.ParseAccountID(d.AccountID)
	if err != nil {
		return nil, err
	}
	sk, err := keys.ParseSecretKey(d.SecretKey)
	if err != nil {
		return nil, err
	}
	if d.KDFFloor.Time > keys.MaxKDF.Time || d.KDFFloor.MemoryKiB > keys.MaxKDF.MemoryKiB {
		sk.Wipe()
		return nil, fmt.Errorf("%w: its key derivation floor is out of range", ErrNoDevice)
	}
	return &DeviceInfo{AccountID: id, SecretKey: sk, Email: d.Email, SyncLocation: d.SyncLocation, KDFFloor: d.KDFFloor}, nil
}

func writeDevice(path string, di *DeviceInfo) error {
	d := device{Version: 1, AccountID: di.AccountID.String(), SecretKey: di.SecretKey.Display(),
		Email: di.Email, SyncLocation: di.SyncLocation, KDFFloor: di.KDFFloor}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	defer clear(b)
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

// writeFileAtomic writes data to a temporary file in the same directory,
// syncs it, renames it over path and syncs the directory, so that a crash
// leaves either the old or the new file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync() // not supported everywhere; best effort
	return nil
}

// SetSyncLocation records where the vault is synced (a server URL), which
// the recovery kit carries to new devices.
func (v *Vault) SetSyncLocation(loc string) error {
	path := filepath.Join(v.Dir, DeviceFile)
	di, err := readDevice(path)
	if err != nil {
		return err
	}
	defer di.SecretKey.Wipe()
	di.SyncLocation = loc
	return writeDevice(path, di)
}
