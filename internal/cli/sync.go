package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/merge"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/syncfile"
	"github.com/keyhold/keyhold/internal/vault"
)

// Server sync commands: init --server, sync enable, sync [--watch],
// devices, account show/log, and setup from a server. The sync protocol
// is in docs/SYNC.md.

// errServer marks a server that refused a request or could not be reached.
var errServer = errors.New("server")

// serverFlags are the flags every command that names a server takes.
type serverFlags struct {
	url         string
	fingerprint string
	deviceName  string
}

func (f *serverFlags) add(cmd *cobra.Command, urlHelp string) {
	cmd.Flags().StringVar(&f.url, "server", "", urlHelp)
	cmd.Flags().StringVar(&f.fingerprint, "server-fingerprint", os.Getenv("KEYHOLD_SERVER_FINGERPRINT"),
		"trust the server's certificate only if its SHA-256 is this (sha256:HEX, as keyhold-server --dev-tls prints; env KEYHOLD_SERVER_FINGERPRINT)")
	cmd.Flags().StringVar(&f.deviceName, "device-name", "", "how this device is named in `keyhold devices list` (default: the host name)")
}

func (f *serverFlags) config() (*syncclient.Config, error) {
	cfg, err := syncclient.NewConfig(f.url, f.fingerprint, syncfile.DeviceName())
	if err != nil {
		return nil, usageError{err}
	}
	if f.deviceName != "" {
		cfg.DeviceName = f.deviceName
	}
	return cfg, nil
}

// removeVault undoes a vault this command created and could not register.
func (c *cmdEnv) removeVault(dir string) {
	_ = vault.ForgetDevice(dir, c.vaultOpts()...) // its key store entry, if it has one
	for _, name := range []string{vault.DBFile, vault.DBFile + "-wal", vault.DBFile + "-shm", vault.DeviceFile, syncclient.ConfigFile} {
		os.Remove(filepath.Join(dir, name))
	}
}

// registerNew creates the account of a vault just made by init on a
// server, or removes the vault so that init can be run again.
func (c *cmdEnv) registerNew(sf *serverFlags, created *vault.Created, email string) (err error) {
	defer func() {
		if err != nil {
			c.removeVault(c.vaultDir)
			err = fmt.Errorf("%w; the new vault was removed, nothing was created", err)
		}
	}()
	cfg, err := sf.config()
	if err != nil {
		return err
	}
	v, err := c.openVault()
	if err != nil {
		return err
	}
	defer v.Close()
	if err := v.EnableSync(c.ctx); err != nil {
		return err
	}
	cl, err := cfg.Client()
	if err != nil {
		return err
	}
	if err := syncclient.Register(c.ctx, cl, cfg, v, created.Login, email); err != nil {
		return err
	}
	if err := v.SetSyncLocation(cfg.Server); err != nil {
		return err
	}
	return syncfile.Save(c.vaultDir, cfg)
}

// loginAgain says that the server ended this device's session, asks for
// the account's current password and logs this device in again with it
// (syncclient.Relogin: the password may have been changed on another
// device), saving the new token. Without a terminal or password file it
// fails with ExitLogin.
func (c *cmdEnv) loginAgain(cfg *syncclient.Config) error {
	v, err := c.openVault()
	if err != nil {
		return err
	}
	defer v.Close()
	c.warnf("the server ended this device's session (the password was changed or the account key rotated on another device, or it expired): log in again with the account's current password")
	pw, err := c.password("Current password of the account on " + cfg.Server + ": ")
	if errors.Is(err, errNoInput) {
		return exitError{fmt.Errorf("%w: %w; run keyhold sync on a terminal to log in again", syncclient.ErrLoginNeeded, err), ExitLogin}
	}
	if err != nil {
		return err
	}
	defer keys.Wipe(pw)
	cl, err := cfg.Client()
	if err != nil {
		return err
	}
	if err := syncclient.Relogin(c.ctx, cl, cfg, v, pw); err != nil {
		if errors.Is(err, format.ErrWrongSecretKey) {
			return fmt.Errorf("%w; if the account key was rotated on another device, run keyhold sync first: it follows the rotation, then logs in", err)
		}
		return err
	}
	c.infof("logged in to %s again", cfg.Server)
	return syncfile.Save(c.vaultDir, cfg)
}

