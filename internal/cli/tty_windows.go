package cli

import (
	"os"

	"golang.org/x/sys/windows"
	"golang.org/x/term"
)

// openTTY opens the console this process is attached to, whatever stdin
// and stdout are redirected to: CONIN$ to read (its mode decides the
// echo) and CONOUT$ to prompt. A process without a console (started
// detached, or as a service) gets errNoInput.
func openTTY() (*tty, error) {
	in, err := openConsole("CONIN$")
	if err != nil {
		return nil, errNoInput
	}
	if !term.IsTerminal(int(in.Fd())) {
		in.Close()
		return nil, errNoInput
	}
	out, err := openConsole("CONOUT$")
	if err != nil {
		in.Close()
		return nil, errNoInput
	}
	return &tty{in: in, out: out}, nil
}

// openConsole opens one of the console's buffers read-write: changing the
// input mode (echo off) needs read access, and x/term asks for both.
func openConsole(name string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(h), name), nil
}

// statusControlCExit is the exit status of a console process killed by
// Ctrl-C (STATUS_CONTROL_C_EXIT), which is what cmd.exe and PowerShell
// expect of an interrupted command.
const statusControlCExit = 0xC000013A

func dieOfInterrupt() { os.Exit(statusControlCExit) }
