//go:build !unix

package cli

// On Windows there is no SIGQUIT, and a console's Ctrl-Break and close
// events are not signals a prompt can turn into Ctrl-C.
func quitAsInterrupt() (stop func()) { return func() {} }
func termAsInterrupt() (stop func()) { return func() {} }