// syncConfig reads this device's server settings: exit 4 if the vault
// does not exist or does not sync.
func (c *cmdEnv) syncConfig() (*syncclient.Config, error) {
	cfg, err := syncfile.Load(c.vaultDir)
	if err != nil {
		if !vault.Exists(c.vaultDir) {
			return nil, fmt.Errorf("%w: %s", vault.ErrNoVault, c.vaultDir)
		}
		return nil, exitError{err, ExitNotFound}
	}
	return cfg, nil
}

// withServer runs fn with a client logged in to the vault's server,
// logging in again (with the password) once if the session has ended.
func (c *cmdEnv) withServer(fn func(cl *api.Client, cfg *syncclient.Config) error) error {
	cfg, err := c.syncConfig()
	if err != nil {
		return err
	}
	if cfg.Token == "" {
		if err := c.loginAgain(cfg); err != nil {
			return err
		}
	}
	cl, err := cfg.Client()
	if err != nil {
		return err
	}
	err = fn(cl, cfg)
	if api.IsCode(err, api.CodeUnauthorized) || errors.Is(err, syncclient.ErrLoginNeeded) {
		if err := c.loginAgain(cfg); err != nil {
			return err
		}
		cl.SetToken(cfg.Token)
		err = fn(cl, cfg)
	}
	return err
}

