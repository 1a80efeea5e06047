package agent

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Harden keeps the agent's memory, which holds the account key, from other
// processes of the same user and from disk: the process is made
// non-dumpable (PR_SET_DUMPABLE 0: no core dump, and no ptrace attach or
// /proc/PID/mem, environ or maps for anyone but root, even with the
// default Yama setting ptrace_scope=0), and its core size limit is set to
// zero, which its children inherit. The agent calls it before it reads the
// key; it fails rather than hold the key in a process that cannot be
// hardened.
func Harden() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("agent: turning core dumps off: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("agent: making the process non-dumpable: %w", err)
	}
	return nil
}

// Dumpable reports whether the calling process is dumpable (tests).
func Dumpable() (bool, error) {
	r, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	return r != 0, err
}
