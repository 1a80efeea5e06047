// Package browserinstall installs keyhold's native messaging host for the
// browsers that run the Keyhold extension: a host manifest that names the
// host and the one extension allowed to start it, and a small wrapper
// script beside it that starts `keyhold native-host` with this vault.
//
// Where each browser looks for host manifests is fixed by the browser:
// a NativeMessagingHosts directory in its user data directory (Chromium
// family, on Linux and macOS; also in the directory given with
// --user-data-dir), ~/.mozilla/native-messaging-hosts (Firefox on Linux),
// or, on Windows, a registry key under HKCU naming the manifest's path.
// The package never reads the environment: the caller passes it in Env.
package browserinstall

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/keyhold/keyhold/extension"
)

// HostName is the native messaging host's name, which the extension
// connects to (chrome.runtime.connectNative).
const HostName = "app.keyhold.host"

// DefaultExtensionID is the Chromium id of the Keyhold extension, fixed by
// the public key in its manifest.json (ExtensionID computes it; a test
// keeps the two in step). An unpacked copy and the store agree on it.
const DefaultExtensionID = "dcefochpojkbelobkomknnhojhpichcd"

// FirefoxExtensionID is the extension's id in Firefox (its manifest's
// browser_specific_settings.gecko.id).
const FirefoxExtensionID = extension.FirefoxID

// Browsers are the browsers install knows, in the order it reports them.
var Browsers = []string{"chromium", "chrome", "edge", "brave", "firefox"}

// ErrUnknownBrowser is returned for a browser name not in Browsers.
var ErrUnknownBrowser = errors.New("unknown browser")

// ErrNotChromium is returned for --user-data-dir with Firefox, which has
// no such directory for host manifests.
var ErrNotChromium = errors.New("a user data directory is a Chromium-family setting")

// ErrTemporaryBinary is returned by CheckExecutable for a binary that
// `go run` or `go test` built in a temporary directory.
var ErrTemporaryBinary = errors.New("keyhold runs from a temporary build that is deleted when it exits")

// Env is the part of the environment that decides where browsers look.
type Env struct {
	GOOS string
	// Home is the user's home directory.
	Home string
	// ConfigHome is $XDG_CONFIG_HOME (Linux), "" for ~/.config.
	ConfigHome string
	// LocalAppData is %LOCALAPPDATA% (Windows), where the manifests go.
	LocalAppData string
}

// Target is one place a host manifest is installed.
type Target struct {
	Browser string
	// Dir is the directory of the manifest and the wrapper.
	Dir string
	// Profile is the browser's directory whose existence tells that the
	// browser is used here ("" for a given user data directory).
	Profile string
	// RegistryKey is the HKCU key that names the manifest (Windows).
	RegistryKey string
}

// Manifest is the host manifest's path.
func (t Target) Manifest() string { return filepath.Join(t.Dir, HostName+".json") }

// Wrapper is the wrapper script's path.
func (t Target) Wrapper(goos string) string {
	if goos == "windows" {
		return filepath.Join(t.Dir, HostName+".bat")
	}
	return filepath.Join(t.Dir, HostName+".sh")
}

// Chromium reports whether the target's browser is of the Chromium family.
func (t Target) Chromium() bool { return t.Browser != "firefox" }

