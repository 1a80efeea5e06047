// Package syncfile keeps a device's server settings (syncclient.Config)
// in the vault directory, in syncclient.ConfigFile (0600, replaced
// atomically), and names the device after its host. The sync client
// itself touches no files and reads nothing from the system, so that a
// client without them (a browser's) runs the same code.
package syncfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/syncclient"
)

// Load reads the settings from the vault directory dir:
// syncclient.ErrNotEnabled if it has none.
func Load(dir string) (*syncclient.Config, error) {
	path := filepath.Join(dir, syncclient.ConfigFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, syncclient.ErrNotEnabled
	}
	if err != nil {
		return nil, err
	}
	c, err := syncclient.ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s is damaged; run keyhold sync enable --server URL again", path)
	}
	return c, nil
}

// Save writes the settings to the vault directory dir (0600, atomically).
func Save(dir string, c *syncclient.Config) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.Replace(filepath.Join(dir, syncclient.ConfigFile), b, 0o600)
}

// DeviceName is the name a new device gets in the server's list: the
// host name ("device" if there is none).
func DeviceName() string {
	name, _ := os.Hostname()
	return name
}
