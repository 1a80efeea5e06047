package vault

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/keystore"
)

// DeviceFile is the name, inside the vault directory, of the file that
// says where this device's secrets are: the Secret Key (and, while a key
// rotation completes, the next one), either in the system key store
// (package keystore) or in this file itself. It is separate from the vault
// database, so a copied vault file alone is useless even with the
// password, and it is created 0600 in a 0700 directory.
const DeviceFile = "device.json"

// device is the on-disk form of DeviceFile. With the Secret Key in the
// system key store, SecretKey is empty and KeystoreItem names the entry.
type device struct {
	Version      int            `json:"version"`
	AccountID    string         `json:"account_id"`
	SecretKey    string         `json:"secret_key"`
	Keystore     string         `json:"keystore,omitempty"`
	KeystoreItem string         `json:"keystore_item,omitempty"`
	Supersedes   string         `json:"supersedes,omitempty"`
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
	// Keystore is where the Secret Key is kept: keystore.OS or
	// keystore.File. Empty for a device being created, which then goes
	// where WithNewKeystore says.
	Keystore keystore.Mode
	// keystoreItem is the key store entry holding the Secret Key, and
	// supersedes an entry to delete once this file is in place (the
	// previous Secret Key's, after a rotation).
	keystoreItem, supersedes string
}

// ErrNoDevice means the vault directory has no device secrets.
var ErrNoDevice = errors.New("this device has no Secret Key for the vault")

func (sc secrets) readDevice(path string) (*DeviceInfo, error) {
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
	if di.Keystore == keystore.File && di.keystoreItem == "" && !strings.HasSuffix(path, ".next") {
		// A device file from before Secret Key files: the key moves out
		// of the vault directory on first use.
		if err := sc.writeDevice(path, di); err != nil {
			di.SecretKey.Wipe()
			return nil, fmt.Errorf("moving this device's Secret Key out of the vault directory: %w", err)
		}
		return di, nil
	}
	if di.keystoreItem != "" {
		st := sc.store(di.Keystore)
		secret, err := st.Get(di.keystoreItem)
		if err != nil {
			if errors.Is(err, keystore.ErrNotFound) {
				if di.Keystore == keystore.File {
					file, _ := sc.keyFile(di.keystoreItem)
					return nil, fmt.Errorf("%w: %s says the Secret Key is in %s, but that file is gone (a vault directory copied from elsewhere carries no Secret Key); set this device up from your recovery kit (keyhold setup --kit KIT --from VAULT)", ErrNoDevice, path, file)
				}
				return nil, fmt.Errorf("%w: %s says the Secret Key is in the system key store, but the entry is gone; set this device up again from your recovery kit (keyhold setup)", ErrNoDevice, path)
			}
			if di.Keystore == keystore.File {
				return nil, fmt.Errorf("reading this device's Secret Key file: %w", err)
			}
			return nil, fmt.Errorf("reading this device's Secret Key: %w; start or unlock the key store (or use the device where it is unlocked)", err)
		}
		defer clear(secret)
		if di.SecretKey, err = keys.ParseSecretKey(string(secret)); err != nil {
			if di.Keystore == keystore.File {
				name, _ := sc.keyFile(di.keystoreItem)
				return nil, fmt.Errorf("the Secret Key file %s is damaged: %w", name, err)
			}
			return nil, fmt.Errorf("the system key store's entry %q is damaged: %w", di.keystoreItem, err)
		}
		if want := keystoreName(path, di); want != di.keystoreItem && !strings.HasSuffix(path, ".next") {
			// The vault directory was copied or moved: give this copy an
			// entry of its own, so that nothing done to one copy (a
			// rotation, a move to a file, removing it) takes the other's
			// Secret Key away. The old entry stays for its own directory.
			di.keystoreItem = ""
			if err := sc.writeDevice(path, di); err != nil {
				return nil, err
			}
		}
		if di.supersedes != "" && !strings.HasSuffix(path, ".next") {
			// A rotation finished: the previous Secret Key's entry goes,
			// and so does the note to delete it.
			if err := st.Delete(di.supersedes); err == nil {
				di.supersedes = ""
				_ = sc.writeDevice(path, di)
			}
		}
	}
	return di, nil
}

