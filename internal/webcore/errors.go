package webcore

import (
	"context"
	"errors"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit/kittext"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// The codes of the JavaScript contract (docs/WEB.md): the page decides
// what to show by these, never by a message's text.
const (
	CodeWrongPassword = "wrong-password"
	CodeForeignKit    = "foreign-kit"
	CodeBadKit        = "bad-kit"
	CodeNoQR          = "no-qr"
	CodeNetwork       = "network"
	CodeServer        = "server"
	CodeRevoked       = "revoked"
	CodeLocked        = "locked"
	CodeNotFound      = "not-found"
	CodeConflict      = "conflict"
	CodeInvalid       = "invalid"
	CodeKDFTooStrong  = "kdf-too-strong"
	CodeInternal      = "internal"
)

// Errors of the browser session itself.
var (
	// ErrLocked means the call needs an unlocked vault.
	ErrLocked = errors.New("the vault is locked; unlock it first")
	// ErrSignedOut means the call needs a browser that is signed in.
	ErrSignedOut = errors.New("this browser is not signed in; sign in with your recovery kit")
	// ErrNoKit means signIn came before a kit was read.
	ErrNoKit = errors.New("read the recovery kit first: type the setup code, or choose the kit file")
	// ErrNotFound means no item has the id given.
	ErrNotFound = errors.New("no such item")
	// ErrConflict means an edit was made on top of a revision that is no
	// longer the item's current one, and was not kept.
	ErrConflict = errors.New("the item changed meanwhile; open it again and redo the edit")
	// ErrInvalid means an argument the page passed is unusable.
	ErrInvalid = errors.New("invalid request")
	// ErrNotRemembered means unlock was asked of a browser that keeps
	// nothing.
	ErrNotRemembered = errors.New("this browser does not remember a vault; sign in with your recovery kit")
	// ErrSignInAgain is what a key rotation made elsewhere asks of the
	// browser: the web vault does not follow rotations in place, it
	// downloads the vault again at the next sign-in.
	ErrSignInAgain = errors.New("the account key was rotated on another device; sign in again in this browser with the new recovery kit")
)

// Code returns the contract code for err, recognised by errors.Is/As.
func Code(err error) string {
	var ae *api.APIError
	var ce *CodeError
	var oe *OtherServerError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ce):
		return ce.Code
	case errors.As(err, &oe):
		return CodeForeignKit
	case errors.Is(err, ErrLocked), errors.Is(err, ErrSignedOut), errors.Is(err, ErrNotRemembered):
		return CodeLocked
	case errors.Is(err, ErrNoKit):
		return CodeBadKit
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, ErrConflict):
		return CodeConflict
	case errors.Is(err, ErrInvalid), errors.Is(err, item.ErrInvalid):
		return CodeInvalid
	case errors.Is(err, syncclient.ErrLoginFailed), errors.Is(err, format.ErrWrongPassword):
		return CodeWrongPassword
	case errors.Is(err, format.ErrWrongSecretKey):
		return CodeForeignKit
	case errors.Is(err, kittext.ErrNotKit), errors.Is(err, kittext.ErrKitVersion), errors.Is(err, kittext.ErrKitChar),
		errors.Is(err, kittext.ErrKitChecksum), errors.Is(err, kittext.ErrKitTruncated), errors.Is(err, kittext.ErrKitMalformed),
		errors.Is(err, kittext.ErrNoSecretKey):
		return CodeBadKit
	case errors.Is(err, syncclient.ErrRevoked):
		return CodeRevoked
	case errors.Is(err, keys.ErrKDFTooCostly):
		return CodeKDFTooStrong
	case errors.Is(err, api.ErrUnreachable), errors.Is(err, context.DeadlineExceeded):
		return CodeNetwork
	case errors.Is(err, vaultsync.ErrServerMismatch), errors.Is(err, vaultsync.ErrServerRollback),
		errors.Is(err, vaultsync.ErrOldEnvelope), errors.Is(err, syncclient.ErrNoManifest),
		errors.Is(err, syncclient.ErrLoginNeeded), errors.Is(err, syncclient.ErrDisabled),
		errors.Is(err, syncclient.ErrNoProof), errors.Is(err, ErrSignInAgain), errors.As(err, &ae):
		return CodeServer
	}
	return CodeInternal
}

// Message returns the sentence the page shows for err. Errors of this
// module never hold a secret (keys, passwords and kit text never go into
// an error), so the message is the error's own text, except for the
// cases a user meets often, which get a plainer sentence.
func Message(err error) string {
	var oe *OtherServerError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	switch Code(err) {
	case CodeWrongPassword:
		return "The password is wrong, or this recovery kit is not for an account on this server."
	case CodeForeignKit:
		return "This recovery kit does not belong to the account on this server (its Secret Key does not match). Use this account's newest kit."
	case CodeNoQR:
		return "No QR code was found. Try a sharper picture, or type the setup code printed under the QR code."
	case CodeNetwork:
		return "Cannot reach the server. Check the connection and try again."
	case CodeInternal:
		if errors.Is(err, ErrUnusable) {
			return ErrUnusable.Error() + "."
		}
		return "Something went wrong inside the web vault: " + err.Error()
	}
	return err.Error()
}
