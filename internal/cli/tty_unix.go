//go:build unix

package cli

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"
)

// openTTY opens the controlling terminal for prompting.
func openTTY() (*tty, error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errNoInput
	}
	if !term.IsTerminal(int(f.Fd())) {
		f.Close()
		return nil, errNoInput
	}
	return &tty{in: f, out: f}, nil
}

// dieOfInterrupt ends the process as SIGINT's default action would, so the
// shell sees a command killed by Ctrl-C (a shell script stops too, which
// it would not for a mere exit status 130). The signal may be handled on
// another thread a moment later; the exit is the fallback should it not.
func dieOfInterrupt() {
	signal.Reset(os.Interrupt)
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	time.Sleep(time.Second)
	os.Exit(128 + int(syscall.SIGINT))
}
