//go:build freebsd && (amd64 || arm64 || riscv64)

package agent

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Constants of procctl(2), from <sys/wait.h> and <sys/procctl.h>;
// golang.org/x/sys/unix has the system call's number but not these.
const (
	pPID                = 0 // P_PID: id is a process id
	procTraceCtl        = 7 // PROC_TRACE_CTL
	procTraceStatus     = 8 // PROC_TRACE_STATUS
	procTraceCtlDisable = 2 // PROC_TRACE_CTL_DISABLE
)

// procctl calls procctl(2) on this process. id_t is 64 bits, so this
// form is for the 64-bit ports only (the 32-bit ones split it across two
// arguments); the others use harden_other.go.
func procctl(cmd int, data *int32) error {
	_, _, errno := unix.Syscall6(unix.SYS_PROCCTL, pPID, uintptr(unix.Getpid()), uintptr(cmd), uintptr(unsafe.Pointer(data)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// Harden keeps the agent's memory, which holds the account key, from
// debuggers of the same user and from disk: procctl(PROC_TRACE_CTL,
// PROC_TRACE_CTL_DISABLE) refuses every ptrace attach and every read of
// its memory through procfs to others than root, and makes it
// non-dumpable, and the core size limit is set to zero, which its
// children inherit. The agent calls it before it reads the key; it fails
// rather than hold the key in a process that cannot be hardened.
func Harden() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("agent: turning core dumps off: %w", err)
	}
	v := int32(procTraceCtlDisable)
	if err := procctl(procTraceCtl, &v); err != nil {
		return fmt.Errorf("agent: denying debuggers (procctl PROC_TRACE_CTL): %w", err)
	}
	return nil
}

// Dumpable reports whether tracing of the calling process is still
// allowed (tests): PROC_TRACE_STATUS gives -1 once it is disabled.
func Dumpable() (bool, error) {
	var v int32
	if err := procctl(procTraceStatus, &v); err != nil {
		return false, err
	}
	return v != -1, nil
}
