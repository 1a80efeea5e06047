package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/folder"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/syncfile"
	"github.com/keyhold/keyhold/internal/vault"
)

// syncDisableCmd stops syncing, keeping the vault. It removes only what
// ties this device to its server or folder (sync.json, folder.json) and
// the location the recovery kit names; the copy on the server or in the
// folder is left as it is, for the account's other devices.
func (c *cmdEnv) syncDisableCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "disable",
		Short: "Stop syncing this vault (with its server or folder); the vault and its items stay",
		Long: `Stop syncing this vault. The vault and every item and revision stay on this
device, which works on its own from now on; edits not yet sent stay only
here. The recovery kit no longer names a server or folder: print it again.

With a server, this device's session there is ended (if the server can be
reached), and sync.json, which holds it, is removed. The server keeps the
account, its items and its other devices, and still lists this device,
which is not revoked: keyhold devices revoke DEVICE_ID (run it first, or
from another device) does that. keyhold sync enable --server URL later
syncs with the same account again, merging what changed meanwhile.

With a folder, folder.json is removed. The folder keeps its files, this
device's included, for the other devices; keyhold sync forget-device ID
on another device removes this device's files once they are merged.

Either way keyhold sync enable --server URL or --folder PATH makes the
vault sync again, with the same or the other kind.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := c.openVault()
			if err != nil {
				return err
			}
			defer v.Close()
			cfg, serverErr := syncfile.Load(c.vaultDir)
			fcfg, folderErr := vault.LoadFolderConfig(c.vaultDir)
			if errors.Is(serverErr, syncclient.ErrNotEnabled) && errors.Is(folderErr, vault.ErrFolderNotEnabled) {
				if c.jsonOut {
					return c.printJSON(syncDisableJSON{Disabled: false})
				}
				c.infof("this vault does not sync; nothing changed")
				return nil
			}
			if cl := c.agentClient(); cl != nil {
				cl.Lock(c.ctx) // it syncs for this vault; unlock again afterwards
			}
			if serverErr == nil {
				pending, _ := v.Pending(c.ctx)
				loggedOut := false
				var logoutErr error
				if cfg.Token != "" {
					cl, err := cfg.Client()
					if err == nil {
						ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
						err = cl.Logout(ctx)
						cancel()
					}
					loggedOut, logoutErr = err == nil, err
				}
				if err := os.Remove(filepath.Join(c.vaultDir, syncclient.ConfigFile)); err != nil {
					return err
				}
				if err := v.SetSyncLocation(""); err != nil {
					return err
				}
				if c.jsonOut {
					return c.printJSON(syncDisableServerJSON{Disabled: true, Server: cfg.Server, DeviceID: cfg.DeviceID, SessionEnded: loggedOut, Pending: pending})
				}
				c.infof("this vault no longer syncs with %s; the vault and its items stay on this device", cfg.Server)
				switch {
				case loggedOut:
					c.infof("this device's session on the server was ended")
				case errors.Is(logoutErr, api.ErrUnreachable):
					c.warnf("the server could not be reached to end this device's session; the session token was removed here and the session expires on the server")
				case logoutErr != nil:
					c.warnf("the server did not end this device's session (%v); the session token was removed here", logoutErr)
				}
				c.infof("the server keeps the account and its items for your other devices, and still lists this device (%s), which is not revoked", cfg.DeviceID)
				if pending > 0 {
					c.warnf("%s with changes not sent to the server stay only on this device", countNoun(pending, "item"))
				}
				c.infof("hint: to revoke this device: keyhold devices revoke %s (on another device)", cfg.DeviceID)
			} else if folderErr == nil {
				pending, _ := v.FolderPending(c.ctx)
				if err := os.Remove(filepath.Join(c.vaultDir, vault.FolderConfigFile)); err != nil {
					return err
				}
				if err := v.SetSyncLocation(""); err != nil {
					return err
				}
				if c.jsonOut {
					return c.printJSON(syncDisableFolderJSON{Disabled: true, Folder: fcfg.Path, DeviceID: fcfg.DeviceID, Pending: pending})
				}
				c.infof("this vault no longer syncs through the folder %s; the vault and its items stay on this device", fcfg.Path)
				c.infof("the folder keeps its files, this device's (%s) included, for your other devices", filepath.Join(folder.Dir, "d-"+fcfg.DeviceID))
				if pending > 0 {
					c.warnf("%s with changes not written to the folder stay only on this device", countNoun(pending, "item"))
				}
				c.infof("hint: to remove this device's files from the folder: keyhold sync forget-device %s (on another device)", fcfg.DeviceID)
			} else if serverErr != nil && !errors.Is(serverErr, syncclient.ErrNotEnabled) {
				return serverErr
			} else {
				return folderErr
			}
			c.infof("hint: the recovery kit no longer names a server or folder; print it again: keyhold kit --pdf keyhold-kit.pdf")
			c.infof("hint: to sync again: keyhold sync enable --server URL or --folder PATH")
			return nil
		},
	}
}

// countNoun says "1 item" or "N items" (nouns that take an s).
func countNoun(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// listFolderDevices prints the devices seen in the sync folder.
func (c *cmdEnv) listFolderDevices(v *vault.Vault) error {
	path, ds, err := v.FolderDevices()
	if err != nil {
		return err
	}
	if c.jsonOut {
		if ds == nil {
			ds = []vault.FolderDevice{}
		}
		return c.printJSON(ds)
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tLOGS\tSNAPSHOTS\tKEY FILES\tLAST WRITTEN\tSTATE")
	for _, d := range ds {
		state := "in the folder"
		if d.Current {
			state += " (this device)"
		}
		last := "-"
		if !d.LastWrite.IsZero() {
			last = d.LastWrite.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%s\n", d.ID, d.Logs, d.Snapshots, d.KeyFiles, last, state)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	c.infof("devices seen in the folder %s (its d-ID directories; a folder keeps no names)", path)
	return nil
}
