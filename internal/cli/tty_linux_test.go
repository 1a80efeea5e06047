package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHelperPasswordPrompt is not a test: TestCtrlCAtPasswordPrompt runs
// this test binary again with it, on a pseudo-terminal, to prompt.
func TestHelperPasswordPrompt(t *testing.T) {
	if os.Getenv("KEYHOLD_TEST_PROMPT_HELPER") != "1" {
		t.Skip("helper process for TestCtrlCAtPasswordPrompt")
	}
	readSecretTTY("Password: ")
	os.Exit(0)
}

// TestCtrlCAtPasswordPrompt types Ctrl-C at a real password prompt on a
// pseudo-terminal and checks that the command dies of the interrupt with
// the terminal's echo back on: left off, the user's shell would stay
// silent.
func TestCtrlCAtPasswordPrompt(t *testing.T) {
	master, slave := openPTY(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPasswordPrompt$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KEYHOLD_TEST_PROMPT_HELPER=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, master)

	// Wait until the prompt has turned echo off, so that the interrupt
	// comes while the password is being read.
	echo := func() bool {
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		return tio.Lflag&unix.ECHO != 0
	}
	for deadline := time.Now().Add(30 * time.Second); echo(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the prompt never turned echo off")
		}
	}
	if _, err := master.Write([]byte{0x03}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("after Ctrl-C the prompt returned %v, want death by interrupt", err)
	}
	if st, ok := ee.Sys().(syscall.WaitStatus); !ok || !st.Signaled() || st.Signal() != syscall.SIGINT {
		t.Errorf("after Ctrl-C: %v, want killed by SIGINT", err)
	}
	if !echo() {
		t.Error("Ctrl-C at the password prompt left the terminal's echo off")
	}
}

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}
