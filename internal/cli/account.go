package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/agent"
	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/folder"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/strength"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/syncfile"
	"github.com/keyhold/keyhold/internal/vault"
)

func (c *cmdEnv) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newPasswordTries is how many new passwords a person may type on a
// terminal before keyhold gives up: one refused as too weak is asked again.
const newPasswordTries = 3

// newPassword reads a new password: from file if given (no confirmation),
// else from the terminal, typed twice. It prints a strength estimate, and
// refuses a password below the strength floor (strength.AcceptNewPassword)
// unless weakOK; on a terminal a refused password is asked again.
func (c *cmdEnv) newPassword(file string, weakOK bool, userInputs ...string) ([]byte, error) {
	accept := func(pw []byte) error {
		if _, err := keys.NormalizePassword(pw); err != nil {
			return usageError{err}
		}
		c.infof("%s", strength.Evaluate(pw, userInputs...).Summary())
		err := strength.AcceptNewPassword(pw, userInputs...)
		if err != nil && weakOK {
			c.warnf("this password is weak; your Secret Key still protects a stolen vault, but a strong password protects you if the kit is found too")
			return nil
		}
		return err
	}
	if file != "" {
		pw, err := readSecretFile(file)
		if err != nil {
			return nil, err
		}
		if err := accept(pw); err != nil {
			keys.Wipe(pw)
			return nil, weakUsage(err)
		}
		return pw, nil
	}
	defer termAsInterrupt()()
	var pw []byte
	for try := 1; ; try++ {
		var err error
		if pw, err = readSecretTTY("New password: "); err != nil {
			return nil, err
		}
		err = accept(pw)
		if err == nil {
			break
		}
		keys.Wipe(pw)
		var we *strength.WeakPasswordError
		if !errors.As(err, &we) || try == newPasswordTries {
			return nil, weakUsage(err)
		}
		c.warnf("%v", err)
		for _, sug := range we.Estimate.Suggestions {
			c.infof("hint: %s", sug)
		}
	}
	again, err := readSecretTTY("Repeat the new password: ")
	if err != nil {
		keys.Wipe(pw)
		return nil, err
	}
	same := string(again) == string(pw)
	keys.Wipe(again)
	if !same {
		keys.Wipe(pw)
		return nil, usageError{errors.New("the two passwords differ; nothing was changed")}
	}
	return pw, nil
}

// weakUsage makes a refused weak password a usage error (exit 2); other
// errors pass unchanged.
func weakUsage(err error) error {
	var we *strength.WeakPasswordError
	if errors.As(err, &we) {
		return usageError{err}
	}
	return err
}

