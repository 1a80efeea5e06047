//go:build unix

package vault

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockSync takes the vault directory's sync lock, so that two processes
// (an agent and a command, or two terminals) never sync the same vault at
// once, with a server or a folder: their rounds would interleave (with a
// server, that looks like the server going back in time). It waits up to
// wait for the other to finish and returns the function that releases it.
func LockSync(dir string, wait time.Duration) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "sync.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, errors.New("another keyhold process is syncing this vault; try again when it is done")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
