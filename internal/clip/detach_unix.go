//go:build unix

package clip

import (
	"os/exec"
	"syscall"
)

// detach makes cmd outlive the CLI: a new session has no controlling
// terminal, so closing the terminal or pressing Ctrl-C in it (SIGHUP,
// SIGINT to the foreground process group) does not kill the helper before
// it has cleared the clipboard. It runs in / so that it does not keep the
// user's working directory busy (say, on a drive they want to unmount).
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
}
