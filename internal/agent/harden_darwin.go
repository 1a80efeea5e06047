package agent

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Harden keeps the agent's memory, which holds the account key, from
// debuggers of the same user and from disk: ptrace(PT_DENY_ATTACH) makes
// every later attach fail (lldb, or anything using task_for_pid through
// the debugger path), and the core size limit is set to zero, which its
// children inherit. The agent calls it before it reads the key; it fails
// rather than hold the key in a process that cannot be hardened. A
// process already being traced is ended by the kernel instead, which is
// also what we want. Root, and code that reads the user's files or key
// store, are not kept out (docs/THREAT-MODEL.md, "the same user").
func Harden() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("agent: turning core dumps off: %w", err)
	}
	if err := unix.PtraceDenyAttach(); err != nil {
		return fmt.Errorf("agent: denying debuggers (PT_DENY_ATTACH): %w", err)
	}
	return nil
}

// pLNoAttach is P_LNOATTACH in <sys/proc.h>: the process flag that
// PT_DENY_ATTACH sets.
const pLNoAttach = 0x00001000

// Dumpable reports whether a debugger may still attach to the calling
// process (tests).
func Dumpable() (bool, error) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", unix.Getpid())
	if err != nil {
		return false, err
	}
	return kp.Proc.P_flag&pLNoAttach == 0, nil
}
