//go:build unix

package exttest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Password is the vault password of every vault the harness makes.
const Password = "quokka marmalade horizon 42 zebra lantern"

// Keyhold runs the real keyhold binary on one vault, in an environment of
// its own (HOME, XDG directories, runtime directory, display) that
// Chromium, and so the native host it starts, shares.
type Keyhold struct {
	Bin          string // the built binary
	Dir          string // everything of this vault's user lives under it
	Vault        string
	PasswordFile string
	Env          []string // HOME, XDG_*, DISPLAY, PATH …: the user's environment
}

// BuildKeyhold builds cmd/keyhold into dir with goCmd and returns its
// path. The host manifest names this absolute path, as it does for a
// user's installed binary.
func BuildKeyhold(goCmd, dir string) (string, error) {
	bin := filepath.Join(dir, "keyhold")
	cmd := exec.Command(goCmd, "build", "-o", bin, "github.com/keyhold/keyhold/cmd/keyhold")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building keyhold: %v\n%s", err, out)
	}
	return bin, nil
}

// NewKeyhold prepares a user's directories under dir and an empty vault
// path (not yet made: see Init). display is the X display the user's
// clipboard lives on.
func NewKeyhold(bin, dir, display string) (*Keyhold, error) {
	k := &Keyhold{Bin: bin, Dir: dir, Vault: filepath.Join(dir, "vault"), PasswordFile: filepath.Join(dir, "password")}
	sub := map[string]string{}
	for _, name := range []string{"home", "run", "state", "config", "data", "cache"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, err
		}
		sub[name] = p
	}
	if err := os.WriteFile(k.PasswordFile, []byte(Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	k.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + sub["home"], "TMPDIR=" + os.TempDir(),
		"XDG_RUNTIME_DIR=" + sub["run"], "XDG_STATE_HOME=" + sub["state"], "XDG_CONFIG_HOME=" + sub["config"],
		"XDG_DATA_HOME=" + sub["data"], "XDG_CACHE_HOME=" + sub["cache"],
		"DISPLAY=" + display, "WAYLAND_DISPLAY=",
		// No D-Bus session: the key store is a file, and nothing can reach
		// (or auto-start) the developer's own.
		"DBUS_SESSION_BUS_ADDRESS=", "KEYHOLD_KEYSTORE=",
		// The vault is named on every command line (--vault), as the
		// installed host's wrapper names it.
		"KEYHOLD_VAULT=", "KEYHOLD_PASSWORD_FILE=",
	}
	return k, nil
}

// Init makes the vault with a light key derivation (fast unlocks: the
// tests measure filling, not Argon2).
func (k *Keyhold) Init() error {
	_, err := k.Run(nil, "init", "--kdf-memory", "8", "--kdf-time", "1", "--kdf-threads", "1")
	return err
}

// Run runs keyhold --vault V --password-file F args… with stdin and
// returns its stdout; an error carries stderr (never a secret: keyhold
// does not print one there).
func (k *Keyhold) Run(stdin io.Reader, args ...string) (string, error) {
	cmd := exec.Command(k.Bin, append([]string{"--vault", k.Vault, "--password-file", k.PasswordFile}, args...)...)
	cmd.Env = k.Env
	cmd.Dir = k.Dir
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// (The agent that unlock starts outlives the command; it detaches
	// from the command's stdout and stderr, so Run returns.)
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("keyhold %s: %w\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// Unlock starts the agent with the password file, as a user's
// `keyhold unlock` does.
func (k *Keyhold) Unlock() error {
	_, err := k.Run(nil, "unlock")
	return err
}

// Lock stops the agent.
func (k *Keyhold) Lock() error {
	_, err := k.Run(nil, "lock")
	return err
}

// Install runs `keyhold browser install --browser chromium --user-data-dir
// profile`: the host manifest goes where Chromium started with that
// profile looks for it.
func (k *Keyhold) Install(profile string) (string, error) {
	return k.Run(nil, "browser", "install", "--browser", "chromium", "--user-data-dir", profile)
}

// AddLogin adds a login with the CLI and returns its id. The password
// goes through stdin, never argv. Extra arguments follow (--url …).
func (k *Keyhold) AddLogin(title, username, password string, extra ...string) (string, error) {
	args := append([]string{"add", "login", title, "--username", username, "--password-stdin"}, extra...)
	out, err := k.Run(strings.NewReader(password+"\n"), args...)
	return strings.TrimSpace(out), err
}

// AddLoginTOTP is AddLogin with a TOTP secret (base32) too, both on stdin.
func (k *Keyhold) AddLoginTOTP(title, username, password, totpSecret string, extra ...string) (string, error) {
	args := append([]string{"add", "login", title, "--username", username, "--password-stdin", "--totp-secret-stdin"}, extra...)
	out, err := k.Run(strings.NewReader(password+"\n"+totpSecret+"\n"), args...)
	return strings.TrimSpace(out), err
}

// Field is `keyhold show TITLE --field NAME` (a secret field's value
// revealed), without the final newline.
func (k *Keyhold) Field(title, name string) (string, error) {
	out, err := k.Run(nil, "show", title, "--field", name)
	return strings.TrimRight(out, "\n"), err
}
