package clip

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHelperIsDetached inspects the running helper through /proc: it leads
// its own session (so the terminal closing or Ctrl-C does not reach it),
// writes nowhere but /dev/null, runs in /, and has the secret neither in its
// command line nor in its environment.
func TestHelperIsDetached(t *testing.T) {
	x := startX(t)
	helpers := watchHelpers(t)
	secret := []byte("Detached-h3lper-check")

	if err := Copy(secret, time.Hour, testHelperArgv(t), x); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	pid := only(t, helpers()).proc.Pid
	proc := func(name string) string { return fmt.Sprintf("/proc/%d/%s", pid, name) }

	stat, err := os.ReadFile(proc("stat"))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command name: state ppid pgrp session.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if sid, _ := strconv.Atoi(fields[3]); sid != pid {
		t.Errorf("helper %d is in session %d, want its own session", pid, sid)
	}
	for _, fd := range []string{"1", "2"} {
		if target, err := os.Readlink(proc("fd/" + fd)); err != nil || target != "/dev/null" {
			t.Errorf("helper fd %s is %q (%v), want /dev/null", fd, target, err)
		}
	}
	if cwd, err := os.Readlink(proc("cwd")); err != nil || cwd != "/" {
		t.Errorf("helper runs in %q (%v), want /", cwd, err)
	}
	for _, name := range []string{"cmdline", "environ"} {
		data, err := os.ReadFile(proc(name))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, secret) {
			t.Errorf("the secret is in the helper's %s", name)
		}
	}
}
