//go:build !unix

package keys

// LockMemory does nothing on this platform.
func LockMemory(b []byte) {}
