//go:build !windows

package browserinstall

// Only Windows finds hosts through the registry; TargetFor sets a
// RegistryKey for Windows only.

func setRegistry(key, manifestPath string) error { return nil }

func deleteRegistry(key string) (bool, error) { return false, nil }
