package pgtest

import (
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// credential is the user PostgreSQL runs as when this process is root.
type credential = syscall.Credential

// processAlive reports whether process pid still exists.
func processAlive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func postgresUser() (*credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, but there is no postgres user to run PostgreSQL as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres user has a non-numeric uid or gid (%s:%s)", u.Uid, u.Gid)
	}
	return &credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func runAs(cred *credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}

// dieWithParent has the kernel SIGKILL cmd when the thread that starts it
// ends.
func dieWithParent(cmd *exec.Cmd) { cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL }
