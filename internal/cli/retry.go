package cli

import (
	"errors"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
)

// passwordTries is how many times a person at a terminal may type the
// current password before the command gives up, as sudo and ssh allow: a
// typo should not mean running the command again, and three tries keep
// a terminal left open from being an endless guessing prompt.
const passwordTries = 3

// passwordFor reads the current password and checks it with try. On a
// terminal a wrong password (format.ErrWrongPassword) is asked for again,
// three tries in all; a password from a file or stdin gets one try. It
// returns the password that try accepted, which the caller wipes.
func (c *cmdEnv) passwordFor(prompt string, try func(pw []byte) error) ([]byte, error) {
	for n := 1; ; n++ {
		pw, err := c.password(prompt)
		if err != nil {
			return nil, err
		}
		err = try(pw)
		if err == nil {
			return pw, nil
		}
		keys.Wipe(pw)
		if !errors.Is(err, format.ErrWrongPassword) || c.passwordFile != "" || n == passwordTries {
			return nil, err
		}
		c.infof("wrong password; try again (%d of %d)", n+1, passwordTries)
	}
}
