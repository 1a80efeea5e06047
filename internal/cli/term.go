package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/term"

	"github.com/keyhold/keyhold/internal/atomicfile"
)

// Terminal rules (after age's):
//   - Prompts and secrets typed by the user go through the terminal
//     (/dev/tty; the console on Windows), never stdin or stdout, with
//     echo off (restored on Ctrl-C); the prompt line is
//     ended so the next message starts clean.
//   - Every message goes to stderr, prefixed "keyhold: ", lowercase, with
//     "keyhold: hint: " lines saying what to do; stdout carries only the
//     command's result, so it can be piped.
//   - "-" names stdin (for input files) or stdout (for output files).
//   - Output files are created only once the data is ready, with O_EXCL
//     and mode 0600: a failed command leaves no file, and none is
//     overwritten.
//   - Secrets are never accepted as command-line values: they come from
//     the terminal, stdin (--password-stdin and friends) or a file
//     (--password-file), never argv, where other users can read them.

// readSecretTTY prompts on the terminal and reads a line without echo.
func readSecretTTY(prompt string) ([]byte, error) {
	tty, err := openTTY()
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	b, err := tty.readPassword()
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("reading from the terminal: %w", err)
	}
	return b, nil
}

// confirmTTY asks a yes/no question on the terminal.
func confirmTTY(prompt string) (bool, error) {
	tty, err := openTTY()
	if err != nil {
		return false, err
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt+" [y/N] ")
	line, _ := bufio.NewReader(tty).ReadString('\n')
	line = string(bytes.TrimSpace([]byte(line)))
	return line == "y" || line == "Y" || line == "yes", nil
}

// readSecretFile reads a secret from a file: the whole file less one
// trailing newline (LF or CRLF), so `echo pw > file` works.
func readSecretFile(path string) ([]byte, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<16))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, exitError{fmt.Errorf("reading the password file: %w", err), ExitNoInput}
	}
	b = trimNewline(b)
	if len(b) == 0 {
		return nil, exitError{fmt.Errorf("the password file %s is empty", path), ExitNoInput}
	}
	return b, nil
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// stdinSecret hands out stdin lines to the flags that read secrets from
// stdin (--password-stdin, --totp-secret-stdin, --secret-field, then
// --password-file -), in that order, one line each. On a terminal each is
// prompted for without echo.
func (c *cmdEnv) stdinSecret(what string) ([]byte, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return readSecretTTY(what + ": ")
	}
	if c.lines == nil {
		c.lines = bufio.NewReaderSize(c.stdin, 1<<16)
	}
	line, err := c.lines.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return nil, err
	}
	line = trimNewline(line)
	if len(line) == 0 {
		return nil, fmt.Errorf("expected the %s on a line of stdin, got nothing", what)
	}
	return line, nil
}

// createExcl creates an output file that must not exist yet, mode 0600.
func createExcl(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if os.IsExist(err) {
			return nil, exitError{fmt.Errorf("%s already exists; choose another name or remove it first", path), ExitExists}
		}
		return nil, err
	}
	return f, nil
}

// writeOut writes data to path ("-" = stdout) only once it is complete,
// to a new file (mode 0600) under that name alone: an export is never
// copied to a hidden temporary file that an interrupted command would
// leave behind.
func (c *cmdEnv) writeOut(path string, data []byte) error {
	if path == "-" {
		_, err := c.stdout.Write(data)
		return err
	}
	err := atomicfile.WriteNew(path, data, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return exitError{fmt.Errorf("%s already exists; choose another name or remove it first", path), ExitExists}
	}
	return err
}
