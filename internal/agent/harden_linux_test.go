package agent

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobody is the user the test runs its processes as when it runs as root
// (who may read any process), so that "another process of the same user"
// means what it says.
const nobody = 65534

// child runs this test binary as a process that calls Harden (if harden)
// and then waits, as the same (non-root) user as the test, and returns its
// pid and the line it printed.
func child(t *testing.T, bin string, harden bool) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^TestHarden$")
	cmd.Env = append(os.Environ(), "KEYHOLD_TEST_HARDEN_CHILD="+fmt.Sprint(harden), "SECRET_IN_ENV=1")
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid, strings.TrimSpace(line)
}

// readAsPeer tries to read /proc/PID/environ as another process of the
// child's user.
func readAsPeer(pid int) error {
	cmd := exec.Command("cat", fmt.Sprintf("/proc/%d/environ", pid))
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	cmd.Stdout = io.Discard
	return cmd.Run()
}

// TestHarden runs Harden in a child process (it cannot be undone) and
// checks what other processes see: no core dumps, and no access to its
// memory and environment for another process of the same user — while a
// child that did not call Harden is open to it (the check can fail).
func TestHarden(t *testing.T) {
	switch os.Getenv("KEYHOLD_TEST_HARDEN_CHILD") {
	case "true":
		if err := Harden(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fallthrough
	case "false":
		d, err := Dumpable()
		fmt.Printf("dumpable=%v err=%v\n", d, err)
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	bin := os.Args[0]
	if os.Getuid() == 0 {
		// The children run as nobody, who needs to reach the binary.
		dir, err := os.MkdirTemp("", "keyhold-harden-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		os.Chmod(dir, 0o755)
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "agent.test")
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	open, line := child(t, bin, false)
	if line != "dumpable=true err=<nil>" {
		t.Fatalf("plain child: %q", line)
	}
	if err := readAsPeer(open); err != nil {
		t.Fatalf("a peer cannot read even a plain process (the check below proves nothing): %v", err)
	}

	pid, line := child(t, bin, true)
	if line != "dumpable=false err=<nil>" {
		t.Fatalf("hardened child: %q", line)
	}
	if err := readAsPeer(pid); err == nil {
		t.Error("another process of the same user read the hardened process's environment")
	}
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^Max core file size\s+0\s+0\s`).Match(limits) {
		t.Errorf("core dumps are not off:\n%s", limits)
	}
}
