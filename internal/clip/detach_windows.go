//go:build windows

package clip

import (
	"os/exec"
	"syscall"
)

// Process creation flags, from the Windows SDK (winbase.h).
const (
	createNewProcessGroup = 0x00000200 // CREATE_NEW_PROCESS_GROUP: no Ctrl-C from our console
	detachedProcess       = 0x00000008 // DETACHED_PROCESS: no console at all, so closing ours does not end it
)

// detach makes cmd outlive the CLI and its console window.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CreationFlags: createNewProcessGroup | detachedProcess,
		HideWindow:    true,
	}
}
