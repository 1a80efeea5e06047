package webcore

import (
	"context"
	"errors"

	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// errNoLocalVault is returned until the shared sync rules over the
// in-memory store are wired in.
var errNoLocalVault = errors.New("the web vault's local store is not available in this build")

type memVaults struct{}

// MemVaults keeps the vault in memory (package ledger/memstore) under the
// shared device-side sync rules.
func MemVaults() Vaults { return memVaults{} }

func (memVaults) Create(context.Context, *vaultsync.Join, uint32) (Vault, error) {
	return nil, errNoLocalVault
}

func (memVaults) Open(context.Context, []byte, keys.AccountID, *keys.AccountKey, uint32) (Vault, error) {
	return nil, errNoLocalVault
}