// parseDevice decodes a device file. With the Secret Key in the key
// store, the returned SecretKey is nil.
func parseDevice(b []byte) (*DeviceInfo, error) {
	var d device
	if err := json.Unmarshal(b, &d); err != nil || d.Version != 1 {
		return nil, ErrNoDevice
	}
	id, err := keys.ParseAccountID(d.AccountID)
	if err != nil {
		return nil, err
	}
	if d.KDFFloor.Time > keys.MaxKDF.Time || d.KDFFloor.MemoryKiB > keys.MaxKDF.MemoryKiB {
		return nil, fmt.Errorf("%w: its key derivation floor is out of range", ErrNoDevice)
	}
	di := &DeviceInfo{AccountID: id, Email: d.Email, SyncLocation: d.SyncLocation, KDFFloor: d.KDFFloor}
	switch keystore.Mode(d.Keystore) {
	case keystore.OS:
		if d.SecretKey != "" || d.KeystoreItem == "" {
			return nil, fmt.Errorf("%w: it names the key store but no entry", ErrNoDevice)
		}
		di.Keystore, di.keystoreItem, di.supersedes = keystore.OS, d.KeystoreItem, d.Supersedes
		return di, nil
	case keystore.File, "":
		di.Keystore = keystore.File
		if d.KeystoreItem != "" {
			// The Secret Key is in a file of its own (secretfile.go).
			if d.SecretKey != "" {
				return nil, fmt.Errorf("%w: it holds a Secret Key and names a Secret Key file", ErrNoDevice)
			}
			di.keystoreItem, di.supersedes = d.KeystoreItem, d.Supersedes
			return di, nil
		}
	default:
		return nil, fmt.Errorf("%w: unknown key store %q", ErrNoDevice, d.Keystore)
	}
	if di.SecretKey, err = keys.ParseSecretKey(d.SecretKey); err != nil {
		return nil, err
	}
	return di, nil
}

// keystoreName names the key store entry for a device file's Secret Key.
// It depends on the vault directory, so two vaults of one account on one
// computer (each may be mid-rotation) never share an entry, and on the
// Secret Key, so a rotation writes a new entry beside the old one instead
// of over it. It reveals neither: a hash of both, cut to 64 bits.
func keystoreName(path string, di *DeviceInfo) string {
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		dir = filepath.Dir(path)
	}
	h := sha256.New()
	h.Write([]byte("keyhold keystore entry v1\x00" + dir + "\x00"))
	h.Write(di.SecretKey[:])
	return fmt.Sprintf("device %s %x", di.AccountID, h.Sum(nil)[:8])
}

func (sc secrets) writeDevice(path string, di *DeviceInfo) error {
	d := device{Version: 1, AccountID: di.AccountID.String(),
		Email: di.Email, SyncLocation: di.SyncLocation, KDFFloor: di.KDFFloor}
	mode := di.Keystore
	if mode == "" {
		mode = sc.mode
	}
	if mode != keystore.OS {
		mode = keystore.File
	}
	st := sc.store(mode)
	name := keystoreName(path, di)
	next := strings.HasSuffix(path, ".next")
	cur, _ := readDeviceFile(strings.TrimSuffix(path, ".next"))
	d.Keystore, d.KeystoreItem, d.Supersedes = string(mode), name, di.supersedes
	if next && cur != nil && sameStore(cur.Keystore, mode) && cur.KeystoreItem != "" && cur.KeystoreItem != name {
		// This file replaces the device file by a rename; the entry of
		// the Secret Key it replaces is deleted after that.
		d.Supersedes = cur.KeystoreItem
	}
	sk := []byte(di.SecretKey.Display())
	err := st.Set(name, sk)
	clear(sk)
	if err != nil {
		if mode == keystore.File {
			return fmt.Errorf("writing the Secret Key file: %w", err)
		}
		return fmt.Errorf("keeping the Secret Key in the system key store: %w", err)
	}
	if !next && mode == keystore.OS {
		// The kit entries follow the device file once it is in place: a
		// Secret Key that a rotation has not yet committed must not
		// become "the kit".
		err = rememberKit(sc.systemStore(), di)
	}
	if err == nil {
		err = writeDeviceJSON(path, &d)
	}
	if err != nil {
		if cur == nil || cur.KeystoreItem != name {
			// An entry made for a file that was never written holds a
			// Secret Key nothing names: take it back.
			_ = st.Delete(name)
		}
		return err
	}
	di.Keystore, di.keystoreItem = mode, name
	return nil
}

// sameStore reports whether a device file's keystore field names mode's
// store (an absent field is the file store).
func sameStore(field string, mode keystore.Mode) bool {
	if field == "" {
		field = string(keystore.File)
	}
	return keystore.Mode(field) == mode
}

func writeDeviceJSON(path string, d *device) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	defer clear(b)
	return atomicfile.Replace(path, append(b, '\n'), 0o600)
}

// removeDeviceFile removes a device file and the key store entry it
// names, unless the device file it was to replace names that entry too.
func (sc secrets) removeDeviceFile(path string) {
	if d, err := readDeviceFile(path); err == nil && d.KeystoreItem != "" {
		shared := false
		if main := strings.TrimSuffix(path, ".next"); main != path {
			cur, err := readDeviceFile(main)
			shared = err == nil && cur.KeystoreItem == d.KeystoreItem
		}
		if !shared {
			_ = sc.store(keystore.Mode(d.Keystore)).Delete(d.KeystoreItem)
		}
	}
	os.Remove(path)
}

// readDeviceFile reads a device file's JSON without touching the key store.
func readDeviceFile(path string) (*device, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	var d device
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// SetSyncLocation records where the vault is synced (a server URL), which
// the recovery kit carries to new devices.
func (v *Vault) SetSyncLocation(loc string) error {
	path := filepath.Join(v.Dir, DeviceFile)
	di, err := v.opts.sec.readDevice(path)
	if err != nil {
		return err
	}
	defer di.SecretKey.Wipe()
	di.SyncLocation = loc
	return v.opts.sec.writeDevice(path, di)
}
