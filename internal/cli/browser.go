package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/extension"
	"github.com/keyhold/keyhold/internal/browserinstall"
)

func (c *cmdEnv) browserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "browser",
		Short: "Install or remove the browser extension's link to keyhold",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{errors.New("name a subcommand: keyhold browser install, or keyhold browser uninstall")}
		},
	}
	cmd.AddCommand(c.browserInstallCmd(), c.browserUninstallCmd())
	return cmd
}

// browserEnv is where browsers look for host manifests, from this
// process's environment.
func browserEnv() (browserinstall.Env, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return browserinstall.Env{}, fmt.Errorf("no home directory (%v): set HOME", err)
	}
	return browserinstall.Env{GOOS: runtime.GOOS, Home: home, ConfigHome: os.Getenv("XDG_CONFIG_HOME"),
		LocalAppData: os.Getenv("LOCALAPPDATA")}, nil
}

// extensionDir is where install writes the unpacked extension;
// firefoxExtensionDir(extensionDir) the Firefox copy. Both are outside
// keyhold's own data directory, which is the default vault directory: a
// vault directory holds the vault alone.
func extensionDir() (string, error) {
	data := os.Getenv("XDG_DATA_HOME")
	if data == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory (%v): set HOME", err)
		}
		data = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(data, "keyhold-extension", "chromium"), nil
}

func firefoxExtensionDir(dir string) string { return filepath.Join(filepath.Dir(dir), "firefox") }

// invokedExecutable is the keyhold binary by the path it was started as,
// symlinks kept: a package manager's /usr/bin/keyhold or
// ~/.nix-profile/bin/keyhold stays valid across upgrades, where the
// resolved, versioned path would vanish. It is os.Executable when that
// path does not name the same file.
func invokedExecutable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	p := os.Args[0]
	if !strings.ContainsRune(p, filepath.Separator) && !strings.ContainsRune(p, '/') {
		if p, err = exec.LookPath(p); err != nil {
			return exe, nil
		}
	}
	if p, err = filepath.Abs(p); err != nil {
		return exe, nil
	}
	a, aerr := os.Stat(p)
	b, berr := os.Stat(exe)
	if aerr != nil || berr != nil || !os.SameFile(a, b) {
		return exe, nil
	}
	return p, nil
}

func browserTargets(browser, userDataDir string) ([]browserinstall.Target, error) {
	env, err := browserEnv()
	if err != nil {
		return nil, err
	}
	ts, err := browserinstall.Targets(env, strings.ToLower(browser), userDataDir)
	if errors.Is(err, browserinstall.ErrUnknownBrowser) || errors.Is(err, browserinstall.ErrNotChromium) {
		return nil, usageError{err}
	}
	return ts, err
}

