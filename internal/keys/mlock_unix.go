//go:build unix

package keys

import "golang.org/x/sys/unix"

// LockMemory asks the kernel to keep b's pages out of swap. It is best
// effort: the locked-memory limit is often small, and a failure changes
// nothing else.
func LockMemory(b []byte) { _ = unix.Mlock(b) }
