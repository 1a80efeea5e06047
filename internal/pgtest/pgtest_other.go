//go:build !linux

package pgtest

import (
	"errors"
	"os/exec"
	"syscall"
)

// Throwaway clusters are a Linux test fixture (Debian's PostgreSQL layout,
// a child killed with its parent). Elsewhere the package still compiles, so
// that packages whose tests use it build and vet on every platform, but a
// cluster is never started as another user nor swept.

type credential struct{ Uid, Gid uint32 }

func processAlive(int) bool { return true }

func postgresUser() (*credential, error) {
	return nil, errors.New("running PostgreSQL as the postgres user is only supported on Linux; run the tests as a normal user")
}

func runAs(*credential) *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

func dieWithParent(*exec.Cmd) {}
