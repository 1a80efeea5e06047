//go:build unix

package browserinstall

import (
	"fmt"
	"os"
	"syscall"
)

// checkOwnDir refuses a directory that is a symlink, is not owned by this
// user, or that others may write to: anyone who could write there could
// replace the host's wrapper script.
func checkOwnDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: give the directory it points to (or a directory of your own) instead", dir)
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case ok && int(sys.Uid) != os.Getuid():
		return fmt.Errorf("%s belongs to another user: use a directory of your own", dir)
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s can be written by other users (mode %v): chmod go-w %s, or use a directory of your own", dir, st.Mode().Perm(), dir)
	}
	return nil
}
