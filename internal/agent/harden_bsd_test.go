//go:build darwin || (freebsd && (amd64 || arm64 || riscv64))

package agent

import (
	"os"
	"os/exec"
	"testing"
)

// TestHardenDeniesDebuggers: after Harden, the process may no longer be
// attached to (PT_DENY_ATTACH on macOS, PROC_TRACE_CTL on FreeBSD). It
// runs in a child, since the change lasts for the process's life.
func TestHardenDeniesDebuggers(t *testing.T) {
	if os.Getenv("KEYHOLD_TEST_HARDEN_BSD_CHILD") == "1" {
		if d, err := Dumpable(); err != nil || !d {
			t.Fatalf("before Harden: traceable %v, %v", d, err)
		}
		if err := Harden(); err != nil {
			t.Fatal(err)
		}
		if d, err := Dumpable(); err != nil || d {
			t.Fatalf("after Harden: traceable %v, %v", d, err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHardenDeniesDebuggers$", "-test.v")
	cmd.Env = append(os.Environ(), "KEYHOLD_TEST_HARDEN_BSD_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
