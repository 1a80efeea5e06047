package cli

import (
	"errors"
	"fmt"
)

// missingPartError says that an item exists but lacks the field, TOTP
// secret or attachment named: exit 4 like a missing item, but the message
// and hint are about the item's contents, not about finding the item.
type missingPartError struct{ msg string }

func (e missingPartError) Error() string { return e.msg }

func missingPart(format string, a ...any) error {
	return missingPartError{fmt.Sprintf(format, a...)}
}

func isMissingPart(err error) bool {
	var mp missingPartError
	return errors.As(err, &mp)
}

// noTerminalToAsk is the error of a yes/no question with no terminal to
// ask it on. It is not errNoInput, whose hint is about password files:
// what helps here is the flag that answers the question, which the
// caller names in how.
func noTerminalToAsk(question, how string) error {
	return exitError{fmt.Errorf("no terminal to ask %s; %s", question, how), ExitNoInput}
}
