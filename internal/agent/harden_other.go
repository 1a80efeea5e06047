//go:build unix && !linux && !darwin && !(freebsd && (amd64 || arm64 || riscv64))

package agent

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Harden turns core dumps off for the agent, whose memory holds the
// account key. Here (OpenBSD, NetBSD, 32-bit FreeBSD, …) there is no call
// this package makes, like Linux's PR_SET_DUMPABLE, macOS's PT_DENY_ATTACH
// or FreeBSD's PROC_TRACE_CTL, that keeps debuggers of the same user out
// (docs/THREAT-MODEL.md says so).
func Harden() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("agent: turning core dumps off: %w", err)
	}
	return nil
}