func (c *cmdEnv) syncCmd() *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Sync the vault with its server or shared folder: pull, merge, push, verify",
		Long: `Pull the changes other devices made, merge them with this device's edits
field by field, push this device's changes, and check the server's copy
against the manifest your devices sign. A server that dropped, swapped or
rolled back items is reported and nothing local is discarded.

When two devices changed the same field of an item, the newer edit wins and
the other value stays in the item's history (keyhold history TITLE); sync
lists each such item.

With a shared folder (keyhold sync enable --folder), this device writes its
edits to its own encrypted change log there and replays every device's
changes with the same field-by-field merge (docs/FOLDER.md).

--watch stays connected and applies changes as they happen, until
interrupted. With an agent running (keyhold unlock) the agent syncs without
asking for the password.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.folderSynced() {
				if watch {
					return c.folderWatch()
				}
				rep, err := c.folderSync(c.ctx, nil)
				if err != nil {
					return err
				}
				return c.printFolder(rep)
			}
			if watch {
				return c.watch()
			}
			rep, err := c.syncWith(c.ctx, nil)
			if err != nil {
				return err
			}
			return c.printSync(rep)
		},
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "stay connected and sync changes as they happen")
	cmd.AddCommand(c.syncEnableCmd(), c.syncDisableCmd(), c.forgetDeviceCmd())
	return cmd
}

// syncer makes a syncer over the local session, unlocking it once per
// command (the login key comes with it, for a re-login without a second
// password prompt).
type localSyncer struct {
	s     *vault.Session
	login *keys.Key32
}

func (c *cmdEnv) localSync() (*localSyncer, error) {
	v, err := c.openVault()
	if err != nil {
		return nil, err
	}
	var s *vault.Session
	var login *keys.Key32
	pw, err := c.passwordFor("Password for "+c.vaultDir+": ", func(pw []byte) (err error) {
		s, login, err = v.UnlockLogin(pw)
		if errors.Is(err, format.ErrWrongPassword) {
			// The password may have been changed on another device, whose
			// change ended this device's session before it could fetch the
			// new envelope: try the password with the server.
			if cfg, lerr := syncfile.Load(c.vaultDir); lerr == nil && c.reloginWith(cfg, v, pw) {
				s, login, err = v.UnlockLogin(pw)
			}
		}
		return err
	})
	if err != nil {
		v.Close()
		return nil, err
	}
	keys.Wipe(pw)
	ls := &localSyncer{s: s, login: login}
	c.closers = append(c.closers, func() { login.Wipe(); localSession{s}.Close() })
	return ls, nil
}

// reloginWith logs this device in with pw as the account's current
// password (syncclient.Relogin), keeping the server's newer envelope as
// pending; it reports whether that worked. It is quiet when pw is wrong
// on the server too.
func (c *cmdEnv) reloginWith(cfg *syncclient.Config, v *vault.Vault, pw []byte) bool {
	cl, err := cfg.Client()
	if err != nil {
		return false
	}
	// Only if the server's envelope differs from this device's: a typo
	// must not become a failed login in the account's audit log.
	params, err := cl.LoginParams(c.ctx, v.AccountID().String())
	if err == nil && bytes.Equal(params.Header, v.Envelope().Header()) {
		return false
	}
	err = syncclient.Relogin(c.ctx, cl, cfg, v, pw)
	if err == nil {
		err = syncfile.Save(c.vaultDir, cfg)
	}
	if err != nil {
		if !errors.Is(err, syncclient.ErrLoginFailed) && !errors.Is(err, format.ErrWrongSecretKey) {
			c.warnf("the password does not open this device's copy, and the server could not be asked whether it changed: %v", err)
		}
		return false
	}
	c.infof("the password was changed on another device; this device logged in to %s with the new one", cfg.Server)
	return true
}

// syncWith syncs once: with ls, this process's unlocked session; else
// through the agent if one runs, else unlocking here.
func (c *cmdEnv) syncWith(ctx context.Context, ls *localSyncer) (*syncclient.Report, error) {
	cfg, err := c.syncConfig()
	if err != nil {
		return nil, err
	}
	if ls == nil {
		if ag := c.agentClient(); ag != nil {
			rep, err := ag.Sync(ctx)
			relogged := false
			if errors.Is(err, syncclient.ErrLoginNeeded) {
				if err := c.loginAgain(cfg); err != nil {
					return rep, err
				}
				first := rep
				rep, err = ag.Sync(ctx)
				rep = joinReports(first, rep)
				relogged = true
			}
			if err == nil && rep != nil && rep.Rotated && !relogged {
				// Following the rotation is all its narrowed session
				// allowed: log in with the new Secret Key now.
				return rep, c.loginAgain(cfg)
			}
			return rep, err
		}
		if ls, err = c.localSync(); err != nil {
			return nil, err
		}
		// The unlock may have logged in again (a password changed on
		// another device): read the token it saved.
		if cfg, err = c.syncConfig(); err != nil {
			return nil, err
		}
	}
	cl, err := cfg.Client()
	if err != nil {
		return nil, err
	}
	// The login key came with the unlock: logging in again needs no
	// second password prompt.
	login := func() error {
		if err := syncclient.Login(ctx, cl, cfg, ls.s.Vault().AccountID(), ls.login); err != nil {
			return err
		}
		return syncfile.Save(c.vaultDir, cfg)
	}
	if cfg.Token == "" {
		if err := login(); err != nil {
			return nil, err
		}
	}
	// relogin logs in again once the server ended or narrowed the
	// session. The login key of this unlock works after an expiry; after
	// a password change on another device, or once this device followed
	// a rotation (its Secret Key changed), only the current password does.
	relogin := func(rotated bool) error {
		if !rotated {
			lerr := login()
			if lerr == nil || !errors.Is(lerr, syncclient.ErrLoginFailed) {
				return lerr
			}
		}
		if err := c.loginAgain(cfg); err != nil {
			return err
		}
		cl.SetToken(cfg.Token)
		return nil
	}
	y := &syncclient.Syncer{C: cl, S: ls.s}
	rep, err := y.Sync(ctx)
	relogged := false
	if errors.Is(err, syncclient.ErrLoginNeeded) {
		if err := relogin(rep != nil && rep.Rotated); err != nil {
			return rep, err
		}
		first := rep
		rep, err = y.Sync(ctx)
		rep = joinReports(first, rep)
		relogged = true
	}
	if err == nil && rep != nil && rep.Rotated && !relogged {
		// Following the rotation is all its narrowed session allowed:
		// log in with the new Secret Key now, not at the next push.
		return rep, relogin(true)
	}
	return rep, err
}

// joinReports adds what a first, interrupted sync did to the report of
// the sync that finished it.
func joinReports(first, rep *syncclient.Report) *syncclient.Report {
	if first == nil {
		return rep
	}
	if rep == nil {
		return first
	}
	rep.Pulled += first.Pulled
	rep.Added += first.Added
	rep.Updated += first.Updated
	rep.Merged += first.Merged
	rep.Conflicts = append(first.Conflicts, rep.Conflicts...)
	rep.EnvelopeUpdated = rep.EnvelopeUpdated || first.EnvelopeUpdated
	rep.Rotated = rep.Rotated || first.Rotated
	return rep
}

func (c *cmdEnv) printSync(rep *syncclient.Report) error {
	if rep == nil {
		rep = &syncclient.Report{}
	}
	if c.jsonOut {
		return c.printJSON(syncJSON{Pulled: rep.Pulled, Pushed: rep.Pushed, Added: rep.Added, Updated: rep.Updated,
			Merged: rep.Merged, Conflicts: conflictsJSON(rep.Conflicts), Head: rep.Head, Verified: rep.Verified,
			PasswordChanged: rep.EnvelopeUpdated, KeyRotated: rep.Rotated})
	}
	c.reportSync(rep)
	return nil
}

func (c *cmdEnv) reportSync(rep *syncclient.Report) {
	manifest := "not yet signed"
	if rep.Verified {
		manifest = "verified"
	}
	c.infof("synced: %d received, %d sent, %d new, %d updated, %d merged; server at %d, manifest %s",
		rep.Pulled, rep.Pushed, rep.Added, rep.Updated, rep.Merged, rep.Head, manifest)
	for _, mc := range rep.Conflicts {
		var parts []string
		for _, f := range mc.Fields {
			kept := "newer other device's"
			if f.Winner == merge.Local {
				kept = "newer local"
			}
			parts = append(parts, fmt.Sprintf("%s (kept the %s edit)", f.Field, kept))
		}
		c.warnf("%q was changed here and on another device: %s; the other value is in `keyhold history %s`", mc.Title, strings.Join(parts, ", "), mc.ID)
	}
	if rep.EnvelopeUpdated {
		c.infof("the password was changed on another device; the new password works here too (the old one only until you first use the new one)")
	}
	if rep.Rotated {
		c.infof("the account key was rotated on another device; this device now uses the new key and Secret Key")
		c.infof("hint: print the new recovery kit: keyhold kit --pdf keyhold-kit.pdf")
	}
}

func (c *cmdEnv) watch() error {
	ctx, stop := signal.NotifyContext(c.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := c.syncConfig()
	if err != nil {
		return err
	}
	var ls *localSyncer
	if c.agentClient() == nil {
		if ls, err = c.localSync(); err != nil {
			return err
		}
	}
	cl, err := cfg.Client()
	if err != nil {
		return err
	}
	v, err := c.openVault()
	if err != nil {
		return err
	}
	defer v.Close()
	c.infof("watching %s for changes; interrupt to stop", cfg.Server)
	err = syncclient.Watch(ctx, cl, func(ctx context.Context) error {
		// The token may have been renewed by the sync itself.
		if nc, err := syncfile.Load(c.vaultDir); err == nil {
			cl.SetToken(nc.Token)
		}
		rep, err := c.syncWith(ctx, ls)
		if err != nil {
			return err
		}
		if rep.Pulled > 0 || rep.Pushed > 0 || len(rep.Conflicts) > 0 || rep.Rotated || rep.EnvelopeUpdated {
			if c.jsonOut {
				return c.printSync(rep)
			}
			c.reportSync(rep)
		}
		return nil
	}, v.Pending, 2*time.Second, func(err error) { c.warnf("%v (retrying)", err) })
	return err
}

func (c *cmdEnv) syncEnableCmd() *cobra.Command {
	var sf serverFlags
	var folderPath string
	cmd := &cobra.Command{
		Use:   "enable --server URL | --folder PATH",
		Short: "Sync this vault with a server (creating the account there) or through a shared folder",
		Long: `Create the account of this vault on a keyhold-server and push every item,
