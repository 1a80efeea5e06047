package cli

import (
	"errors"
	"path/filepath"

	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/vault"
)

// kitFromKeystore reads the recovery kit kept in the system key store.
func (c *cmdEnv) kitFromKeystore() (kit.Kit, error) {
	return kit.Kit{}, errors.New("the key store is being built")
}

// secretsPlace says where this device keeps its Secret Key, for status.
type secretsPlace struct {
	kind    string // "os" or "file"
	text    string
	warning string
}

func (c *cmdEnv) secretsWhere(v *vault.Vault) secretsPlace {
	return secretsPlace{kind: "file", text: filepath.Join(c.vaultDir, vault.DeviceFile) + " (a file readable only by you)",
		warning: "the Secret Key is kept in a file, not an OS key store; protect this account and its backups"}
}
