//go:build unix

package exttest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/browsertest"
)

// Display is a running Xvfb server: a screen that exists only in memory,
// where Chromium gets a real window and xdotool real key presses.
type Display struct {
	Name string // ":N", for DISPLAY
	cmd  *exec.Cmd
	done chan error
}

// StartXvfb starts Xvfb (the program at path) on a display number it
// picks itself (-displayfd), so that parallel test binaries never race
// for the same one.
func StartXvfb(path string) (*Display, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// fd 3 in the child is ExtraFiles[0].
	cmd := exec.Command(path, "-displayfd", "3", "-screen", "0", "1280x960x24", "-nolisten", "tcp", "-noreset")
	cmd.ExtraFiles = []*os.File{w}
	var stderr browsertest.LogBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("starting Xvfb: %w", err)
	}
	w.Close()
	d := &Display{cmd: cmd, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait() }()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case n := <-line:
		if n == "" {
			d.Close()
			return nil, fmt.Errorf("Xvfb did not report its display number:\n%s", stderr.String())
		}
		d.Name = ":" + n
		return d, nil
	case err := <-d.done:
		d.done <- err
		return nil, fmt.Errorf("Xvfb exited: %v\n%s", err, stderr.String())
	case <-time.After(20 * time.Second):
		d.Close()
		return nil, errors.New("Xvfb did not start within 20s:\n" + stderr.String())
	}
}

// Close stops the server.
func (d *Display) Close() error {
	if d == nil || d.cmd.Process == nil {
		return nil
	}
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
	return nil
}
