package keystore

import (
	"errors"
	"testing"
)

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Auto, "auto": Auto, "OS": OS, " file ": File} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMode("keychain"); err == nil {
		t.Error("ParseMode accepted an unknown mode")
	}
}

// Without a D-Bus session nothing is attempted: the D-Bus library would
// otherwise start a session bus (and key store daemons) of its own. The
// session is what the caller says, whatever the process's environment
// holds.
func TestNoSessionBus(t *testing.T) {
	if !needsSessionBus() {
		t.Skip("this system's key store needs no D-Bus")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/keyhold-test-bus")
	s := New(Options{SessionBus: false})
	if err := s.Available(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Available() = %v, want ErrUnavailable", err)
	}
	if _, err := s.Get("x"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get = %v, want ErrUnavailable", err)
	}
	if err := s.Set("x", []byte("y")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Set = %v, want ErrUnavailable", err)
	}
	if err := s.Delete("x"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Delete = %v, want ErrUnavailable", err)
	}
}

// The store never reads the environment: a session bus in the
// environment does not make a store told it has none reach for it.
func TestStoreIgnoresEnvironment(t *testing.T) {
	if !needsSessionBus() {
		t.Skip("this system's key store needs no D-Bus")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
	s := New(Options{})
	if _, err := s.Get("x"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get = %v, want ErrUnavailable", err)
	}
	if err := s.Set("x", []byte("y")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Set = %v, want ErrUnavailable", err)
	}
	if err := s.Delete("x"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Delete = %v, want ErrUnavailable", err)
	}
}