func (c *cmdEnv) initCmd() *cobra.Command {
	var email string
	var sf serverFlags
	var mem, tm, threads uint32
	var weakOK bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new account and an empty vault",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if vault.Exists(c.vaultDir) {
				return fmt.Errorf("%w: %s", vault.ErrVaultExists, c.vaultDir)
			}
			p := keys.KDFParams{Time: keys.DefaultTime, Threads: keys.DefaultThreads}
			f := cmd.Flags()
			explicit := f.Changed("kdf-memory") || f.Changed("kdf-time") || f.Changed("kdf-threads")
			if f.Changed("kdf-memory") {
				p.MemoryKiB = mem * 1024
			}
			if f.Changed("kdf-time") {
				p.Time = tm
			}
			if f.Changed("kdf-threads") {
				if threads > 255 {
					return usageError{errors.New("--kdf-threads is at most 255")}
				}
				p.Threads = uint8(threads)
			}
			if p.MemoryKiB != 0 {
				if err := p.Check(); err != nil {
					return usageError{err}
				}
			}
			// The password first: calibration takes a second or more, and
			// text typed meanwhile would be echoed and read as the password.
			pw, err := c.newPassword(c.passwordFile, weakOK, email)
			if err != nil {
				return err
			}
			defer keys.Wipe(pw)
			if p.MemoryKiB == 0 {
				c.infof("calibrating key derivation for this device...")
				cal := keys.Calibrate(time.Second)
				p.MemoryKiB = cal.MemoryKiB
			}
			if err := p.Check(); err != nil {
				return usageError{err}
			}
			if explicit && p.BelowDefaults() {
				c.warnf("key derivation set below the defaults (%s); a stolen vault plus kit is cheaper to attack", p)
			}
			if sf.url != "" {
				if _, err := sf.config(); err != nil {
					return err
				}
			}
			created, err := vault.Create(c.vaultDir, pw, vault.CreateOptions{Email: email, KDF: p}, c.vaultOpts()...)
			if err != nil {
				return err
			}
			defer created.SecretKey.Wipe()
			defer created.Login.Wipe()
			if sf.url != "" {
				if err := c.registerNew(&sf, created, email); err != nil {
					return err
				}
				c.infof("created the account on %s", sf.url)
			}
			if c.jsonOut {
				return c.printJSON(initJSON{AccountID: created.AccountID.String(), SecretKey: created.SecretKey.Display(),
					Vault: c.vaultDir, KDF: newKDFJSON(p), Server: sf.url})
			}
			fmt.Fprintf(c.stdout, "Account ID:  %s\nSecret Key:  %s\nVault:       %s\n", created.AccountID, created.SecretKey.Display(), c.vaultDir)
			c.infof("created the vault (%s)", p)
			c.infof("hint: print your recovery kit now and keep it safe: keyhold kit --pdf keyhold-kit.pdf")
			c.infof("hint: without the kit (or another device) and your password, nobody — not even you — can open this vault")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "your email address (shown on the recovery kit)")
	f.BoolVar(&weakOK, "weak-password-ok", false, "accept a password below the strength floor (3/4)")
	f.Uint32Var(&mem, "kdf-memory", 0, "Argon2id memory in MiB (default: calibrated on this device, 64 to 256; more makes a stolen vault plus kit costlier to attack, but the web vault then takes several seconds to unlock and phones' browsers may not have the memory)")
	f.Uint32Var(&tm, "kdf-time", 0, "Argon2id passes (default 3)")
	f.Uint32Var(&threads, "kdf-threads", 0, "Argon2id lanes (default 4)")
	sf.add(cmd, "also create the account on this keyhold-server (https://HOST[:PORT]) and sync with it")
	return cmd
}

func (c *cmdEnv) lockCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lock",
		Short: "Stop the agent, wiping the keys it holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl := c.agentClient()
			if cl == nil {
				c.infof("already locked")
				return nil
			}
			if err := cl.Lock(c.ctx); err != nil {
				return err
			}
			c.infof("locked")
			return nil
		},
	}
}

func (c *cmdEnv) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show whether the vault exists and is unlocked",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st := statusJSON{Vault: c.vaultDir, Exists: vault.Exists(c.vaultDir), Locked: true}
			var ast *agent.Status
			if path, err := c.agentSocket(); err == nil && vault.Exists(c.vaultDir) {
				if _, err := os.Stat(path); err == nil {
					if _, s, err := agent.Dial(path); err == nil {
						ast = s
						st.Locked = false
						st.Agent = &statusAgentJSON{PID: s.PID, ExpiresAt: s.ExpiresAt.UTC().Format(time.RFC3339), IdleTimeout: s.Timeout.String()}
					}
				}
			}
			var v *vault.Vault
			if st.Exists {
				var err error
				if v, err = c.openVault(); err != nil {
					return err
				}
				defer v.Close()
				st.AccountID = v.AccountID().String()
				kv, kdf := v.KeyVersion(), newKDFJSON(v.Envelope().KDF)
				st.KeyVersion, st.KDF = &kv, &kdf
				sw := c.secretsWhere(v)
				st.Keystore = sw.kind
				st.KeystoreEntry = sw.entry
				if cfg, err := syncfile.Load(c.vaultDir); err == nil {
					ss, _ := v.SyncState(c.ctx)
					pending, _ := v.Pending(c.ctx)
					st.Sync = &statusServerJSON{Server: cfg.Server, DeviceID: cfg.DeviceID, Cursor: ss.Cursor,
						Verified: ss.Verified, Pending: pending}
					st.Mailer = cfg.MailerURL
				} else if fs, err := v.FolderStatus(c.ctx); err == nil {
					st.Sync = &statusFolderJSON{Folder: fs.Path, DeviceID: fs.DeviceID, Pending: fs.Pending,
						Clock: fs.Lamport, Devices: fs.Devices}
				}
			}
			if c.jsonOut {
				return c.printJSON(st)
			}
			if v == nil {
				fmt.Fprintf(c.stdout, "vault:   %s (none)\n", c.vaultDir)
				c.infof("hint: create one with `keyhold init`")
				return nil
			}
			fmt.Fprintf(c.stdout, "vault:    %s\naccount:  %s\nkey:      version %d, %s\n", c.vaultDir, v.AccountID(), v.KeyVersion(), v.Envelope().KDF)
			if ast != nil {
				fmt.Fprintf(c.stdout, "state:    unlocked (agent pid %d, locks after %s idle, next at %s)\n", ast.PID, ast.Timeout, ast.ExpiresAt.Local().Format(time.TimeOnly))
			} else {
				fmt.Fprintf(c.stdout, "state:    locked\n")
			}
			switch sy := st.Sync.(type) {
			case *statusFolderJSON:
				fmt.Fprintf(c.stdout, "sync:     folder %s (%s with changes not yet written; %s)\n", sy.Folder, countNoun(sy.Pending, "item"), countNoun(sy.Devices, "device"))
			case *statusServerJSON:
				fmt.Fprintf(c.stdout, "sync:     %s (%s with changes not yet sent; pulled to %d)\n", sy.Server, countNoun(sy.Pending, "item"), sy.Cursor)
			default:
				fmt.Fprintf(c.stdout, "sync:     none\n")
			}
			if st.Mailer != "" {
				fmt.Fprintf(c.stdout, "mailer:   %s (kit mail goes only there; keyhold kit --email --mailer-url changes it)\n", st.Mailer)
			}
			sw := c.secretsWhere(v)
			fmt.Fprintf(c.stdout, "secrets:  %s\n", sw.text)
			if sw.warning != "" {
				c.warnf("%s", sw.warning)
			}
			return nil
		},
	}
}