with its history. The server receives only encrypted data: the envelope of
the account key (useless without your Secret Key and password), the key
check, and sealed items. The recovery kit names the server from now on.

With --folder PATH (a Dropbox, iCloud Drive, OneDrive, Google Drive or
Syncthing folder), devices share the vault through files the sync client
copies: each device writes only encrypted files of its own under
PATH/keyhold, so the sync client never has a conflict to resolve. Set up
another device with keyhold setup --kit KIT --folder PATH.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if folderPath != "" {
				if sf.url != "" {
					return usageError{errors.New("give either --server URL or --folder PATH, not both")}
				}
				return c.enableFolder(folderPath)
			}
			if sf.url == "" {
				return usageError{errors.New("--server URL or --folder PATH is required")}
			}
			if c.folderSynced() {
				return exitError{fmt.Errorf("%w: this vault syncs with a folder (%s); a vault syncs with a server or a folder, not both", errExists, filepath.Join(c.vaultDir, vault.FolderConfigFile)), ExitExists}
			}
			if _, err := syncfile.Load(c.vaultDir); err == nil {
				return exitError{fmt.Errorf("%w: this vault already syncs with a server (%s)", errExists, filepath.Join(c.vaultDir, syncclient.ConfigFile)), ExitExists}
			}
			cfg, err := sf.config()
			if err != nil {
				return err
			}
			if cl := c.agentClient(); cl != nil {
				cl.Lock(c.ctx) // it would not know the server; unlock again afterwards
			}
			ls, err := c.localSync()
			if err != nil {
				return err
			}
			v := ls.s.Vault()
			if err := v.EnableSync(c.ctx); err != nil {
				return err
			}
			di, err := v.Device()
			if err != nil {
				return err
			}
			email := di.Email
			di.SecretKey.Wipe()
			cl, err := cfg.Client()
			if err != nil {
				return err
			}
			if err := syncclient.Register(c.ctx, cl, cfg, v, ls.login, email); err != nil {
				return err
			}
			if err := syncfile.Save(c.vaultDir, cfg); err != nil {
				return err
			}
			if err := v.SetSyncLocation(cfg.Server); err != nil {
				return err
			}
			c.infof("created the account on %s", cfg.Server)
			rep, err := c.syncWith(c.ctx, ls)
			if err != nil {
				return err
			}
			if err := c.printSync(rep); err != nil {
				return err
			}
			c.infof("hint: the recovery kit now names the server; print it again: keyhold kit --pdf keyhold-kit.pdf")
			return nil
		},
	}
	sf.add(cmd, "the server's URL (https://HOST[:PORT])")
	cmd.Flags().StringVar(&folderPath, "folder", "", "sync through this shared folder instead of a server")
	return cmd
}

