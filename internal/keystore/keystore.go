// Package keystore keeps small secrets in the operating system's key store:
// the Secret Service on Linux and the BSDs (GNOME Keyring, KWallet),
// the Keychain on macOS and the Credential Manager on Windows, through
// github.com/zalando/go-keyring.
//
// Keyhold puts a device's Secret Key there when it can, so that the
// secret is guarded by the user's login session (and, on a Mac, by the
// Secure Enclave-backed keychain) rather than by file permissions alone.
// Entries live under the service name "keyhold"; each entry's name says
// what it is for and never holds a secret.
//
// Every call has a deadline: a key store that shows an unlock prompt
// nobody answers, or a D-Bus that never replies, must not hang a command.
package keystore

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	keyring "github.com/zalando/go-keyring"
)

// Service is the service name every Keyhold entry is filed under.
const Service = "keyhold"

// Mode is where a device keeps its secrets.
type Mode string

// Modes. Auto means the OS key store when one answers, else a file.
const (
	Auto Mode = "auto"
	OS   Mode = "os"
	File Mode = "file"
)

// ParseMode reads a mode name as given to --keystore or KEYHOLD_KEYSTORE.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case Auto, OS, File:
		return m, nil
	case "":
		return Auto, nil
	}
	return "", fmt.Errorf("unknown key store %q (auto, os or file)", s)
}

var (
	// ErrNotFound means the key store has no entry of that name.
	ErrNotFound = errors.New("no such entry in the system key store")
	// ErrUnavailable means there is no system key store to talk to.
	ErrUnavailable = errors.New("no system key store is available")
)

// timeout bounds each call. Unlocking a keyring may show a prompt; a
// person answers one in well under this.
const timeout = 60 * time.Second

// Store is the system key store as one login session reaches it.
type Store struct {
	// noBus is set on Linux and the BSDs when the session has no D-Bus
	// session bus: then every call fails with ErrUnavailable at once.
	noBus bool
}

// Options describe the session the caller runs in. The caller reads them
// from its environment (the command line does): a Store never looks at
// the environment itself.
type Options struct {
	// SessionBus says whether the session has a D-Bus session bus
	// (DBUS_SESSION_BUS_ADDRESS is set). On Linux and the BSDs, without
	// one the store does not even try: the D-Bus library would otherwise
	// start a bus (and with it key store daemons) that outlives the
	// command. (With one, the library finds the bus itself.)
	SessionBus bool
}

// New returns the system key store for the session o describes.
func New(o Options) *Store {
	return &Store{noBus: needsSessionBus() && !o.SessionBus}
}

// Available reports whether the system key store answers.
func (s *Store) Available() error {
	_, err := s.Get("probe")
	if err == nil || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

func needsSessionBus() bool {
	switch runtime.GOOS {
	case "darwin", "windows", "ios":
		return false
	}
	return true
}

// Get returns the secret stored under name.
func (s *Store) Get(name string) ([]byte, error) {
	var v string
	err := s.call("reading", name, func() (err error) {
		v, err = keyring.Get(Service, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return []byte(v), nil
}

// Set stores secret under name, replacing what was there. The store
// keeps its own copy; the caller may wipe secret afterwards. (The
// library takes a string, so one short-lived copy cannot be wiped.)
func (s *Store) Set(name string, secret []byte) error {
	return s.call("writing", name, func() error {
		return keyring.Set(Service, name, string(secret))
	})
}

// Delete removes the entry; a missing entry is not an error.
func (s *Store) Delete(name string) error {
	err := s.call("deleting", name, func() error {
		return keyring.Delete(Service, name)
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// call runs f with the deadline and translates its errors. Entry names
// are not secret, so they may appear in messages.
func (s *Store) call(what, name string, f func() error) error {
	if s.noBus {
		return fmt.Errorf("%w: no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set)", ErrUnavailable)
	}
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		switch {
		case err == nil:
			return nil
		case errors.Is(err, keyring.ErrNotFound):
			return fmt.Errorf("%w: %q", ErrNotFound, name)
		case errors.Is(err, keyring.ErrSetDataTooBig):
			return fmt.Errorf("%s %q in the system key store: the value is too large for it", what, name)
		case errors.Is(err, keyring.ErrUnsupportedPlatform):
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return fmt.Errorf("%w: %s %q: %v", ErrUnavailable, what, name, err)
	case <-time.After(timeout):
		return fmt.Errorf("%w: %s %q: no answer within %s (is the keyring locked, waiting for a password?)", ErrUnavailable, what, name, timeout)
	}
}
