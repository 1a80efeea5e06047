//go:build unix

package cli

import (
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// detach makes cmd a session leader, so it survives the terminal closing
// and is not killed with the command's process group.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// lockMemory keeps a key's page out of swap where the limits allow.
func lockMemory(b []byte) { _ = unix.Mlock(b) }
