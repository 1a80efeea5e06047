package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyhold/keyhold/internal/keystore"
	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/vault"
)

// applyKeystore carries out --keystore (or KEYHOLD_KEYSTORE) before a
// command runs. For a device about to be created it decides where the
// Secret Key will go: "auto" takes the system key store when one answers.
// For an existing device, an explicit "os" or "file" that differs from
// where the Secret Key is moves it there (read back before the old copy
// is removed); "auto" leaves an existing device alone.
//
// Only a command that creates a device (creates is true) asks whether a
// key store answers: asking may start a keyring daemon or show an unlock
// prompt, which `keyhold generate` or `keyhold help` must never do.
func (c *cmdEnv) applyKeystore(creates bool) error {
	mode, err := keystore.ParseMode(c.keystoreFlag)
	if err != nil {
		return usageError{err}
	}
	if !vault.Exists(c.vaultDir) {
		if !creates {
			return nil
		}
		switch mode {
		case keystore.OS:
			if err := c.keystore().Available(); err != nil {
				return exitError{fmt.Errorf("--keystore os: %w; use --keystore file to keep the Secret Key in a file instead", err), ExitUnavailable}
			}
			c.newKeystore = keystore.OS
		case keystore.File:
			c.newKeystore = keystore.File
		default:
			c.newKeystore = keystore.File
			if c.keystore().Available() == nil {
				c.newKeystore = keystore.OS
			}
		}
		return nil
	}
	if mode == keystore.Auto {
		return nil
	}
	cur, _, err := vault.SecretsPlace(c.vaultDir)
	if err != nil || cur == mode {
		return nil // no device file: the command itself reports it
	}
	if mode == keystore.OS {
		if err := c.keystore().Available(); err != nil {
			return exitError{fmt.Errorf("cannot move the Secret Key to the system key store: %w", err), ExitUnavailable}
		}
	}
	v, err := c.openVault()
	if err != nil {
		return err
	}
	defer v.Close()
	if err := v.MoveSecrets(mode); err != nil {
		return fmt.Errorf("moving this device's Secret Key: %w", err)
	}
	if mode == keystore.OS {
		c.infof("moved this device's Secret Key into the system key store; %s no longer holds it", filepath.Join(c.vaultDir, vault.DeviceFile))
	} else {
		where := "a file outside the vault directory"
		if _, entry, err := vault.SecretsPlace(c.vaultDir); err == nil && entry != "" {
			if f, err := secretKeyFile(entry); err == nil {
				where = f
			}
		}
		c.infof("moved this device's Secret Key out of the system key store into %s (readable only by you); the recovery kit stays in the key store (entries \"kit …\", service %q) until you delete it", where, keystore.Service)
	}
	return nil
}

// keystore is the system key store of the session the environment
// describes: the environment is read here, in the command line, and
// handed to the keystore package.
func (c *cmdEnv) keystore() *keystore.Store {
	return keystore.New(keystore.Options{SessionBus: os.Getenv("DBUS_SESSION_BUS_ADDRESS") != ""})
}

// kitFromKeystore reads the recovery kit kept in the system key store.
func (c *cmdEnv) kitFromKeystore(account string) (kit.Kit, error) {
	if err := c.keystore().Available(); err != nil {
		return kit.Kit{}, exitError{fmt.Errorf("--from-keystore: %w", err), ExitUnavailable}
	}
	sk, err := vault.KitFromKeystore(c.keystore(), account)
	if err != nil {
		if errors.Is(err, keystore.ErrUnavailable) {
			return kit.Kit{}, exitError{err, ExitUnavailable}
		}
		return kit.Kit{}, exitError{err, ExitNotFound}
	}
	defer sk.SecretKey.Wipe()
	k := kit.Kit{AccountID: [16]byte(sk.AccountID), SecretKey: [16]byte(*sk.SecretKey), SyncLocation: sk.SyncLocation}
	return k, nil
}

// secretsPlace says where this device keeps its Secret Key, for status.
type secretsPlace struct {
	kind    string // "os" or "file"
	entry   string // the key store entry, for "os"
	text    string
	warning string
}

func (c *cmdEnv) secretsWhere(v *vault.Vault) secretsPlace {
	mode, entry, err := vault.SecretsPlace(v.Dir)
	if err == nil && mode == keystore.OS {
		return secretsPlace{kind: "os", entry: entry, text: fmt.Sprintf("system key store, entry %q (service %q)", entry, keystore.Service)}
	}
	where := filepath.Join(c.vaultDir, vault.DeviceFile)
	if entry != "" {
		if f, err := secretKeyFile(entry); err == nil {
			where = f
		}
	}
	return secretsPlace{kind: "file", entry: where, text: where + " (a file readable only by you, outside the vault directory)",
		warning: "the Secret Key is kept in a file, not an OS key store; protect this account and its backups (keyhold --keystore os status moves it when a key store is available)"}
}
