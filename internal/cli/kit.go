package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/vault"
)

func (c *cmdEnv) kitCmd() *cobra.Command {
	var text bool
	var png, pdf string
	var mf mailFlags
	cmd := &cobra.Command{
		Use:   "kit",
		Short: "Show or save the recovery kit (account id and Secret Key; never the password)",
		Long: `Make the recovery kit: the account id and Secret Key that, with your
password, set up a new device. It never contains the password or the
encrypted account key. It is made on this device, and nothing is sent
anywhere unless you ask for --email (below).

  keyhold kit                 the kit as text and as a QR code in the terminal
  keyhold kit --text          the one-line kit text alone
  keyhold kit --pdf kit.pdf   a printable page (keep it somewhere safe)
  keyhold kit --png kit.png   the QR code alone
  keyhold kit --email [--to ADDR] (--encrypt-to KEYFILE|age1… | --unencrypted)
              [--mailer-url URL] [--yes]
                              have keyhold-mailer email it (see below)

Emailing is off unless you ask, and you must say how the kit travels.
With --encrypt-to, this device renders the kit and seals it before
anything leaves: to an OpenPGP public key file (armored or binary; the
whole mail body is PGP/MIME encrypted) or to an age recipient (the kit PDF
as kit.pdf.age). Only that key's holder can read it: not the server, not
the mailer, not the mail servers on the way. --unencrypted sends the kit
PDF readable by the mailer and every mail server on the way; it is never
the default and --yes never chooses it.

The server signs a short-lived ticket binding the sealed mail, its kind,
the key and the address (and logs the request in keyhold account log);
the mailer relays only that mail to that address. The mailer is yours to
choose: --mailer-url URL (kept for this device), else the one kept before;
the first time without one, the server's suggestion is shown and used only
if you confirm it on a terminal. A server that names another mailer than
this device's is refused. The address is --to, else the email given to
keyhold init --email when this vault was created (a device set up from a
kit has none: give --to); never the one the server holds. It is always
shown before sending. Without --yes you are asked to confirm.

Needs the vault unlocked (agent) or the password, so that an unattended
terminal cannot print it. --email always needs the password (from
--password-file or the terminal, even with an agent running): the server
wants a fresh proof of it before it vouches for a kit mail. Output files
must not exist yet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var login *keys.Key32
			if mf.email {
				// How the kit travels is settled before anything is opened.
				if err := mf.checkMailChoice(); err != nil {
					return err
				}
				// The server wants a fresh proof of the password for a
				// kit mail, and the agent does not keep the login key:
				// the password is asked for (or read from its file) here.
				ls, err := c.localSync()
				if err != nil {
					return err
				}
				login = ls.login
			} else if _, err := c.open(); err != nil {
				// Prove the user knows the password (or has unlocked).
				return err
			}
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
			k := kit.Kit{AccountID: di.AccountID, SecretKey: *di.SecretKey, SyncLocation: di.SyncLocation}
			defer k.Wipe()
			if err := k.Validate(); err != nil {
				return err
			}
			t := k.Text()
			if mf.email {
				return c.emailKit(&mf, k.Sheet(di.Email, time.Now(), di.SecretKey.Display()), di.Email, di.AccountID, login)
			}
			if mf.unencrypted || mf.encryptTo != "" || mf.to != "" || mf.mailerURL != "" {
				return usageError{errors.New("--to, --encrypt-to, --unencrypted and --mailer-url go with --email")}
			}
			wrote := false
			if png != "" {
				b, err := kit.QRPNG(t, kit.QRImageSize)
				if err != nil {
					return err
				}
				if err := c.writeOut(png, b); err != nil {
					return err
				}
				c.infof("wrote the kit's QR code to %s", png)
				wrote = true
			}
			if pdf != "" {
				b, err := kit.PDF(k.Sheet(di.Email, time.Now(), di.SecretKey.Display()))
				if err != nil {
					return err
				}
				if err := c.writeOut(pdf, b); err != nil {
					return err
				}
				c.infof("wrote the printable kit to %s; print it, keep it safe, and delete the file", pdf)
				wrote = true
			}
			if c.jsonOut {
				return c.printJSON(kitJSON{Kit: t, AccountID: di.AccountID.String(), SecretKey: di.SecretKey.Display()})
			}
			if text {
				fmt.Fprintln(c.stdout, t)
				return nil
			}
			if !wrote {
				fmt.Fprint(c.stdout, kit.TerminalQR(t))
				fmt.Fprintf(c.stdout, "\nKit:         %s\nAccount ID:  %s\nSecret Key:  %s\n", t, di.AccountID, di.SecretKey.Display())
				c.infof("anyone with this kit still needs your password; keep both apart")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&text, "text", false, "print the one-line kit text alone")
	f.StringVar(&png, "png", "", "write the QR code as a PNG to this file")
	f.StringVar(&pdf, "pdf", "", "write a printable PDF kit to this file")
	f.BoolVar(&mf.email, "email", false, "have keyhold-mailer email the kit (off by default; read the warning)")
	f.StringVar(&mf.to, "to", "", "with --email: the address (default: the account's email this device recorded)")
	f.StringVar(&mf.encryptTo, "encrypt-to", "", "with --email: seal the kit on this device to this OpenPGP public key file or age recipient (age1…)")
	f.BoolVar(&mf.unencrypted, "unencrypted", false, "with --email: send the kit NOT encrypted (the mailer and every mail server on the way can read it)")
	f.StringVar(&mf.mailerURL, "mailer-url", "", "with --email: the mailer to use, kept for this device (default: the one kept before)")
	f.StringVar(&mf.mailerFingerprint, "mailer-fingerprint", os.Getenv("KEYHOLD_MAILER_FINGERPRINT"), "with --email: pin the mailer's certificate (sha256:HEX; env KEYHOLD_MAILER_FINGERPRINT)")
	f.BoolVar(&mf.yes, "yes", false, "with --email: send without asking for confirmation (never chooses --unencrypted)")
	cmd.MarkFlagsMutuallyExclusive("email", "text")
	cmd.MarkFlagsMutuallyExclusive("email", "png")
	cmd.MarkFlagsMutuallyExclusive("email", "pdf")
	return cmd
}

func (c *cmdEnv) setupCmd() *cobra.Command {
	var kitArg, from, folder, account string
	var fromKeystore bool
	var sf serverFlags
	cmd := &cobra.Command{
		Use:   "setup --kit KIT|--from-keystore [--server URL | --folder PATH | --from VAULT]",
		Short: "Set up this device from a recovery kit (and the server, or a copy of another device's vault)",
		Long: `Set up this device (--vault, or KEYHOLD_VAULT) from your recovery kit and
either the sync server the kit names (--server overrides it) or a copy of
another device's vault directory or vault.db file (--from).

From a server: the password and the kit's Secret Key derive the login key;
the device logs in (the server never sees either secret), fetches the
encrypted account key and key check, opens and checks them, and only then
downloads every item, verifies each one and the manifest, and writes the
vault.

--kit takes the kit text (the setup code, KH1-…, typed with or without
its hyphens, in any case; or the account id and the Secret Key as printed
in their boxes, which name no server or folder, so --server or --folder
goes with them), a file holding it, a PNG or JPEG of its QR code
(a photo or screenshot), the printed PDF, or "-" for stdin. --from-keystore
takes the kit this computer's key store keeps (every device whose Secret
Key is in the key store keeps its kit there too): the newest one, or that
of --account ID.

Nothing is written until everything checks out: the kit's account must match
the vault's, its Secret Key must fit the vault's key, the password must open
the account key, the key check must pass, and every item and the manifest
must verify. On any failure nothing is left behind.

A device revoked on its server (keyhold devices revoke) re-joins the same
way: run setup with the kit on its existing vault. It logs in as a new
device and keeps its vault, and the edits it made but had not synced are
merged with the server's copy and sent, not lost. Any other existing vault
is refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// An existing vault is refused, except that a device revoked
			// on its server re-joins (below).
			exists := vault.Exists(c.vaultDir)
			if exists && (folder != "" || from != "") {
				return fmt.Errorf("%w: %s", vault.ErrVaultExists, c.vaultDir)
			}
			var k kit.Kit
			var err error
			switch {
			case fromKeystore && kitArg != "":
				return usageError{errors.New("give either --kit or --from-keystore, not both")}
			case fromKeystore:
				k, err = c.kitFromKeystore(account)
			case kitArg != "":
				k, err = readKit(c, kitArg)
			default:
				return usageError{errors.New("--kit KIT or --from-keystore is required")}
			}
			if err != nil {
				return err
			}
			defer k.Wipe()
			sk := keys.SecretKey(k.SecretKey)
			defer sk.Wipe()
			if folder != "" {
				return c.setupFromFolder(folder, &k)
			}
			if exists {
				return c.rejoin(&sf, keys.AccountID(k.AccountID), &sk)
			}
			if from == "" {
				if sf.url == "" {
					sf.url = k.SyncLocation
				}
				if sf.url == "" {
					return usageError{errors.New("this kit names no sync server or folder (the account id and Secret Key alone never do): give --server URL, --folder PATH for a sync folder, or --from VAULT with a copy of another device's vault")}
				}
				if !(strings.HasPrefix(sf.url, "https://") || strings.HasPrefix(sf.url, "http://")) {
					return usageError{fmt.Errorf("this kit is for a sync folder (%s), not a server: add --folder PATH (the folder as this device sees it)", sf.url)}
				}
				return c.setupFromServer(&sf, keys.AccountID(k.AccountID), &sk)
			}
			src, err := vault.PrepareSetup(from, keys.AccountID(k.AccountID), &sk, k.SyncLocation, c.vaultOpts()...)
			if err != nil {
				return err
			}
			defer src.Close()
			pw, err := c.password("Password for account " + keys.AccountID(k.AccountID).String() + ": ")
			if err != nil {
				return err
			}
			defer keys.Wipe(pw)
			if err := src.Complete(c.ctx, c.vaultDir, pw); err != nil {
				return err
			}
			c.infof("this device is set up: %s (account %s)", c.vaultDir, keys.AccountID(k.AccountID))
			return nil
		},
	}
	cmd.Flags().StringVar(&kitArg, "kit", "", "the recovery kit: setup code or account id and Secret Key, FILE (text, .png, .jpg, .pdf) or - for stdin")
	cmd.Flags().StringVar(&from, "from", "", "another device's vault directory (or its vault.db)")
	cmd.Flags().StringVar(&folder, "folder", "", "a sync folder (Dropbox, iCloud Drive, Syncthing…) the account's devices share")
	cmd.Flags().BoolVar(&fromKeystore, "from-keystore", false, "take the kit from this system's key store instead of --kit")
	cmd.Flags().StringVar(&account, "account", "", "with --from-keystore: the account whose kit to take (default: the newest stored)")
	sf.add(cmd, "the sync server (default: the one the kit names)")
	cmd.MarkFlagsMutuallyExclusive("from", "server", "folder")
	return cmd
}

func readKit(c *cmdEnv, arg string) (kit.Kit, error) {
	if arg != "-" {
		if _, err := os.Stat(arg); err != nil && (strings.HasPrefix(strings.ToUpper(strings.TrimSpace(arg)), "KH") || strings.Contains(strings.ToUpper(arg), "K1")) {
			c.warnf("the kit text on the command line can be seen by other users (ps) and stays in your shell history; prefer --kit FILE or --kit -")
		}
	}
	k, err := kit.Read(arg)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return kit.Kit{}, exitError{err, ExitNotFound}
		}
		return kit.Kit{}, exitError{err, ExitDamaged}
	}
	return k, nil
}
