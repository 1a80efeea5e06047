// Package cli implements the keyhold command: flag parsing, prompts,
// output and exit codes, on top of the vault, agent, kit and transfer
// packages. The terminal rules are written at the top of term.go.
package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/agent"
	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/buildinfo"
	"github.com/keyhold/keyhold/internal/cobrausage"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/keystore"
	"github.com/keyhold/keyhold/internal/strength"
	"github.com/keyhold/keyhold/internal/vault"
)

// store is what item commands need: an unlocked vault, either a local
// vault.Session or the agent's client.
type store interface {
	// Search may return summaries (see agent.Client.Search): use it for
	// listings only, List when whole items are needed.
	Search(ctx context.Context, q string, f vault.Filter) ([]*vault.Entry, error)
	List(ctx context.Context, f vault.Filter) ([]*vault.Entry, error)
	Resolve(ctx context.Context, ref string, f vault.Filter) (*vault.Entry, error)
	History(ctx context.Context, id vault.ItemID) ([]vault.Revision, error)
	Add(ctx context.Context, its ...*item.Item) ([]*vault.Entry, error)
	Put(ctx context.Context, id vault.ItemID, baseRev uint64, it *item.Item) (*vault.Entry, error)
	Trash(ctx context.Context, ref string) (*vault.Entry, error)
	Restore(ctx context.Context, ref string) (*vault.Entry, error)
	Verify(ctx context.Context) (*vault.Report, error)
	Close()
}

// cmdEnv is the state shared by all commands of one invocation.
type cmdEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	vaultDir     string
	passwordFile string
	jsonOut      bool
	keystoreFlag string
	// newKeystore is where a device this command creates keeps its
	// Secret Key (applyKeystore resolves --keystore into it).
	newKeystore keystore.Mode

	lines   *bufio.Reader
	ctx     context.Context
	closers []func()
}

// Main runs the keyhold command with args (without the program name) and
// returns the exit code.
func Main(args []string) int {
	defer quitAsInterrupt()()
	return run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cmdEnv{stdin: stdin, stdout: stdout, stderr: stderr, ctx: ctx}
	return c.execute(c.rootCmd(), args)
}

// execute runs root with args, prints the error if there is one, and
// returns the exit code.
func (c *cmdEnv) execute(root *cobra.Command, args []string) int {
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	err := cobrausage.Execute(c.ctx, root, args)
	for _, f := range c.closers {
		f()
	}
	if err == nil {
		return ExitOK
	}
	var ce quietExit
	if errors.As(err, &ce) {
		return ce.code
	}
	if cobrausage.Is(err) {
		err = usageError{err} // a mistake cobra found in the command line
	}
	c.printErr(err)
	return exitCode(err)
}

func (c *cmdEnv) warnf(format string, a ...any) {
	fmt.Fprintf(c.stderr, "keyhold: warning: "+format+"\n", a...)
}

func (c *cmdEnv) infof(format string, a ...any) {
	fmt.Fprintf(c.stderr, "keyhold: "+format+"\n", a...)
}

// printErr prints err and its hints. An error may carry what a server
// (or another device through it) sent, so its text goes through the same
// filter as every server string (api.PrintableText).
func (c *cmdEnv) printErr(err error) {
	fmt.Fprintf(c.stderr, "keyhold: %s\n", api.PrintableText(err.Error()))
	var amb *ambiguousError
	if errors.As(err, &amb) {
		for _, r := range amb.rows() {
			fmt.Fprintf(c.stderr, "  %s\n", api.PrintableText(r))
		}
	}
	for _, h := range hints(err) {
		fmt.Fprintf(c.stderr, "keyhold: hint: %s\n", h)
	}
}

