//go:build !unix

package browserinstall

// checkOwnDir does nothing on Windows: a user's %LOCALAPPDATA% is
// private by its access control list.
func checkOwnDir(dir string) error { return nil }
