// Package svc is the plumbing shared by keyhold-server and keyhold-mailer:
// TLS setup, listening, graceful shutdown, request logs and metrics, JSON
// errors, client addresses, and the exit codes of their commands.
//
// It holds nothing specific to either service, so that the two cannot
// drift apart in how an operator runs them: the same transport flags, the
// same "fingerprint:" and "listening on" lines, the same request log
// fields. Of Keyhold's packages it imports only internal/api and ones
// that know nothing of either service (internal/atomicfile,
// internal/buildinfo, internal/cobrausage).
package svc

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keyhold/keyhold/internal/cobrausage"
)

// Exit codes of keyhold-server and keyhold-mailer.
const (
	ExitOK    = 0
	ExitError = 1 // the command failed
	ExitUsage = 2 // wrong flags or arguments
)

// UsageError marks a mistake in the command line: the command exits with
// ExitUsage and points at its help.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef is a UsageError with a formatted message.
func Usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }

// ExitCode reports how a command that ended with err exits. A failure is
// printed as "prog: err"; a usage mistake without a hint of its own gets
// hint (such as "run keyhold-mailer help serve for the flags") on a line
// "hint: …".
func ExitCode(err error, prog, hint string, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "%s: %v\n", prog, err)
	var u UsageError
	if errors.As(err, &u) || cobrausage.Is(err) {
		if !strings.Contains(err.Error(), "hint:") {
			fmt.Fprintln(stderr, "hint: "+hint)
		}
		return ExitUsage
	}
	return ExitError
}
