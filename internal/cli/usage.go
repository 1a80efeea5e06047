package cli

import (
	"errors"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// typeUsageErrors makes every error cobra finds in how keyhold was called
// a usageError (exit 2), so that exit codes never depend on an error's
// text: a server's or a mailer's message that happens to say "invalid
// argument" stays what it is. Cobra reports these as plain errors, from
// four places:
//   - flag parsing (unknown flag, missing or malformed value): the flag
//     error hook;
//   - argument validators (cobra.ExactArgs and the like): each command's
//     Args is wrapped here, once the default help and completion commands
//     exist (cobra adds them when it executes; adding them first is a
//     no-op for cobra then);
//   - required flags and flag groups (MarkFlagsMutuallyExclusive and the
//     like): checked by checkFlags from the root's PersistentPreRunE,
//     before cobra checks them the same way;
//   - an unknown command at the top: execute wraps what the root returns.
func typeUsageErrors(root *cobra.Command, args []string) {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{err}
	})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd(args...)
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Args != nil {
			cmd.Args = usageArgs(cmd.Args)
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// usageArgs returns an argument validator whose errors are usageErrors.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			var ue usageError
			if errors.As(err, &ue) {
				return err
			}
			return usageError{err}
		}
		return nil
	}
}

// checkFlags checks cmd's required flags and flag groups as cobra does
// after the pre-run hooks, returning a usageError where cobra would
// return a plain one.
func checkFlags(cmd *cobra.Command) error {
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return usageError{err}
	}
	if err := cmd.ValidateFlagGroups(); err != nil {
		return usageError{err}
	}
	return nil
}
