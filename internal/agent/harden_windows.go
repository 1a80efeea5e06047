//go:build !unix

package agent

// Harden does nothing on Windows: there are no core dumps to turn off, and
// no call like Linux's PR_SET_DUMPABLE keeps the user's other processes
// out of the agent's memory (docs/WINDOWS.md says so).
func Harden() error { return nil }
