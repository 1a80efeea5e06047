package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/clip"
	"github.com/keyhold/keyhold/internal/gen"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/otpcode"
	"github.com/keyhold/keyhold/internal/strength"
	"github.com/keyhold/keyhold/internal/vault"
)

func (c *cmdEnv) generateCmd() *cobra.Command {
	var length, words int
	var noSymbols, noDigits, noUpper, noLower, noAmbiguous, capitalize bool
	var sep string
	var clipIt bool
	var after time.Duration
	cmd := &cobra.Command{
		Use:   "generate [LENGTH]",
		Short: "Print a random password or passphrase",
		Long: `Print a random password (default: 24 characters of all classes) or, with
--words N, a passphrase of N words from the EFF large word list. The
strength estimate goes to stderr, the password alone to stdout; with
-c/--clip it goes to the clipboard instead (cleared after --clear-after).
LENGTH is --length: keyhold generate 32.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				n, err := strconv.Atoi(args[0])
				if err != nil || n <= 0 {
					return usageError{fmt.Errorf("LENGTH must be a number of characters, not %q", args[0])}
				}
				if cmd.Flags().Changed("length") && n != length {
					return usageError{errors.New("LENGTH and --length differ; give one")}
				}
				length = n
			}
			var pw []byte
			var err error
			var bits float64
			if words > 0 {
				spec := gen.DefaultPassphraseSpec
				spec.Words, spec.Capitalize = words, capitalize
				if cmd.Flags().Changed("separator") {
					spec.Separator = sep
				}
				pw, err = gen.Passphrase(spec)
				bits = gen.PassphraseEntropyBits(spec)
			} else {
				spec := gen.PasswordSpec{Length: length, Upper: !noUpper, Lower: !noLower, Digits: !noDigits, Symbols: !noSymbols, NoAmbiguous: noAmbiguous}
				pw, err = gen.Password(spec)
				bits = gen.PasswordEntropyBits(spec)
			}
			if err != nil {
				return usageError{err}
			}
			defer keys.Wipe(pw)
			if clipIt {
				if err := c.copyValue(string(pw), after); err != nil {
					return err
				}
				c.infof("copied the password to the clipboard; it is cleared in %s", after)
				c.infof("%s of entropy; %s", gen.FormatBits(bits), strength.Evaluate(pw).Summary())
				return nil
			}
			if c.jsonOut {
				return c.printJSON(generateJSON{Password: string(pw), EntropyBits: bits})
			}
			c.stdout.Write(append(pw, '\n'))
			c.infof("%s of entropy; %s", gen.FormatBits(bits), strength.Evaluate(pw).Summary())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&length, "length", gen.DefaultPasswordSpec.Length, "password length")
	f.BoolVar(&noSymbols, "no-symbols", false, "no symbols")
	f.BoolVar(&noDigits, "no-digits", false, "no digits")
	f.BoolVar(&noUpper, "no-upper", false, "no upper-case letters")
	f.BoolVar(&noLower, "no-lower", false, "no lower-case letters")
	f.BoolVar(&noAmbiguous, "no-ambiguous", false, "leave out look-alike characters (I l 1 O 0 ...)")
	f.IntVar(&words, "words", 0, "make a passphrase of this many words")
	f.StringVar(&sep, "separator", "-", "with --words: the separator")
	f.BoolVar(&capitalize, "capitalize", false, "with --words: capitalize each word")
	f.BoolVarP(&clipIt, "clip", "c", false, "copy the password to the clipboard instead of printing it")
	f.DurationVar(&after, "clear-after", 45*time.Second, "with --clip: clear the clipboard after this long")
	return cmd
}

func (c *cmdEnv) otpCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "otp TITLE|ID",
		Aliases: []string{"totp"},
		Short:   "Print the current TOTP code of an item",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, e, err := c.resolveRead(args[0], vault.Active)
			if err != nil {
				return err
			}
			secret, ok := e.Item.Get("totp")
			if !ok || secret == "" {
				return missingPart("%q has no TOTP secret", e.Item.Title)
			}
			code, remaining, err := totpCode(secret, time.Now())
			if err != nil {
				return err
			}
			if c.jsonOut {
				return c.printJSON(otpJSON{Code: code, RemainingSeconds: remaining})
			}
			fmt.Fprintln(c.stdout, code)
			c.infof("valid for %ds more", remaining)
			return nil
		},
	}
}

// totpCode computes the RFC 6238 code for a stored secret (bare base32 with
// the common defaults, or an otpauth:// URI with its own parameters).
func totpCode(stored string, now time.Time) (string, int, error) {
	code, _, remaining, err := otpcode.Code(stored, now)
	return code, remaining, err
}

// mainSecret is the field copy and show --clip take when none is named:
// the secret an item of that type exists for.
func mainSecret(it *item.Item) (string, error) {
	switch it.Type {
	case item.Login:
		return "password", nil
	case item.Card:
		return "number", nil
	case item.Bank:
		if _, ok := it.Get("account_number"); !ok {
			if _, ok := it.Get("iban"); ok {
				return "iban", nil
			}
		}
		return "account_number", nil
	case item.Note:
		return "notes", nil
	}
	return "", usageError{fmt.Errorf("%q is an %s, which has no one main secret: name a field with --field", it.Title, it.Type)}
}

// fieldValue returns an item's field by name (item.Get's names), where
// "otp" is the current TOTP code, as in gopass, op and bw.
func fieldValue(e *vault.Entry, field string, now time.Time) (string, error) {
	if strings.EqualFold(field, "otp") {
		secret, ok := e.Item.Get("totp")
		if !ok || secret == "" {
			return "", missingPart("%q has no TOTP secret", e.Item.Title)
		}
		v, _, err := totpCode(secret, now)
		return v, err
	}
	v, ok := e.Item.Get(field)
	if !ok {
		return "", missingPart("%q has no field %q", e.Item.Title, field)
	}
	return v, nil
}

// copyValue puts v on the clipboard, to be cleared after the given time.
func (c *cmdEnv) copyValue(v string, after time.Duration) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	b := []byte(v)
	defer keys.Wipe(b)
	// The graphical session is read here, from the environment, and
	// handed to clip.
	session := clip.Session{WaylandDisplay: os.Getenv("WAYLAND_DISPLAY"), X11Display: os.Getenv("DISPLAY")}
	if err := clip.Copy(b, after, []string{exe, "__clip-clear"}, session); err != nil {
		if errors.Is(err, clip.ErrNoClipboard) {
			return exitError{err, ExitUnavailable}
		}
		return err
	}
	return nil
}

func (c *cmdEnv) copyCmd() *cobra.Command {
	var field string
	var after time.Duration
	cmd := &cobra.Command{
		Use:   "copy TITLE|ID",
		Short: "Copy a field (default: the item's main secret) to the clipboard, cleared after a while",
		Long: `Copy a field's value to the clipboard: by default the item's main secret
(a login's password, a card's number, a bank account's number, a note's
text); "otp" copies the current TOTP code. A detached helper clears the
clipboard after --clear-after (default 45s), but only if it still holds
that value. The helper is handed only a hash of the value, never the
value.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, e, err := c.resolveRead(args[0], vault.Active)
			if err != nil {
				return err
			}
			f := field
			if f == "" {
				if f, err = mainSecret(e.Item); err != nil {
					return err
				}
			}
			v, err := fieldValue(e, f, time.Now())
			if err != nil {
				return err
			}
			if err := c.copyValue(v, after); err != nil {
				return err
			}
			c.infof("copied %s of %q to the clipboard; it is cleared in %s", f, e.Item.Title, after)
			return nil
		},
	}
	cmd.Flags().StringVar(&field, "field", "", "which field to copy (default: the type's main secret; otp: the current TOTP code)")
	cmd.Flags().DurationVar(&after, "clear-after", 45*time.Second, "clear the clipboard after this long")
	return cmd
}

func (c *cmdEnv) clipClearCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "__clip-clear",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clip.RunClearHelper(c.stdin)
		},
	}
}
