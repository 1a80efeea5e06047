package vault

import (
	"os"
	"slices"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/folder"
)

// FolderDevice is a device seen in the sync folder: its directory and
// what the directory holds. It is what the folder shows, not a list the
// account vouches for: a directory proves nothing until its files are
// read and authenticated at a sync (anyone who can write to the folder
// can add one), and the folder keeps no names or platforms.
type FolderDevice struct {
	ID        string    `json:"id"`
	Current   bool      `json:"current"`
	Logs      int       `json:"logs"`
	Snapshots int       `json:"snapshots"`
	KeyFiles  int       `json:"key_files"`
	LastWrite time.Time `json:"last_written"`
}

// FolderDevices lists the devices whose directories the sync folder
// holds, this device's first, then by id; or ErrFolderNotEnabled.
func (v *Vault) FolderDevices() (path string, ds []FolderDevice, err error) {
	cfg, err := LoadFolderConfig(v.Dir)
	if err != nil {
		return "", nil, err
	}
	sc, err := folder.ScanFolder(cfg.Path)
	if err != nil {
		return cfg.Path, nil, err
	}
	for id, f := range sc.Devices {
		d := FolderDevice{ID: id.String(), Current: id.String() == cfg.DeviceID,
			Logs: len(f.Logs), Snapshots: len(f.Snaps), KeyFiles: len(f.Keys)}
		for _, m := range []map[uint64]string{f.Logs, f.Snaps, f.Keys} {
			for _, p := range m {
				if fi, err := os.Stat(p); err == nil && fi.ModTime().After(d.LastWrite) {
					d.LastWrite = fi.ModTime()
				}
			}
		}
		ds = append(ds, d)
	}
	slices.SortFunc(ds, func(a, b FolderDevice) int {
		if a.Current != b.Current {
			if a.Current {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return cfg.Path, ds, nil
}