func hints(err error) []string {
	var nm noMatchError
	if errors.As(err, &nm) {
		return []string{"every word must appear in a title, type, username, URL, tag, note or text field (hidden values are never searched); `keyhold list --trash` shows deleted items"}
	}
	switch {
	case errors.Is(err, format.ErrWrongPassword):
		return []string{"passwords are case-sensitive; check Caps Lock and the keyboard layout"}
	case errors.Is(err, format.ErrWrongSecretKey):
		return []string{"use the newest recovery kit, made after the last key rotation (keyhold kit on a device that has synced since), and set this device up again with it"}
	case errors.Is(err, vault.ErrNoVault):
		return []string{"create one with `keyhold init`, or point --vault (or KEYHOLD_VAULT) at an existing vault"}
	case errors.Is(err, vault.ErrNotFound):
		return []string{"`keyhold search TEXT` finds items; `keyhold list --trash` shows deleted ones"}
	case errors.Is(err, vault.ErrDamaged), errors.Is(err, format.ErrTampered):
		return []string{"nothing was decrypted from the damaged data; run `keyhold verify` for a full report",
			"restore the vault from a backup, or set this device up again from your kit and another device's vault"}
	case errors.Is(err, errNoInput):
		return []string{"pass --password-file FILE (or set KEYHOLD_PASSWORD_FILE), or run `keyhold unlock` in a terminal first"}
	case errors.Is(err, vault.ErrRotated):
		return []string{"keyhold lock, then keyhold unlock"}
	case errors.Is(err, vault.ErrServerMismatch), errors.Is(err, vault.ErrServerRollback):
		return []string{"this device kept every item it had; tell the server's operator, and sync again once the server is fixed"}
	case errors.Is(err, keys.ErrKDFDowngrade):
		return []string{"do not unlock this vault file; restore it from a trusted copy"}
	case errors.Is(err, errWebMismatch):
		return []string{"a server that runs another keyhold version serves another web vault: check with the keyhold of that version",
			"otherwise do not sign in through this server's web vault, and tell its operator"}
	case errors.Is(err, vault.ErrVaultExists):
		return []string{"use another --vault directory, or remove the existing vault if you really mean to"}
	}
	if isMissingPart(err) {
		return []string{"`keyhold show TITLE` lists the item's fields and attachments"}
	}
	var we *strength.WeakPasswordError
	if errors.As(err, &we) {
		return []string{"choose a longer password: several unrelated words are strong and easy to remember (keyhold generate --words 5 makes one)",
			"or keep this one with --weak-password-ok (your Secret Key still protects a stolen vault; a strong password protects you if the kit is found too)"}
	}
	var ue usageError
	if errors.As(err, &ue) {
		return []string{"run `keyhold help` or add --help to the command"}
	}
	return nil
}

func defaultVaultDir() string {
	if v := os.Getenv("KEYHOLD_VAULT"); v != "" {
		return v
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "keyhold")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "keyhold")
	}
	return "keyhold-vault"
}

