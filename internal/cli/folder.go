package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/folder"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/syncfile"
	"github.com/keyhold/keyhold/internal/vault"
)

// Folder sync commands: sync enable --folder, sync (and --watch) for a
// folder-synced vault, and setup from a folder. The design is in
// docs/FOLDER.md.

// folderSynced reports whether the vault syncs with a folder.
func (c *cmdEnv) folderSynced() bool {
	_, err := vault.LoadFolderConfig(c.vaultDir)
	return err == nil
}

// setupFromFolder sets up this device from a sync folder.
func (c *cmdEnv) setupFromFolder(path string, k *kit.Kit) error {
	id := keys.AccountID(k.AccountID)
	sk := keys.SecretKey(k.SecretKey)
	defer sk.Wipe()
	src, err := vault.PrepareFolderSetup(path, id, &sk, c.vaultOpts()...)
	if err != nil {
		return err
	}
	defer src.Close()
	pw, err := c.password("Password for account " + id.String() + ": ")
	if err != nil {
		return err
	}
	defer keys.Wipe(pw)
	rep, err := src.Complete(c.ctx, c.vaultDir, pw)
	if err != nil {
		if vault.Exists(c.vaultDir) {
			c.warnf("this device is set up, but the first sync with the folder failed; keyhold sync retries")
		}
		return err
	}
	if c.jsonOut {
		return c.printJSON(folderSetupJSON{Vault: c.vaultDir, AccountID: id.String(), Folder: path, Items: rep.Added})
	}
	c.infof("this device is set up from the folder %s: %s (account %s, %s)", path, c.vaultDir, id, countNoun(rep.Added, "item"))
	return nil
}

// enableFolder makes the vault sync with the folder at path.
func (c *cmdEnv) enableFolder(path string) error {
	if _, err := syncfile.Load(c.vaultDir); err == nil {
		return exitError{fmt.Errorf("%w: this vault syncs with a server (%s); a vault syncs with a server or a folder, not both", errExists, filepath.Join(c.vaultDir, syncclient.ConfigFile)), ExitExists}
	}
	if c.folderSynced() {
		return exitError{fmt.Errorf("%w: this vault already syncs with a folder (%s)", errExists, filepath.Join(c.vaultDir, vault.FolderConfigFile)), ExitExists}
	}
	st, err := os.Stat(path)
	if err != nil {
		return exitError{fmt.Errorf("the sync folder: %w", err), ExitNotFound}
	}
	if !st.IsDir() {
		return usageError{fmt.Errorf("the sync folder %s is not a directory", path)}
	}
	s, err := c.unlockLocal()
	if err != nil {
		return err
	}
	defer localSession{s}.Close()
	rep, err := s.EnableFolder(c.ctx, path)
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(path)
	c.infof("this vault now syncs through the folder %s", abs)
	if err := c.printFolder(rep); err != nil {
		return err
	}
	c.infof("hint: the recovery kit now names the folder; print it again: keyhold kit --pdf keyhold-kit.pdf")
	c.infof("hint: on another device: keyhold setup --kit KIT --folder PATH")
	return nil
}

// folderSync syncs once: through the agent if one runs, else unlocking
// here (or with s, if given).
func (c *cmdEnv) folderSync(ctx context.Context, s *vault.Session) (*vault.FolderReport, error) {
	if s == nil {
		if ag := c.agentClient(); ag != nil {
			return ag.FolderSync(ctx)
		}
		var err error
		if s, err = c.unlockLocal(); err != nil {
			return nil, err
		}
		c.closers = append(c.closers, localSession{s}.Close)
	}
	return s.FolderSync(ctx)
}

func (c *cmdEnv) printFolder(rep *vault.FolderReport) error {
	if rep == nil {
		rep = &vault.FolderReport{}
	}
	if c.jsonOut {
		return c.printJSON(folderSyncJSON{Folder: true, Written: rep.Written, Replayed: rep.Replayed, Added: rep.Added,
			Updated: rep.Updated, Conflicts: conflictsJSON(rep.Conflicts), Waiting: rep.Waiting, Skipped: rep.Skipped, Snapshot: rep.Snapshot,
			Compacted: rep.Compacted, Devices: rep.Devices, PasswordChanged: rep.EnvelopeUpdated, KeyRotated: rep.Rotated,
			Relogged: rep.Relogged, UnknownKeyVersion: rep.UnknownKeyVersion, PasswordChangeDropped: rep.DroppedPassword,
			RotationLost: rep.RotationLost})
	}
	c.reportFolder(rep)
	return nil
}

