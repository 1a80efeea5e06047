package cli

import (
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/internal/agent"
	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/vault"
)

// Exit codes. Scripts rely on them: never renumber one, only add.
// docs/CLI.md lists them.
const (
	ExitOK          = 0
	ExitError       = 1  // anything not listed below
	ExitUsage       = 2  // bad flags or arguments
	ExitAuth        = 3  // wrong password, wrong Secret Key, kit or key of another account or key version
	ExitNotFound    = 4  // no such item, field or vault
	ExitAmbiguous   = 5  // a title names several items
	ExitDamaged     = 6  // damaged or tampered data: nothing was decrypted into something else
	ExitConflict    = 7  // changed by another command meanwhile; nothing was written
	ExitNoInput     = 8  // a secret is needed but there is no terminal and no file to read it from
	ExitUnavailable = 9  // a needed facility is missing (clipboard, agent support)
	ExitExists      = 10 // refusing to overwrite a vault or file that exists
	ExitServer      = 11 // the sync server could not be reached, or refused the request
	ExitLogin       = 12 // the server ended this device's session and there was no terminal to ask for the password
	ExitNoField     = 13 // a secret reference names an item that exists but has no such field
	ExitFindings    = 14 // audit found weak, reused, old or breached passwords
)

// quietExit ends keyhold with code and prints nothing more: the exit
// status of the program keyhold run ran, or audit's verdict after its
// report.
type quietExit struct{ code int }

func (e quietExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError marks errors in how the command was called.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// exitError carries an explicit exit code.
type exitError struct {
	error
	code int
}

func (e exitError) Unwrap() error { return e.error }

var (
	errNoInput     = errors.New("no terminal to ask for a secret")
	errUnavailable = errors.New("not available")
	errExists      = errors.New("already exists")
)

func exitCode(err error) int {
	var ee exitError
	var ue usageError
	var ae *api.APIError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &ae):
		// The server's answer, by its stable code.
		switch ae.Code {
		case api.CodeLoginFailed, api.CodeRevoked, api.CodeDisabled:
			return ExitAuth
		case api.CodeNotFound:
			return ExitNotFound
		}
		return ExitServer
	case errors.Is(err, syncclient.ErrLoginFailed), errors.Is(err, syncclient.ErrRevoked), errors.Is(err, syncclient.ErrDisabled):
		return ExitAuth
	case errors.Is(err, syncclient.ErrLoginNeeded):
		return ExitLogin
	case errors.Is(err, syncclient.ErrNoProof):
		return ExitServer
	case errors.Is(err, vault.ErrServerMismatch), errors.Is(err, vault.ErrServerRollback), errors.Is(err, vault.ErrOldEnvelope),
		errors.Is(err, syncclient.ErrNoManifest), errors.Is(err, vault.ErrDownloadTooLarge):
		return ExitDamaged
	case errors.Is(err, api.ErrUnreachable), errors.Is(err, api.ErrFingerprint),
		errors.Is(err, api.ErrRedirect), errors.Is(err, api.ErrAnswerTooLarge):
		return ExitServer
	case errors.Is(err, format.ErrWrongPassword), errors.Is(err, format.ErrWrongSecretKey),
		errors.Is(err, format.ErrWrongAcct), errors.Is(err, format.ErrOldKey),
		errors.Is(err, vault.ErrWrongAccount), errors.Is(err, keys.ErrKDFDowngrade),
		errors.Is(err, format.ErrWrongKey), errors.Is(err, vault.ErrRotated):
		return ExitAuth
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, vault.ErrNoVault), isMissingPart(err):
		return ExitNotFound
	case errors.Is(err, vault.ErrAmbiguous):
		return ExitAmbiguous
	case errors.Is(err, vault.ErrDamaged), errors.Is(err, format.ErrTampered),
		errors.Is(err, format.ErrMalformed), errors.Is(err, format.ErrWrongMagic), errors.Is(err, item.ErrInvalid):
		return ExitDamaged
	case errors.Is(err, vault.ErrConflict):
		return ExitConflict
	case errors.Is(err, errNoInput), errors.Is(err, agent.ErrNoAgent):
		return ExitNoInput
	case errors.Is(err, errUnavailable):
		return ExitUnavailable
	case errors.Is(err, vault.ErrVaultExists), errors.Is(err, errExists):
		return ExitExists
	}
	return ExitError
}