func (c *cmdEnv) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "keyhold",
		Short: "A password manager built around an account key and a recovery kit",
		Long: `keyhold keeps your passwords in a local encrypted vault. Decrypting it needs
your password and this device's Secret Key; the recovery kit (keyhold kit)
carries the Secret Key to your other devices.

Start with:  keyhold init     then  keyhold kit --pdf kit.pdf  and print it.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		Version:           buildinfo.Read().String("keyhold"),
	}
	// --version prints buildinfo's form as it is (docs/CLI.md), with no
	// -v shorthand: cobra would add one if the flag were left to it.
	root.SetVersionTemplate("{{.Version}}")
	root.Flags().Bool("version", false, "print keyhold's version, commit and Go version, and exit")
	pf := root.PersistentFlags()
	pf.StringVar(&c.vaultDir, "vault", defaultVaultDir(), "vault directory (env KEYHOLD_VAULT)")
	pf.StringVar(&c.passwordFile, "password-file", os.Getenv("KEYHOLD_PASSWORD_FILE"), "read the password from this file instead of the terminal (env KEYHOLD_PASSWORD_FILE)")
	pf.BoolVar(&c.jsonOut, "json", false, "print machine-readable JSON on stdout")
	pf.StringVar(&c.keystoreFlag, "keystore", os.Getenv("KEYHOLD_KEYSTORE"), "where this device keeps its Secret Key: auto (the system key store if one answers, else a file), os or file (env KEYHOLD_KEYSTORE)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if cmd.Hidden {
			return nil // the agent and the clipboard helper
		}
		return c.applyKeystore(cmd.Name() == "init" || cmd.Name() == "setup")
	}
	root.AddCommand(
		c.initCmd(), c.unlockCmd(), c.lockCmd(), c.statusCmd(),
		c.addCmd(), c.editCmd(), c.showCmd(), c.listCmd(), c.searchCmd(), c.rmCmd(), c.restoreCmd(), c.historyCmd(),
		c.generateCmd(), c.otpCmd(), c.copyCmd(), c.attachmentCmd(),
		c.passwdCmd(), c.rotateKeyCmd(), c.kitCmd(), c.keyCmd(), c.setupCmd(), c.verifyCmd(),
		c.importCmd(), c.exportCmd(), c.accountCmd(), c.syncCmd(), c.devicesCmd(),
		c.agentCmd(), c.clipClearCmd(),
		c.runCmd(), c.injectCmd(), c.readCmd(), c.auditCmd(),
		c.webCmd(),
		c.browserCmd(), c.nativeHostCmd(),
	)
	c.registerCompletions(root)
	return root
}

// password returns the current password: from --password-file, else from
// the terminal.
func (c *cmdEnv) password(prompt string) ([]byte, error) {
	if c.passwordFile == "-" {
		return c.stdinSecret("password")
	}
	if c.passwordFile != "" {
		return readSecretFile(c.passwordFile)
	}
	defer termAsInterrupt()()
	return readSecretTTY(prompt)
}

// openVault opens the vault directory.
func (c *cmdEnv) openVault() (*vault.Vault, error) {
	return vault.Open(c.vaultDir, c.vaultOpts()...)
}

// localSession is a vault.Session that also closes its vault.
type localSession struct {
	*vault.Session
}

func (l localSession) Close() {
	v := l.Session.Vault()
	l.Session.Close()
	v.Close()
}

// open returns an unlocked store: the agent if one runs for this vault,
// else the vault unlocked with the password. It is closed (keys wiped)
// when the command ends.
func (c *cmdEnv) open() (store, error) {
	if cl := c.agentClient(); cl != nil {
		return cl, nil
	}
	s, err := c.unlockLocal()
	if err != nil {
		return nil, err
	}
	st := localSession{s}
	c.closers = append(c.closers, st.Close)
	return st, nil
}

// resolve opens the store and finds one item by title or id among those
// f selects.
func (c *cmdEnv) resolve(ref string, f vault.Filter) (store, *vault.Entry, error) {
	st, err := c.open()
	if err != nil {
		return nil, nil, err
	}
	e, err := st.Resolve(c.ctx, ref, f)
	if err != nil {
		return nil, nil, c.explainAmbiguous(st, ref, err, f)
	}
	return st, e, nil
}

func (c *cmdEnv) agentClient() *agent.Client {
	if !vault.Exists(c.vaultDir) {
		return nil
	}
	path, err := c.agentSocket()
	if err != nil {
		return nil
	}
	if !agent.Listening(path) {
		return nil
	}
	cl, _, err := agent.Dial(path)
	if errors.Is(err, agent.ErrForeignAgent) {
		c.warnf("%v; ignoring it and asking for the password", err)
		return nil
	}
	if err != nil {
		return nil
	}
	return cl
}

// unlockLocal unlocks the vault in this process with the password.
func (c *cmdEnv) unlockLocal() (*vault.Session, error) {
	v, err := c.openVault()
	if err != nil {
		return nil, err
	}
	var s *vault.Session
	pw, err := c.passwordFor("Password for "+c.vaultDir+": ", func(pw []byte) (err error) {
		s, err = v.Unlock(pw)
		return err
	})
	if err != nil {
		v.Close()
		return nil, err
	}
	keys.Wipe(pw)
	return s, nil
}
