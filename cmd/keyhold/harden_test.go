package main

import (
	"fmt"
	"os"
	"regexp"
	"runtime"

	"github.com/rogpeppe/go-internal/testscript"
)

// hardened PID
//
//	checks that process PID (the agent) cannot dump core: its core size
//	limit is 0 (Linux only; elsewhere it does nothing). That it is also
//	non-dumpable is checked by internal/agent's TestHarden.
func cmdHardened(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: hardened PID")
	}
	if runtime.GOOS != "linux" {
		return
	}
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%s/limits", args[0]))
	ts.Check(err)
	off := regexp.MustCompile(`(?m)^Max core file size\s+0\s+0\s`).Match(limits)
	if off == neg {
		ts.Fatalf("core dumps off: %v\n%s", off, limits)
	}
}
