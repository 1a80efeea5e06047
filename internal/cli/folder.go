package cli

import (
	"errors"

	"github.com/keyhold/keyhold/internal/kit"
)

// setupFromFolder sets up this device from a sync folder.
func (c *cmdEnv) setupFromFolder(path string, k *kit.Kit) error {
	return errors.New("folder sync is being built")
}
