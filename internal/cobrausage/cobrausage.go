// Package cobrausage gives the mistakes cobra finds in a command line a
// type, so that the three Keyhold programs decide exit code 2 by what went
// wrong and never by the words of a message: a server's or a mailer's
// error that happens to say "invalid argument" must stay what it is.
//
// Cobra reports these mistakes as plain errors, from five places, and
// Execute types each where it arises:
//   - flag parsing (an unknown flag, a missing or malformed value): the
//     flag error hook;
//   - argument validators (cobra.ExactArgs and the like): every command's
//     Args is wrapped, once cobra's own help and completion commands exist
//     (they are added first; cobra then leaves them as they are);
//   - required flags and flag groups (MarkFlagRequired,
//     MarkFlagsMutuallyExclusive and the like): checked at the end of each
//     command's pre-run, where cobra checks them next in the same order;
//   - an unknown command at the top: the root command has no Run, so an
//     error it returns comes from finding the subcommand.
package cobrausage

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Error is a mistake in how a program was called, as cobra found it.
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether err is, or wraps, a command-line mistake cobra found.
func Is(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Execute runs root, which must have no Run of its own, with args and
// returns its error, an *Error for every mistake cobra finds in the
// command line.
func Execute(ctx context.Context, root *cobra.Command, args []string) error {
	root.SetArgs(args)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return &Error{err}
	})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd(args...)
	typeCommands(root)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && cmd == root && !root.Runnable() && !Is(err) {
		err = &Error{err}
	}
	return err
}

// typeCommands wraps the argument validator and the pre-run of cmd and
// its subcommands.
func typeCommands(cmd *cobra.Command) {
	if cmd.Args != nil {
		cmd.Args = typedArgs(cmd.Args)
	}
	if cmd.Runnable() {
		pre, preE := cmd.PreRun, cmd.PreRunE
		cmd.PreRun = nil
		cmd.PreRunE = func(c *cobra.Command, args []string) error {
			if preE != nil {
				if err := preE(c, args); err != nil {
					return err
				}
			} else if pre != nil {
				pre(c, args)
			}
			return checkFlags(c)
		}
	}
	for _, sub := range cmd.Commands() {
		typeCommands(sub)
	}
}

// typedArgs returns an argument validator whose errors are *Errors.
func typedArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		err := v(cmd, args)
		if err != nil && !Is(err) {
			return &Error{err}
		}
		return err
	}
}

// checkFlags checks cmd's required flags and flag groups as cobra does
// right after the pre-run.
func checkFlags(cmd *cobra.Command) error {
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return &Error{err}
	}
	if err := cmd.ValidateFlagGroups(); err != nil {
		return &Error{err}
	}
	return nil
}
