package cli

import (
	"os/exec"
	"syscall"
)

// Process creation flags, from the Windows SDK (winbase.h).
const (
	createNewProcessGroup = 0x00000200 // CREATE_NEW_PROCESS_GROUP: Ctrl-C in our console does not reach it
	detachedProcess       = 0x00000008 // DETACHED_PROCESS: no console at all, so closing ours does not end it
)

// detach makes the agent outlive the command and its console window, as
// a new session does on Unix.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CreationFlags: createNewProcessGroup | detachedProcess,
		HideWindow:    true,
	}
}
