//go:build unix && !linux

package agent

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Harden turns core dumps off for the agent, whose memory holds the
// account key. Other systems have no call like Linux's PR_SET_DUMPABLE
// that keeps debuggers of the same user out (docs/CLI.md says so).
func Harden() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("agent: turning core dumps off: %w", err)
	}
	return nil
}
