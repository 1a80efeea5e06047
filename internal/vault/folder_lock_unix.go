//go:build unix

package vault

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockFolder takes the vault directory's sync lock (the one server sync
// takes too), so that two processes (an agent and a command) never sync
// the same vault with its folder at once. It waits up to wait.
func lockFolder(dir string, wait time.Duration) (func(), error) {
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