// TargetFor returns where browser looks for host manifests. With
// userDataDir (Chromium family only) it is that directory's
// NativeMessagingHosts, which the browser reads when started with
// --user-data-dir.
func TargetFor(env Env, browser, userDataDir string) (Target, error) {
	if !slices.Contains(Browsers, browser) {
		return Target{}, fmt.Errorf("%w %q: use one of %s", ErrUnknownBrowser, browser, strings.Join(Browsers, ", "))
	}
	if userDataDir != "" {
		if browser == "firefox" {
			return Target{}, fmt.Errorf("%w: Firefox reads host manifests from %s only", ErrNotChromium, firefoxDir(env))
		}
		abs, err := filepath.Abs(userDataDir)
		if err != nil {
			return Target{}, err
		}
		t := Target{Browser: browser, Dir: filepath.Join(abs, "NativeMessagingHosts")}
		if env.GOOS == "windows" {
			// Windows browsers find hosts through the registry only; a
			// user data directory does not change that.
			return Target{}, errors.New("on Windows the browsers find the host through the registry: install without --user-data-dir")
		}
		return t, nil
	}
	switch env.GOOS {
	case "windows":
		if !windowsAbs(env.LocalAppData) {
			return Target{}, errors.New("LOCALAPPDATA is not set to a full path: run keyhold browser install from your own Windows session")
		}
		key := map[string]string{
			"chromium": `Software\Chromium\NativeMessagingHosts\`,
			"chrome":   `Software\Google\Chrome\NativeMessagingHosts\`,
			"edge":     `Software\Microsoft\Edge\NativeMessagingHosts\`,
			"brave":    `Software\BraveSoftware\Brave-Browser\NativeMessagingHosts\`,
			"firefox":  `Software\Mozilla\NativeMessagingHosts\`,
		}[browser] + HostName
		profile := map[string]string{
			"chromium": `Chromium\User Data`, "chrome": `Google\Chrome\User Data`, "edge": `Microsoft\Edge\User Data`,
			"brave": `BraveSoftware\Brave-Browser\User Data`, "firefox": `Mozilla\Firefox`,
		}[browser]
		base := env.LocalAppData
		if browser == "firefox" {
			// Firefox keeps its profiles under the roaming AppData.
			base = filepath.Join(env.Home, "AppData", "Roaming")
		}
		return Target{Browser: browser, Dir: filepath.Join(env.LocalAppData, "Keyhold", "NativeMessagingHosts", browser),
			Profile: filepath.Join(base, profile), RegistryKey: key}, nil
	case "darwin":
		support := filepath.Join(env.Home, "Library", "Application Support")
		profile := filepath.Join(support, map[string]string{
			"chromium": "Chromium", "chrome": filepath.Join("Google", "Chrome"), "edge": "Microsoft Edge",
			"brave": filepath.Join("BraveSoftware", "Brave-Browser"), "firefox": "Mozilla",
		}[browser])
		dir := filepath.Join(profile, "NativeMessagingHosts")
		if browser == "firefox" {
			dir = firefoxDir(env)
		}
		return Target{Browser: browser, Dir: dir, Profile: profile}, nil
	}
	config := env.ConfigHome
	if config == "" {
		config = filepath.Join(env.Home, ".config")
	}
	if browser == "firefox" {
		return Target{Browser: browser, Dir: firefoxDir(env), Profile: filepath.Join(env.Home, ".mozilla")}, nil
	}
	profile := filepath.Join(config, map[string]string{
		"chromium": "chromium", "chrome": "google-chrome", "edge": "microsoft-edge",
		"brave": filepath.Join("BraveSoftware", "Brave-Browser"),
	}[browser])
	return Target{Browser: browser, Dir: filepath.Join(profile, "NativeMessagingHosts"), Profile: profile}, nil
}

// windowsAbs reports whether p is a full Windows path, on a drive (C:\...)
// or a network share (\\server\share), whatever system this runs on.
func windowsAbs(p string) bool {
	if strings.HasPrefix(p, `\\`) {
		return len(p) > 2
	}
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		(p[0] >= 'a' && p[0] <= 'z' || p[0] >= 'A' && p[0] <= 'Z')
}

func firefoxDir(env Env) string {
	if env.GOOS == "darwin" {
		return filepath.Join(env.Home, "Library", "Application Support", "Mozilla", "NativeMessagingHosts")
	}
	return filepath.Join(env.Home, ".mozilla", "native-messaging-hosts")
}

// Targets resolves install's and uninstall's --browser and
// --user-data-dir: the named browser; with a user data directory and no
// browser, chromium; with neither, every browser whose profile directory
// exists, or chromium if none does.
func Targets(env Env, browser, userDataDir string) ([]Target, error) {
	if browser != "" || userDataDir != "" {
		if browser == "" {
			browser = "chromium"
		}
		t, err := TargetFor(env, browser, userDataDir)
		if err != nil {
			return nil, err
		}
		return []Target{t}, nil
	}
	var out []Target
	for _, b := range Browsers {
		t, err := TargetFor(env, b, "")
		if err != nil {
			return nil, err
		}
		if st, err := os.Stat(t.Profile); err == nil && st.IsDir() {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		t, err := TargetFor(env, "chromium", "")
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// ExtensionID computes a Chromium extension's id from the public key in
// its manifest ("key": base64 of the DER SubjectPublicKeyInfo): the first
// 16 bytes of its SHA-256 in hex, each digit 0-f written as a letter a-p.
func ExtensionID(keyBase64 string) (string, error) {
	der, err := base64.StdEncoding.DecodeString(keyBase64)
	if err != nil || len(der) == 0 {
		return "", errors.New("the extension's key is not base64")
	}
	sum := sha256.Sum256(der)
	id := make([]byte, 32)
	for i, b := range sum[:16] {
		id[2*i] = 'a' + b>>4
		id[2*i+1] = 'a' + b&0xf
	}
	return string(id), nil
}

// ValidExtensionID reports whether id has the form of a Chromium
// extension id: 32 letters a-p.
func ValidExtensionID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 'a' || id[i] > 'p' {
			return false
		}
	}
	return true
}

// CheckExecutable refuses a keyhold binary that will not be there when
// the browser starts the host: one that `go run` built under the Go build
// cache's temporary directory.
func CheckExecutable(exe string) error {
	slash := filepath.ToSlash(exe)
	if strings.Contains(slash, "/go-build") && strings.Contains(slash, "/exe/") {
		return fmt.Errorf("%w (%s)", ErrTemporaryBinary, exe)
	}
	return nil
}

// manifest is a host manifest (Chrome's and Firefox's format).
type manifest struct {
	Name              string   `json:"name"`
	Description       string   `json:"description"`
	Path              string   `json:"path"`
	Type              string   `json:"type"`
	AllowedOrigins    []string `json:"allowed_origins,omitempty"`
	AllowedExtensions []string `json:"allowed_extensions,omitempty"`
}

// Manifest returns the host manifest for t: the wrapper's path, and the
// only extension allowed to start the host.
func ManifestJSON(t Target, goos, extensionID string) []byte {
	m := manifest{Name: HostName, Description: "Keyhold: fills logins from the local Keyhold vault",
		Path: t.Wrapper(goos), Type: "stdio"}
	if t.Chromium() {
		m.AllowedOrigins = []string{"chrome-extension://" + extensionID + "/"}
	} else {
		m.AllowedExtensions = []string{FirefoxExtensionID}
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}

// Wrapper returns the wrapper script: it runs exe's native host for
// vaultDir ("" for keyhold's default) and, for Chromium, extensionID,
// passing on what the browser adds.
func Wrapper(t Target, goos, exe, vaultDir, extensionID string) []byte {
	args := []string{exe}
	if vaultDir != "" {
		args = append(args, "--vault", vaultDir)
	}
	args = append(args, "native-host")
	if t.Chromium() {
		args = append(args, "--extension-id", extensionID)
	}
	if goos == "windows" {
		q := make([]string, len(args))
		for i, a := range args {
			q[i] = `"` + a + `"`
		}
		return []byte("@echo off\r\nrem Written by keyhold browser install: starts keyhold's native messaging host.\r\n" +
			strings.Join(q, " ") + " %*\r\n")
	}
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return []byte("#!/bin/sh\n# Written by keyhold browser install: starts keyhold's native messaging host.\nexec " +
		strings.Join(q, " ") + " \"$@\"\n")
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Install writes t's wrapper (0700) and manifest (0644; browsers only
// read it) and, on Windows, the registry key naming the manifest.
func Install(t Target, goos, exe, vaultDir, extensionID string) error {
	if goos == "windows" && strings.ContainsAny(exe+vaultDir, `"%`) {
		return errors.New("the keyhold path or vault directory has a \" or % in it, which a Windows batch file cannot pass on: move it")
	}
	// The wrapper receives the vault password on unlock: nobody else may
	// be able to replace it, so the directories it lives in must be this
	// user's own, not writable by others, and not symlinks to elsewhere.
	// The profile directory is checked first, so that nothing is created
	// in one that fails.
	if _, err := os.Lstat(filepath.Dir(t.Dir)); err == nil {
		if err := checkOwnDir(filepath.Dir(t.Dir)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		return err
	}
	for _, d := range []string{filepath.Dir(t.Dir), t.Dir} {
		if err := checkOwnDir(d); err != nil {
			return err
		}
	}
	if err := writeFile(t.Wrapper(goos), Wrapper(t, goos, exe, vaultDir, extensionID), 0o700); err != nil {
		return err
	}
	if err := writeFile(t.Manifest(), ManifestJSON(t, goos, extensionID), 0o644); err != nil {
		return err
	}
	if t.RegistryKey != "" {
		return setRegistry(t.RegistryKey, t.Manifest())
	}
	return nil
}

// Uninstall removes t's manifest, wrapper and registry key, and reports
// whether there was anything to remove.
func Uninstall(t Target, goos string) (bool, error) {
	removed := false
	for _, p := range []string{t.Manifest(), t.Wrapper(goos)} {
		err := os.Remove(p)
		if err == nil {
			removed = true
		} else if !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
	}
	if t.RegistryKey != "" {
		r, err := deleteRegistry(t.RegistryKey)
		if err != nil {
			return removed, err
		}
		removed = removed || r
	}
	// The directory goes if nothing else is in it (it may hold other
	// programs' hosts).
	os.Remove(t.Dir)
	return removed, nil
}

// writeFile replaces path with data through a temporary file and a
// rename, so that a browser never reads half a manifest.
func writeFile(path string, data []byte, mode fs.FileMode) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode) // whatever the umask; on the file written, not a path
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// WriteExtension writes the unpacked extension from fsys to dir,
// replacing what an earlier install wrote there: a new directory is
// filled beside it, then swapped in. A non-nil manifest replaces the
// manifest.json of fsys (Firefox's, from FirefoxManifest).
func WriteExtension(fsys fs.FS, dir string, manifest []byte) error {
	// The parent holds nothing but copies of the extension; made 0700,
	// like everything keyhold makes for the user.
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".browser-extension-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if p == "manifest.json" && manifest != nil {
			b = manifest
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return os.RemoveAll(old)
}