func (c *cmdEnv) reportFolder(rep *vault.FolderReport) {
	if rep.Relogged > 0 {
		c.warnf("changes to %s written by this device are gone from the folder (a sync client rolled it back, or files were deleted); they are written again at the next sync, and nothing was taken from the folder this time", countNoun(rep.Relogged, "item"))
	} else if rep.Waiting && rep.UnknownKeyVersion > 0 {
		c.warnf("the folder holds key files of key version %d that this device cannot open: either the account key was rotated two or more times since this device last synced (set it up again from the newest recovery kit: keyhold setup --kit KIT --folder PATH), or those files are not genuine; nothing was taken from the folder this time", rep.UnknownKeyVersion)
	} else if rep.Waiting {
		c.warnf("the folder is still receiving files from other devices (%d could not be read yet); nothing was taken from it this time, your changes were written", rep.Skipped)
	}
	c.infof("synced with the folder: %d changes written, %d replayed, %d new, %d updated; %s",
		rep.Written, rep.Replayed, rep.Added, rep.Updated, countNoun(rep.Devices, "device"))
	for _, mc := range rep.Conflicts {
		var parts []string
		for _, f := range mc.Fields {
			parts = append(parts, f.Field+" (kept the newer edit)")
		}
		c.warnf("%q was changed here and on another device: %s; the other value is in `keyhold history %s`", mc.Title, strings.Join(parts, ", "), mc.ID)
	}
	if rep.EnvelopeUpdated {
		c.infof("the password was changed on another device; the new password works here too (the old one only until you first use the new one)")
	}
	if rep.RotationLost {
		c.warnf("this device's key rotation and another device's happened at the same time; the other one wins on every device: this device now uses its key and Secret Key (the vault opens with the password that rotation was made with), and the recovery kit made by this device's rotation no longer works; this device's changes since are written again")
		c.infof("hint: print the new recovery kit: keyhold kit --pdf keyhold-kit.pdf")
	} else if rep.Rotated {
		c.infof("the account key was rotated on another device; this device now uses the new key and Secret Key")
		c.infof("hint: print the new recovery kit: keyhold kit --pdf keyhold-kit.pdf")
	}
	if rep.DroppedPassword {
		c.warnf("a password change made on another device was not taken: the key rotation made since replaces it; the vault opens with the password the rotation was made with")
	}
}

// folderWatch syncs whenever the folder's listing or the vault changes,
// and at least every five minutes, until interrupted.
func (c *cmdEnv) folderWatch() error {
	ctx, stop := signal.NotifyContext(c.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := vault.LoadFolderConfig(c.vaultDir)
	if err != nil {
		return err
	}
	var s *vault.Session
	if c.agentClient() == nil {
		if s, err = c.unlockLocal(); err != nil {
			return err
		}
		defer localSession{s}.Close()
	}
	v, err := c.openVault()
	if err != nil {
		return err
	}
	defer v.Close()
	c.infof("watching %s for changes; interrupt to stop", cfg.Path)
	last, lastSync := "", time.Time{}
	for {
		fp := listingPrint(cfg.Path)
		pending, _ := v.FolderPending(ctx)
		if fp != last || pending > 0 || time.Since(lastSync) > 5*time.Minute {
			rep, err := c.folderSync(ctx, s)
			if err != nil {
				c.warnf("%v (retrying)", err)
			} else {
				if rep.Written > 0 || rep.Added > 0 || rep.Updated > 0 || len(rep.Conflicts) > 0 || rep.Rotated || rep.EnvelopeUpdated {
					if c.jsonOut {
						c.printFolder(rep)
					} else {
						c.reportFolder(rep)
					}
				}
				last = listingPrint(cfg.Path)
			}
			lastSync = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

// listingPrint summarises the names, sizes and times of the folder's
// files, to notice that a sync client brought something.
func listingPrint(path string) string {
	var b strings.Builder
	filepath.WalkDir(folder.Root(path), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}

func (c *cmdEnv) forgetDeviceCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "forget-device DEVICE_ID",
		Short: "Remove a device that will never sync again from the shared folder",
		Long: `Remove a lost or wiped device's files from the shared folder. Each device's
change logs stay in the folder until every device has merged them, so a
device that never comes back keeps the folder from shrinking. Its changes
must all be merged here first (keyhold sync); the device ids are the d-…
directory names under PATH/keyhold and keyhold status --json shows this
device's. With --force the device is forgotten even with changes not
merged here: those changes are lost.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !c.folderSynced() {
				return exitError{vault.ErrFolderNotEnabled, ExitNotFound}
			}
			s, err := c.unlockLocal()
			if err != nil {
				return err
			}
			defer localSession{s}.Close()
			id := strings.TrimPrefix(args[0], "d-")
			if err := s.ForgetFolderDevice(c.ctx, id, force); err != nil {
				return err
			}
			c.infof("removed device %s from the folder", id)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "forget the device even with changes not merged here (they are lost)")
	return cmd
}
