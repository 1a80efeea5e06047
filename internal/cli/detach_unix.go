//go:build unix

package cli

import (
	"os/exec"
	"syscall"
)

// detach makes cmd a session leader, so it survives the terminal closing
// and is not killed with the command's process group.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}
