package vault

import (
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/keystore"
)

// Option is something the program tells the vault about its
// surroundings — the clock, where Secret Keys are kept — which the vault
// never looks up in package variables or the environment itself.
type Option func(*options)

type options struct {
	now func() time.Time
	sec secrets
}

// secrets says where this process keeps devices' Secret Keys.
type secrets struct {
	// mode is where a device created now keeps its Secret Key:
	// keystore.OS or keystore.File. Existing devices keep theirs where
	// their device file says.
	mode keystore.Mode
	// dir finds the directory of the Secret Key files (SPEC §10) when
	// one is needed.
	dir func() (string, error)
	// system is the system key store; nil is one with no session to
	// reach (on Linux, no D-Bus session bus), where every call fails
	// with keystore.ErrUnavailable.
	system *keystore.Store
}

// WithClock sets the clock for item times the vault sets itself (trash,
// restore). The default is Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithNewKeystore sets where devices created through this call keep their
// Secret Key: keystore.OS, or keystore.File (the default). The command
// line resolves keystore.Auto before it passes this.
func WithNewKeystore(m keystore.Mode) Option {
	return func(o *options) { o.sec.mode = m }
}

// WithSystemKeystore gives the vault the system key store of this
// process's session (keystore.New, from what the command line read of
// the environment). Without it the vault cannot reach the system key
// store on Linux.
func WithSystemKeystore(st *keystore.Store) Option {
	return func(o *options) { o.sec.system = st }
}

// WithSecretKeyDir sets the directory of the Secret Key files, which keep
// a device's Secret Key outside the vault directory when it is not in the
// system key store. The command line passes $XDG_STATE_HOME/keyhold/
// secret-keys or its platform's equivalent. Without it, a device whose
// Secret Key is in such a file cannot be created or opened.
func WithSecretKeyDir(dir string) Option {
	return func(o *options) { o.sec.dir = func() (string, error) { return dir, nil } }
}

// WithSecretKeyDirFunc is WithSecretKeyDir with the directory found only
// when a Secret Key file is read or written: the command line's lookup
// (XDG_STATE_HOME, else the home directory) then fails only for a device
// that needs it.
func WithSecretKeyDirFunc(dir func() (string, error)) Option {
	return func(o *options) { o.sec.dir = dir }
}

func newOptions(os []Option) options {
	o := options{now: Now, sec: secrets{mode: keystore.File}}
	for _, f := range os {
		f(&o)
	}
	if o.sec.mode != keystore.OS {
		o.sec.mode = keystore.File
	}
	if o.sec.system == nil {
		o.sec.system = keystore.New(keystore.Options{})
	}
	return o
}

// Now is the default clock: UTC, to the millisecond, as items store it.
func Now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// now is the vault's clock.
func (v *Vault) now() time.Time {
	if v.opts.now == nil {
		return Now()
	}
	return v.opts.now()
}

// ErrNoSecretKeyDir means the program did not say where Secret Key files
// go (WithSecretKeyDir).
var ErrNoSecretKeyDir = errors.New("no directory for Secret Key files was given")

// SecretKeyFile is the path of the Secret Key file for entry name in the
// Secret Key directory dir.
func SecretKeyFile(dir, name string) string {
	return filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
}

// keyFile is the path of the Secret Key file for entry name.
func (sc secrets) keyFile(name string) (string, error) {
	if sc.dir == nil {
		return "", ErrNoSecretKeyDir
	}
	dir, err := sc.dir()
	if err != nil {
		return "", err
	}
	if dir == "" {
		return "", ErrNoSecretKeyDir
	}
	return SecretKeyFile(dir, name), nil
}
