// Package pake is Keyhold's login protocol: OPAQUE (RFC 9807) over
// github.com/bytemare/opaque, fixed to one configuration. The client proves
// it knows the login key (docs/SPEC.md §3) without sending it or anything a
// server, or a thief of the server's database, could test a guess against
// without also holding the user's Secret Key. The server proves it holds the
// account's record, so a client never logs in to an impostor.
//
// The server side keeps no memory between requests: the state between login
// start and finish is returned as bytes for the caller to store, and any
// Server built from the same key bytes can finish it. docs/LOGIN.md describes
// the flow over the HTTP API and what each party can and cannot learn.
//
// Every message is the RFC's byte encoding for the configuration below; the
// sizes are fixed and every decoder refuses any other length.
package pake

import (
	"crypto"
	"errors"

	"github.com/bytemare/opaque"
)

// Context is the OPAQUE context string, hashed into the AKE preamble of
// every login. Both sides must use the same one, so a transcript made for
// another application or another version of this protocol never verifies.
const Context = "keyhold v1 login"

// ServerIdentity is the server's identity in the AKE. It is bound into every
// envelope at registration and every login transcript, so a record made for
// this service cannot be replayed against another that happens to share a
// key pair.
const ServerIdentity = "keyhold-server"

// LoginKeySize is the length of the login key the client derives (SPEC §3).
const LoginKeySize = 32

// Message sizes for the configuration below (ristretto255, SHA-512,
// HMAC-SHA-512, 32-byte nonces).
const (
	RegisterRequestSize  = 32
	RegisterResponseSize = 64
	RecordSize           = 192
	KE1Size              = 96
	KE2Size              = 320
	KE3Size              = 64
)

// Errors are API: callers test them with errors.Is.
var (
	// ErrMalformed means a message is not a well-formed message of this
	// protocol (wrong length, an invalid group element, …). The server
	// answers it with 400 bad_request.
	ErrMalformed = errors.New("pake: malformed message")

	// ErrLoginFailed is the server's only answer to a KE3 that does not
	// verify: a wrong password or Secret Key, an unknown account, a replayed
	// or mixed-up message all look the same. The server answers it with 401
	// login_failed.
	ErrLoginFailed = errors.New("pake: login failed")

	// ErrServerAuth is the client's answer to a KE2 that does not verify.
	// OPAQUE cannot tell the two causes apart: either the password or Secret
	// Key is wrong (or the account does not exist), or the server does not
	// hold this account's record and is not the server the account was
	// registered with.
	ErrServerAuth = errors.New("pake: login failed: the password or Secret Key is wrong, or the server could not prove it holds this account")

	// ErrDamaged means bytes the server stored (its keys, a record or a
	// pending login) do not decode. It is a server fault, never the
	// client's: the server answers it with 500.
	ErrDamaged = errors.New("pake: stored login data is damaged")
)

// configuration is the one OPAQUE configuration Keyhold uses.
//
// Suite: ristretto255 with SHA-512 for the OPRF and the 3DH AKE, HKDF-SHA-512
// and HMAC-SHA-512 — the first configuration RFC 9807 recommends.
//
// KSF: the identity (the library's KSF id 0). The RFC hardens the OPRF
// output with a memory-hard function because a password alone is guessable.
// Keyhold's input is not a password: the login key is HKDF output over
// Argon2id of the password and the 128-bit Secret Key, already as costly as
// the device can afford and already unguessable. A second Argon2id would
// double the login time and buy nothing.
func configuration() *opaque.Configuration {
	return &opaque.Configuration{
		OPRF:    opaque.RistrettoSha512,
		AKE:     opaque.RistrettoSha512,
		KSF:     0, // identity
		KDF:     crypto.SHA512,
		MAC:     crypto.SHA512,
		Hash:    crypto.SHA512,
		Context: []byte(Context),
	}
}
