package keystore

import "os"

// Get, Set and Delete are the system key store of the session this
// process's environment describes. They remain for internal/vault, which
// reaches the key store through them until it is given a *Store; new code
// takes a *Store from its caller instead (New), so that only the command
// line reads the environment.
//
// Deprecated: use New and Store's methods.
func Get(name string) ([]byte, error) { return fromEnvironment().Get(name) }

// Set: see Get.
//
// Deprecated: use New and Store's methods.
func Set(name string, secret []byte) error { return fromEnvironment().Set(name, secret) }

// Delete: see Get.
//
// Deprecated: use New and Store's methods.
func Delete(name string) error { return fromEnvironment().Delete(name) }

func fromEnvironment() *Store {
	return New(Options{SessionBus: os.Getenv("DBUS_SESSION_BUS_ADDRESS") != ""})
}