func (c *cmdEnv) devicesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "devices", Short: "List or revoke the devices that sync this account"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the account's devices (with a folder: the devices seen in it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.folderSynced() {
				v, err := c.openVault()
				if err != nil {
					return err
				}
				defer v.Close()
				return c.listFolderDevices(v)
			}
			return c.withServer(func(cl *api.Client, cfg *syncclient.Config) error {
				ds, err := cl.Devices(c.ctx)
				if err != nil {
					return err
				}
				if c.jsonOut {
					if ds == nil {
						ds = []api.Device{}
					}
					return c.printJSON(ds)
				}
				w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tNAME\tPLATFORM\tADDED\tLAST SEEN\tSTATE")
				for _, d := range ds {
					state := "active"
					if d.Revoked != nil {
						state = "revoked " + d.Revoked.Local().Format("2006-01-02")
					}
					if d.Current {
						state += " (this device)"
					}
					// Server strings arrive made printable (api.Printable).
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Name, d.Platform, d.Added.Local().Format("2006-01-02 15:04"),
						d.LastSeen.Local().Format("2006-01-02 15:04"), state)
				}
				return w.Flush()
			})
		},
	})
	var yes bool
	revoke := &cobra.Command{
		Use:   "revoke DEVICE_ID",
		Short: "Revoke a device: its sessions end at once and it can no longer sync or log in",
		Long: `Revoke a device (a lost laptop, a sold phone). Its sessions end at once and
it can no longer log in or sync. What it already downloaded stays on it,
encrypted: if it may fall into the wrong hands with your password, also run
keyhold rotate-key.

Revoking another device needs the account's password (read from
--password-file or asked on the terminal, even with an agent running): the
server wants a fresh proof of it, so that a stolen session token cannot
revoke your devices. Revoking the device you are on needs no password, and
asks first (--yes skips the question; without a terminal --yes is required). Its vault stays, with the edits it has not
synced; keyhold setup --kit KIT re-joins it to the account as a new device
and sends those edits.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.folderSynced() {
				return usageError{errors.New("this vault syncs through a folder, which has no sessions to revoke: keyhold sync forget-device DEVICE_ID removes a device's files from it, and keyhold rotate-key locks out a lost device")}
			}
			if _, err := uuid.Parse(args[0]); err != nil {
				return usageError{fmt.Errorf("%q is not a device id (see keyhold devices list)", args[0])}
			}
			return c.withServer(func(cl *api.Client, cfg *syncclient.Config) error {
				self := strings.EqualFold(args[0], cfg.DeviceID)
				if self && !yes {
					c.infof("%s is this device: revoking it ends its session at once, and it can no longer sync", args[0])
					c.infof("until you set it up again with keyhold setup --kit KIT, which keeps the edits it has not synced")
					ok, err := confirmTTY("Revoke this device?")
					if err != nil {
						return noTerminalToAsk("whether to revoke this device", "add --yes to revoke it without asking")
					}
					if !ok {
						return exitError{errors.New("not revoked"), ExitUsage}
					}
				}
				err := cl.RevokeDevice(c.ctx, args[0])
				if !self && api.IsCode(err, api.CodeReauth) {
					// Revoking another device needs a fresh proof of the
					// password (docs/LOGIN.md "Fresh proof"), so that a
					// stolen session token cannot shut the owner's devices
					// out. The agent does not keep the login key: the
					// password is asked for here (or read from its file).
					c.infof("revoking another device needs the account's password")
					ls, lerr := c.localSync()
					if lerr != nil {
						return lerr
					}
					if err := c.prover(cl, cfg, ls.s.Vault().AccountID(), ls.login)(c.ctx); err != nil {
						return err
					}
					cl.SetToken(cfg.Token) // proving may have logged in again
					err = cl.RevokeDevice(c.ctx, args[0])
				}
				if err != nil {
					return err
				}
				c.infof("revoked device %s", args[0])
				if self {
					c.warnf("this device revoked itself; it can no longer sync")
					c.infof("hint: to sync again (keeping the edits not yet synced): keyhold setup --kit KIT")
				}
				return nil
			})
		},
	}
	revoke.Flags().BoolVar(&yes, "yes", false, "revoke the device you are on without asking")
	cmd.AddCommand(revoke)
	return cmd
}

func (c *cmdEnv) accountLogCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Show the account's audit log kept by the server (newest first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withServer(func(cl *api.Client, cfg *syncclient.Config) error {
				evs, err := cl.Log(c.ctx, limit)
				if err != nil {
					return err
				}
				if c.jsonOut {
					if evs == nil {
						evs = []api.Event{}
					}
					return c.printJSON(evs)
				}
				w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "TIME\tEVENT\tDEVICE\tSOURCE\tDETAIL")
				for _, e := range evs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Kind,
						e.DeviceID, e.Source, e.Detail)
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many events")
	return cmd
}

// serverAccount returns what the server keeps about the account, or nil
// if the vault is not synced.
func (c *cmdEnv) serverAccount() (*api.Account, *syncclient.Config, error) {
	if _, err := syncfile.Load(c.vaultDir); err != nil {
		return nil, nil, nil
	}
	var acct *api.Account
	var conf *syncclient.Config
	err := c.withServer(func(cl *api.Client, cfg *syncclient.Config) error {
		a, err := cl.Account(c.ctx)
		acct, conf = a, cfg
		return err
	})
	return acct, conf, err
}

// setupFromServer sets up this device from the kit and the server.
func (c *cmdEnv) setupFromServer(sf *serverFlags, id keys.AccountID, sk *keys.SecretKey) error {
	cfg, err := sf.config()
	if err != nil {
		return err
	}
	pw, err := c.password("Password for account " + id.String() + ": ")
	if err != nil {
		return err
	}
	defer keys.Wipe(pw)
	rep, err := syncclient.Setup(c.ctx, &syncclient.SetupOptions{AccountID: id, SecretKey: sk, Config: cfg, Password: pw, Create: c.joinedVault(cfg)})
	if err != nil {
		if vault.Exists(c.vaultDir) {
			// The vault was written and checked; only the first sync
			// failed. Keep it: keyhold sync retries.
			c.warnf("this device is set up, but the first sync failed")
		}
		return err
	}
	c.infof("this device is set up from %s: %s (account %s)", cfg.Server, c.vaultDir, id)
	c.reportSync(rep)
	return nil
}

// prover gives a Syncer its fresh proof of the current password for an
// account change (docs/LOGIN.md "Fresh proof"), from the login key of the
// unlock this command just made with the password typed for it.
func (c *cmdEnv) prover(cl *api.Client, cfg *syncclient.Config, id keys.AccountID, login *keys.Key32) func(context.Context) error {
	return func(ctx context.Context) error {
		err := syncclient.Reauth(ctx, cl, cfg, id, login)
		if errors.Is(err, syncclient.ErrLoginFailed) {
			return fmt.Errorf("%w; if the password was changed on another device, run keyhold sync first", err)
		}
		if err != nil {
			return err
		}
		return syncfile.Save(c.vaultDir, cfg) // Reauth may have logged in again
	}
}

// rejoin sets up again a device whose vault exists: if the server revoked
// it, it logs in as a new device (syncclient.Rejoin) and syncs, which
// merges and sends the edits it had not synced. Any other existing vault
// is refused as before.
func (c *cmdEnv) rejoin(sf *serverFlags, id keys.AccountID, sk *keys.SecretKey) error {
	exists := fmt.Errorf("%w: %s", vault.ErrVaultExists, c.vaultDir)
	cfg, err := syncfile.Load(c.vaultDir)
	if err != nil {
		return exists // not synced with a server: nothing to re-join
	}
	v, err := c.openVault()
	if err != nil {
		return err
	}
	if v.AccountID() != id {
		v.Close()
		return fmt.Errorf("%w (it holds account %s, the kit is for %s)", exists, v.AccountID(), id)
	}
	if sf.url != "" {
		u, err := api.CheckURL(sf.url)
		if err != nil {
			v.Close()
			return usageError{err}
		}
		cfg.Server = u.String()
		if sf.fingerprint != "" {
			cfg.Fingerprint = sf.fingerprint
		}
	}
	if sf.deviceName != "" {
		cfg.DeviceName = sf.deviceName
	}
	pw, err := c.password("Password for account " + id.String() + ": ")
	if err != nil {
		v.Close()
		return err
	}
	defer keys.Wipe(pw)
	cl, err := cfg.Client()
	if err != nil {
		v.Close()
		return err
	}
	err = syncclient.Rejoin(c.ctx, cl, cfg, v, pw, sk)
	if errors.Is(err, syncclient.ErrNotRevoked) {
		v.Close()
		if serr := syncfile.Save(c.vaultDir, cfg); serr != nil {
			return serr
		}
		return exitError{fmt.Errorf("%w: %s: %w", errExists, c.vaultDir, err), ExitExists}
	}
	if err != nil {
		v.Close()
		return err
	}
	if err := syncfile.Save(c.vaultDir, cfg); err != nil {
		v.Close()
		return err
	}
	n, _ := v.Pending(c.ctx)
	c.infof("this device was revoked; it re-joined the account on %s as a new device (%s)", cfg.Server, cfg.DeviceID)
	s, login, err := v.UnlockLogin(pw)
	if err != nil {
		v.Close()
		return err
	}
	ls := &localSyncer{s: s, login: login}
	c.closers = append(c.closers, func() { login.Wipe(); localSession{s}.Close() })
	rep, err := c.syncWith(c.ctx, ls)
	if err != nil {
		return err
	}
	if n > 0 {
		c.infof("%s made while this device was revoked %s merged and sent", countNoun(n, "edit"), map[bool]string{true: "was", false: "were"}[n == 1])
	}
	c.reportSync(rep)
	return nil
}

// joinedVault writes a new device's vault and sync settings in the vault
// directory and opens it, for syncclient.Setup.
func (c *cmdEnv) joinedVault(cfg *syncclient.Config) func(*vault.Join, uint32) (syncclient.Local, func(), error) {
	return func(j *vault.Join, kv uint32) (syncclient.Local, func(), error) {
		s, done, err := vault.CreateJoinedOpen(c.vaultDir, j, kv, func() error { return syncfile.Save(c.vaultDir, cfg) }, c.vaultOpts()...)
		if err != nil {
			return nil, nil, err
		}
		return s, done, nil
	}
}
