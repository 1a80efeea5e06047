//go:build !unix

package cli

import (
	"os"
	"os/exec"
)

// relayedSignals are passed on to the command keyhold run started.
var relayedSignals = []os.Signal{os.Interrupt}

// exitStatus is a child's exit code.
func exitStatus(ee *exec.ExitError) int { return ee.ExitCode() }