func (c *cmdEnv) passwdCmd() *cobra.Command {
	var newFile string
	var weakOK bool
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the password (re-wraps the account key)",
		Long: `Change the password. The account key is re-wrapped under the new password;
items are not re-encrypted. A key file exported before still opens with the
old password; if you suspect the old password or a kit leaked, run
keyhold rotate-key as well.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The current password unlocks here and, through a server,
			// proves it to the server too (docs/LOGIN.md "Fresh proof").
			ls, err := c.localSync()
			if err != nil {
				return err
			}
			s := ls.s
			npw, err := c.newPassword(newFile, weakOK, s.Vault().AccountID().String())
			if err != nil {
				return err
			}
			defer keys.Wipe(npw)
			p := s.Vault().Envelope().KDF
			var publish func([]byte, *keys.Key32) error
			if cfg, err := syncfile.Load(c.vaultDir); err == nil {
				// The server changes first, in one request; if it refuses,
				// nothing changes here either.
				cl, err := cfg.Client()
				if err != nil {
					return err
				}
				y := &syncclient.Syncer{C: cl, S: s, Prove: c.prover(cl, cfg, s.Vault().AccountID(), ls.login)}
				publish = y.PublishPassword(c.ctx)
			} else if p := s.FolderPasswordPublisher(c.ctx); p != nil {
				// The folder gets the new envelope first; if writing it
				// fails, nothing changes here either.
				publish = p
			}
			if err := s.ChangePassword(c.ctx, npw, p, publish); err != nil {
				return err
			}
			c.infof("password changed")
			c.infof("hint: key files exported earlier still open with the old password; `keyhold rotate-key` retires them")
			return nil
		},
	}
	cmd.Flags().StringVar(&newFile, "new-password-file", "", "read the new password from this file instead of the terminal")
	cmd.Flags().BoolVar(&weakOK, "weak-password-ok", false, "accept a new password below the strength floor (3/4)")
	return cmd
}

func (c *cmdEnv) rotateKeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-key",
		Short: "Replace the account key and Secret Key; old kits and key files stop working",
		Long: `Make a new account key and a new Secret Key, and re-encrypt every item and
every past revision under the new key, in one transaction. Recovery kits and
key files made before stop working: print the new kit afterwards. Do this
after a suspected leak of a kit, a key file or the password.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cl := c.agentClient(); cl != nil {
				cl.Lock(c.ctx)
			}
			v, err := c.openVault()
			if err != nil {
				return err
			}
			defer v.Close()
			var s *vault.Session
			var login *keys.Key32
			pw, err := c.passwordFor("Password for "+c.vaultDir+": ", func(pw []byte) (err error) {
				s, login, err = v.UnlockLogin(pw)
				return err
			})
			if err != nil {
				return err
			}
			defer keys.Wipe(pw)
			defer s.Close()
			defer login.Wipe()
			var created *vault.Created
			if cfg, err := syncfile.Load(c.vaultDir); err == nil {
				cl, err := cfg.Client()
				if err != nil {
					return err
				}
				y := &syncclient.Syncer{C: cl, S: s, Prove: c.prover(cl, cfg, v.AccountID(), login)}
				created, err = y.Rotate(c.ctx, pw)
				if err != nil {
					return err
				}
				c.infof("the server holds the rotated vault; other devices follow on their next sync")
			} else if c.folderSynced() {
				created, err = s.FolderRotate(c.ctx, pw)
				if err != nil && created == nil {
					return err
				}
				if err != nil {
					c.warnf("%v", err)
				}
				c.infof("the folder holds the rotated key; other devices follow on their next sync")
			} else if created, err = s.RotateKey(c.ctx, pw, nil); err != nil {
				return err
			}
			defer created.SecretKey.Wipe()
			if c.jsonOut {
				return c.printJSON(rotateKeyJSON{AccountID: created.AccountID.String(), SecretKey: created.SecretKey.Display(), KeyVersion: v.KeyVersion()})
			}
			fmt.Fprintf(c.stdout, "Account ID:  %s\nSecret Key:  %s\n", created.AccountID, created.SecretKey.Display())
			c.infof("rotated the account key (now version %d); every item was re-encrypted", v.KeyVersion())
			c.infof("hint: old recovery kits and key files no longer work: print the new kit now: keyhold kit --pdf keyhold-kit.pdf")
			return nil
		},
	}
}

