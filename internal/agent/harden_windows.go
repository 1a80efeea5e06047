//go:build !unix

package agent

// Harden does nothing where the agent does not run (it needs unix sockets).
func Harden() error { return nil }
