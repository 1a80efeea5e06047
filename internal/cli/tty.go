package cli

import (
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/term"
)

// tty is the terminal the user types secrets on: /dev/tty on Unix, the
// console's input and output buffers (CONIN$, CONOUT$) on Windows, where
// one handle cannot do both. openTTY, in the platform files, opens it and
// returns errNoInput when there is none.
type tty struct {
	in, out *os.File
}

func (t *tty) Read(p []byte) (int, error)  { return t.in.Read(p) }
func (t *tty) Write(p []byte) (int, error) { return t.out.Write(p) }

func (t *tty) Close() error {
	err := t.in.Close()
	if t.out != t.in {
		if err2 := t.out.Close(); err == nil {
			err = err2
		}
	}
	return err
}

// readPassword reads a line without echo. Ctrl-C while it waits restores
// the terminal's echo before the command dies of the interrupt: left to
// itself, an interrupted read would leave the terminal (on Windows, the
// console the user's shell shares) silent.
func (t *tty) readPassword() ([]byte, error) {
	fd := int(t.in.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return nil, fmt.Errorf("reading from the terminal: %w", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	stop := onInterrupt(sig, func() {
		term.Restore(fd, state)
		fmt.Fprintln(t.out)
	}, dieOfInterrupt)
	defer func() {
		signal.Stop(sig)
		stop()
	}()
	return term.ReadPassword(fd)
}

// onInterrupt runs restore and then die if a signal arrives on sig before
// stop is called. stop returns once the watch has ended, so restore never
// runs after it.
func onInterrupt(sig <-chan os.Signal, restore, die func()) (stop func()) {
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		select {
		case <-sig:
			restore()
			die()
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-ended
	}
}
