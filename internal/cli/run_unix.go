//go:build unix

package cli

import (
	"os"
	"os/exec"
	"syscall"
)

// relayedSignals are passed on to the command keyhold run started. On a
// terminal, Ctrl-C reaches the command directly as well (it is in the
// same process group); a program that counts interrupts sees two.
var relayedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

// exitStatus is a child's exit code, or 128+N for a death by signal N.
func exitStatus(ee *exec.ExitError) int {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}
