//go:build windows

package browserinstall

import (
	"errors"

	"golang.org/x/sys/windows/registry"
)

// setRegistry sets the default value of HKCU\key to the manifest's path,
// which is how Chromium-family browsers and Firefox find a host on
// Windows.
func setRegistry(key, manifestPath string) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, key, registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	return k.SetStringValue("", manifestPath)
}

// deleteRegistry removes HKCU\key and reports whether it was there.
func deleteRegistry(key string) (bool, error) {
	err := registry.DeleteKey(registry.CURRENT_USER, key)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
