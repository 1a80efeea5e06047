//go:build unix

package exttest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Programs are the paths of the programs the harness drives.
type Programs struct {
	Go, Chromium, Xvfb, Xdotool string
}

// Env is everything one test binary shares: the built keyhold, an Xvfb
// display, a vault with its agent unlocked, the host installed into
// Chromium's profile, the test page server and one browser.
type Env struct {
	Dir     string // temporary; removed by Close
	Keyhold *Keyhold
	Display *Display
	Server  *Server
	Browser *Browser
	Profile string // Chromium's user data directory
}

// Setup builds keyhold and starts everything. extensionDir is the
// unpacked extension (the repository's extension/ directory). prepare,
// when not nil, runs on the new vault before the agent unlocks it (the
// benchmark imports its 10,000 items there).
func Setup(p Programs, extensionDir string, prepare func(*Keyhold) error) (*Env, error) {
	dir, err := os.MkdirTemp("", "keyhold-exttest-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, Profile: filepath.Join(dir, "profile")}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	bin, err := BuildKeyhold(p.Go, filepath.Join(dir, "bin"))
	if err != nil {
		return nil, err
	}
	if e.Display, err = StartXvfb(p.Xvfb); err != nil {
		return nil, err
	}
	if e.Keyhold, err = NewKeyhold(bin, filepath.Join(dir, "user"), e.Display.Name); err != nil {
		return nil, err
	}
	if err := e.Keyhold.Init(); err != nil {
		return nil, err
	}
	if prepare != nil {
		if err := prepare(e.Keyhold); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(e.Profile, 0o700); err != nil {
		return nil, err
	}
	if _, err := e.Keyhold.Install(e.Profile); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(e.Profile, "NativeMessagingHosts", "app.keyhold.host.json")); err != nil {
		return nil, fmt.Errorf("keyhold browser install --user-data-dir wrote no host manifest: %w", err)
	}
	if err := e.Keyhold.Unlock(); err != nil {
		return nil, err
	}
	if e.Server, err = StartServer(); err != nil {
		return nil, err
	}
	ext, err := filepath.Abs(extensionDir)
	if err != nil {
		return nil, err
	}
	e.Browser, err = LaunchBrowser(BrowserOptions{
		Chromium: p.Chromium, Xdotool: p.Xdotool, Display: e.Display.Name, Profile: e.Profile,
		Extension: ext, Env: e.Keyhold.Env, TrustSPKI: []string{e.Server.SPKI},
	})
	if err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// Close stops the browser (and so the host), the agent, the server and
// the display, and removes the directory.
func (e *Env) Close() error {
	var errs []error
	if e.Browser != nil {
		errs = append(errs, e.Browser.Close())
	}
	if e.Keyhold != nil {
		e.Keyhold.Lock() // no agent is fine
	}
	if e.Server != nil {
		errs = append(errs, e.Server.Close())
	}
	if e.Display != nil {
		errs = append(errs, e.Display.Close())
	}
	errs = append(errs, os.RemoveAll(e.Dir))
	return errors.Join(errs...)
}