func (c *cmdEnv) keyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Work with the encrypted account key"}
	cmd.AddCommand(&cobra.Command{
		Use:   "export FILE",
		Short: "Write the encrypted account key to a key file (.keyholdkey)",
		Long: `Write the account key, encrypted under your password and Secret Key, to FILE
("-" for stdout). The file is useless without both; it does not contain the
Secret Key. The file must not exist yet.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := c.openVault()
			if err != nil {
				return err
			}
			defer v.Close()
			if err := c.writeOut(args[0], format.MarshalKeyFile(v.Envelope())); err != nil {
				return err
			}
			if args[0] != "-" {
				c.infof("wrote the encrypted account key to %s", args[0])
			}
			return nil
		},
	})
	return cmd
}

func (c *cmdEnv) verifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the whole vault: key check, every item, the manifest",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := c.open()
			if err != nil {
				return err
			}
			r, err := st.Verify(c.ctx)
			if err != nil {
				return err
			}
			if c.jsonOut {
				if err := c.printJSON(r); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(c.stdout, "items: %d current, %d past revisions\n", r.Items, r.Revisions)
				for _, p := range r.Problems {
					fmt.Fprintf(c.stdout, "problem: %s\n", p)
				}
			}
			if len(r.Problems) > 0 {
				return exitError{fmt.Errorf("%w: %d problem(s) found", vault.ErrDamaged, len(r.Problems)), ExitDamaged}
			}
			if !c.jsonOut {
				fmt.Fprintln(c.stdout, "ok: the key check passes, every item opens, the manifest matches")
			}
			return nil
		},
	}
}

func (c *cmdEnv) accountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Account information"}
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Show what is stored about your account, and where",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := c.openVault()
			if err != nil {
				return err
			}
			defer v.Close()
			di, err := v.Device()
			if err != nil {
				return err
			}
			defer di.SecretKey.Wipe()
			env := v.Envelope()
			stored := []storedJSON{
				{Where: filepath.Join(c.vaultDir, vault.DBFile), What: "account id, key version, key derivation settings and salt (public)"},
				{Where: filepath.Join(c.vaultDir, vault.DBFile), What: "account key, encrypted under your password and Secret Key"},
				{Where: filepath.Join(c.vaultDir, vault.DBFile), What: "key check: a known text encrypted with the account key"},
				{Where: filepath.Join(c.vaultDir, vault.DBFile), What: "items and their past revisions, each encrypted (titles, URLs, notes, tags included); only ids, sizes and revision numbers are readable"},
				{Where: filepath.Join(c.vaultDir, vault.DBFile), What: "manifest: a MAC over item ids and revisions"},
				{Where: filepath.Join(c.vaultDir, vault.DeviceFile), What: "this device's Secret Key, your email if given, key derivation floor (file mode 0600)"},
			}
			acct, cfg, err := c.serverAccount()
			if err != nil {
				return err
			}
			fst, ferr := v.FolderStatus(c.ctx)
			if ferr != nil {
				fst = nil
			}
			if acct == nil && fst != nil {
				stored = append(stored,
					storedJSON{Where: "server", What: "nothing: this vault syncs through a folder, and there is no server account"},
					storedJSON{Where: filepath.Join(fst.Path, folder.Dir), What: "each device's change logs, snapshots and key files, sealed: account id, key version, device ids, counters and file sizes are readable; titles, fields and item ids are not"},
					storedJSON{Where: filepath.Join(fst.Path, folder.Dir), What: "the encrypted account key and key check (useless without your Secret Key and password)"},
					storedJSON{Where: filepath.Join(c.vaultDir, vault.FolderConfigFile), What: "the folder's path and this device's id in it"})
			} else if acct == nil {
				stored = append(stored, storedJSON{Where: "server", What: "nothing: no sync server is configured"})
			} else {
				stored = append(stored,
					storedJSON{Where: cfg.Server, What: "account id, email if given, plan, devices, audit log, sync settings"},
					storedJSON{Where: cfg.Server, What: "the encrypted account key and key check (useless without your Secret Key and password)"},
					storedJSON{Where: cfg.Server, What: "items and their past revisions, sealed as on this device; a login record that does not reveal the password"},
					storedJSON{Where: filepath.Join(c.vaultDir, syncclient.ConfigFile), What: "the server, this device's id and its session token (file mode 0600)"})
			}
			if c.jsonOut {
				out := accountJSON{AccountID: v.AccountID().String(), Email: di.Email, KeyVersion: v.KeyVersion(),
					KDF: newKDFJSON(env.KDF), Sync: di.SyncLocation, Stored: stored}
				if fst != nil && acct == nil {
					out.Folder = fst.Path
					out.DeviceID = fst.DeviceID
					out.Devices = &fst.Devices
				}
				if acct != nil {
					out.Server = cfg.Server
					out.DeviceID = cfg.DeviceID
					out.Plan = &acct.Plan
					out.Created = &acct.Created
					out.Devices = &acct.Devices
					out.Items = &acct.Items
					out.Head = &acct.Head
					if acct.Email != "" {
						out.Email = acct.Email
					}
					out.SyncSettings = acct.SyncSettings
				}
				return c.printJSON(out)
			}
			fmt.Fprintf(c.stdout, "account:  %s\n", v.AccountID())
			if di.Email != "" {
				fmt.Fprintf(c.stdout, "email:    %s\n", di.Email)
			}
			fmt.Fprintf(c.stdout, "key:      version %d, %s\n", v.KeyVersion(), env.KDF)
			if acct == nil && fst != nil {
				fmt.Fprintf(c.stdout, "sync:     folder %s (this device: %s; %s in the folder; no server account)\n", fst.Path, fst.DeviceID, countNoun(fst.Devices, "device"))
			} else if acct == nil {
				fmt.Fprintf(c.stdout, "sync:     none (this vault lives only on this device)\n")
			} else {
				fmt.Fprintf(c.stdout, "sync:     %s (this device: %s)\ncreated:  %s\nplan:     %s\ndevices:  %d\nitems:    %d on the server\n",
					cfg.Server, cfg.DeviceID, acct.Created.Local().Format("2006-01-02"), planText(acct.Plan), acct.Devices, acct.Items)
			}
			fmt.Fprintf(c.stdout, "\nwhat is stored, and where:\n")
			for _, s := range stored {
				fmt.Fprintf(c.stdout, "  %s\n      %s\n", s.Where, s.What)
			}
			return nil
		},
	})
	cmd.AddCommand(c.accountLogCmd())
	return cmd
}

// planText describes a plan in words.
func planText(p api.Plan) string {
	s := p.Name
	switch p.Name {
	case "trial":
		s = "trial, ends " + p.TrialEnds
	case "premium":
		s = "premium"
		if p.PaidUntil != "" {
			s += ", paid until " + p.PaidUntil
		}
		if p.PaymentDate != "" {
			s += ", licence paid " + p.PaymentDate
		}
	case "other":
		if p.Label != "" {
			s = "other (" + p.Label + ")"
		}
	}
	if p.Effective != "" && p.Effective != p.Name {
		s += "; in force now: " + p.Effective
	}
	if p.MaxDevices > 0 {
		s += "; up to " + countNoun(p.MaxDevices, "device")
	}
	return s
}