func (c *cmdEnv) browserInstallCmd() *cobra.Command {
	var browser, extID, userDataDir string
	cmd := &cobra.Command{
		Use:   "install [--browser NAME] [--extension-id ID] [--user-data-dir DIR]",
		Short: "Let the Keyhold browser extension talk to keyhold (writes the native host manifest)",
		Long: `Install keyhold's native messaging host, through which the browser
extension fills logins from this vault: a host manifest that only the
Keyhold extension may use, and a wrapper script beside it that runs this
keyhold binary (with --vault, if one was given) as keyhold native-host.

--browser is one of chromium, chrome, edge, brave, firefox; without it,
every one of them whose profile directory exists (chromium if none does).
--user-data-dir DIR installs into DIR/NativeMessagingHosts, where a
Chromium-family browser started with --user-data-dir DIR looks.
--extension-id names the extension's id when it is not Keyhold's own
(a store-published copy); the default is fixed by the key in the
extension's manifest.

It also writes the unpacked extension to
$XDG_DATA_HOME/keyhold-extension/chromium/ (and a Firefox copy in
$XDG_DATA_HOME/keyhold-extension/firefox/) and says how to load it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if extID == "" {
				extID = browserinstall.DefaultExtensionID
			}
			if !browserinstall.ValidExtensionID(extID) {
				return usageError{fmt.Errorf("%q is not an extension id: an id is 32 letters a to p, as chrome://extensions shows it", extID)}
			}
			exe, err := invokedExecutable()
			if err != nil {
				return err
			}
			resolved, err := filepath.EvalSymlinks(exe)
			if err != nil {
				return err
			}
			if err := browserinstall.CheckExecutable(resolved); err != nil {
				return fmt.Errorf("%w: build and install keyhold (go install ./cmd/keyhold), then run that keyhold's browser install", err)
			}
			targets, err := browserTargets(browser, userDataDir)
			if err != nil {
				return err
			}
			vaultDir := ""
			if cmd.Flags().Changed("vault") || os.Getenv("KEYHOLD_VAULT") != "" {
				// The browser starts the host without this shell's
				// environment or flags: name the vault in the wrapper.
				if vaultDir, err = filepath.Abs(c.vaultDir); err != nil {
					return err
				}
			}
			for _, t := range targets {
				if err := browserinstall.Install(t, runtime.GOOS, exe, vaultDir, extID); err != nil {
					return fmt.Errorf("installing the host for %s: %w", t.Browser, err)
				}
				c.infof("installed the native host for %s: %s", t.Browser, t.Manifest())
				if t.RegistryKey != "" {
					c.infof("  registered in HKEY_CURRENT_USER\\%s", t.RegistryKey)
				}
			}
			dir, err := extensionDir()
			if err != nil {
				return err
			}
			if err := browserinstall.WriteExtension(extension.FS, dir, nil); err != nil {
				return fmt.Errorf("writing the extension to %s: %w", dir, err)
			}
			c.infof("wrote the extension to %s", dir)
			ffDir := ""
			for _, t := range targets {
				if !t.Chromium() && ffDir == "" {
					ffDir = firefoxExtensionDir(dir)
					chromium, err := extension.FS.ReadFile("manifest.json")
					if err != nil {
						return err
					}
					ff, err := extension.FirefoxManifest(chromium)
					if err != nil {
						return err
					}
					if err := browserinstall.WriteExtension(extension.FS, ffDir, ff); err != nil {
						return fmt.Errorf("writing the Firefox extension to %s: %w", ffDir, err)
					}
					c.infof("wrote the Firefox extension to %s", ffDir)
				}
			}
			for _, t := range targets {
				if t.Chromium() {
					c.infof("hint: to load it, open %s://extensions, turn on Developer mode, click \"Load unpacked\" and choose %s", extensionsScheme(t.Browser), dir)
					break
				}
			}
			if ffDir != "" {
				c.infof("hint: in Firefox, open about:debugging#/runtime/this-firefox, click \"Load Temporary Add-on\" and choose %s", filepath.Join(ffDir, "manifest.json"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&browser, "browser", "", "chromium, chrome, edge, brave or firefox (default: each one used here)")
	f.StringVar(&extID, "extension-id", "", "the extension's id, if not Keyhold's own (Chromium family)")
	f.StringVar(&userDataDir, "user-data-dir", "", "install for a Chromium-family browser started with --user-data-dir DIR")
	return cmd
}

// extensionsScheme is the scheme of a Chromium-family browser's own pages.
func extensionsScheme(browser string) string {
	switch browser {
	case "edge":
		return "edge"
	case "brave":
		return "brave"
	}
	return "chrome"
}

func (c *cmdEnv) browserUninstallCmd() *cobra.Command {
	var browser, userDataDir string
	cmd := &cobra.Command{
		Use:   "uninstall [--browser NAME] [--user-data-dir DIR]",
		Short: "Remove the native host manifest that browser install wrote",
		Long: `Remove the host manifest and wrapper script that keyhold browser install
wrote for --browser (default: every browser), or in DIR/NativeMessagingHosts
with --user-data-dir. Without either, the unpacked extension that install
wrote is removed too. The extension itself is removed in the browser.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var targets []browserinstall.Target
			if browser != "" || userDataDir != "" {
				ts, err := browserTargets(browser, userDataDir)
				if err != nil {
					return err
				}
				targets = ts
			} else {
				env, err := browserEnv()
				if err != nil {
					return err
				}
				for _, b := range browserinstall.Browsers {
					t, err := browserinstall.TargetFor(env, b, "")
					if err != nil {
						return err
					}
					targets = append(targets, t)
				}
			}
			removed := false
			for _, t := range targets {
				r, err := browserinstall.Uninstall(t, runtime.GOOS)
				if err != nil {
					return fmt.Errorf("removing the host for %s: %w", t.Browser, err)
				}
				if r {
					removed = true
					c.infof("removed the native host for %s: %s", t.Browser, t.Manifest())
				}
			}
			if browser == "" && userDataDir == "" {
				dir, err := extensionDir()
				if err != nil {
					return err
				}
				for _, d := range []string{dir, firefoxExtensionDir(dir)} {
					if _, err := os.Stat(filepath.Join(d, "manifest.json")); err == nil {
						if err := os.RemoveAll(d); err != nil {
							return err
						}
						removed = true
						c.infof("removed the unpacked extension %s", d)
					}
				}
				os.Remove(filepath.Dir(dir)) // only if nothing else is left in it
			}
			if !removed {
				c.infof("nothing to remove: no native host was installed there")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&browser, "browser", "", "chromium, chrome, edge, brave or firefox (default: all)")
	f.StringVar(&userDataDir, "user-data-dir", "", "remove the host from this Chromium user data directory")
	return cmd
}
