package pake

import (
	"errors"
	"fmt"

	"github.com/bytemare/opaque"
)

// errFinished is returned when a Registration or Login is used twice: each
// holds one-time secrets (the OPRF blind, the ephemeral AKE key).
var errFinished = errors.New("pake: this exchange has already finished; start a new one")

// Registration is the client's side of one registration, between its
// request and the server's response. It holds the login key: call Finish
// (or Discard) promptly.
type Registration struct {
	c *opaque.Client
}

// RegisterStart begins a registration (account creation or password
// change) with the 32-byte login key of SPEC §3. Send the request to
// POST /v1/register/start.
func RegisterStart(loginKey []byte) (*Registration, []byte, error) {
	if len(loginKey) != LoginKeySize {
		return nil, nil, fmt.Errorf("pake: the login key must be %d bytes, not %d", LoginKeySize, len(loginKey))
	}
	c, err := opaque.NewClient(configuration())
	if err != nil {
		return nil, nil, fmt.Errorf("pake: configuring OPAQUE: %w", err)
	}
	req, err := c.RegistrationInit(loginKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pake: starting registration: %w", err)
	}
	return &Registration{c: c}, req.Serialize(), nil
}

// Finish turns the server's registration response into the record the
// server stores (CreateAccountRequest.Record, PasswordRequest.Record,
// RotateRequest.Record). The record binds the account id and the server's
// public key: a later login succeeds only against the server that answered
// here, for this account.
func (r *Registration) Finish(accountID [16]byte, response []byte) ([]byte, error) {
	if r.c == nil {
		return nil, errFinished
	}
	defer r.Discard()
	if len(response) != RegisterResponseSize {
		return nil, fmt.Errorf("%w: the server's registration response is %d bytes, not %d", ErrMalformed, len(response), RegisterResponseSize)
	}
	resp, err := r.c.Deserialize.RegistrationResponse(response)
	if err != nil {
		return nil, fmt.Errorf("%w: the server's registration response is invalid", ErrMalformed)
	}
	rec, exportKey, err := r.c.RegistrationFinalize(resp, accountID[:], []byte(ServerIdentity))
	clear(exportKey)
	if err != nil {
		return nil, fmt.Errorf("%w: the server's registration response was refused", ErrMalformed)
	}
	record := rec.Serialize()
	if len(record) != RecordSize {
		return nil, fmt.Errorf("pake: internal error: record is %d bytes, want %d", len(record), RecordSize)
	}
	return record, nil
}

// Discard clears the registration's secrets (best effort: Go cannot promise
// that no copy remains). Finish calls it.
func (r *Registration) Discard() {
	if r.c != nil {
		r.c.ClearState()
		r.c = nil
	}
}

// Login is the client's side of one login, between KE1 and KE2. It holds
// the login key: call Finish (or Discard) promptly.
type Login struct {
	c *opaque.Client
}

// LoginStart begins a login with the 32-byte login key of SPEC §3. Send
// KE1 to POST /v1/login/start.
func LoginStart(loginKey []byte) (*Login, []byte, error) {
	if len(loginKey) != LoginKeySize {
		return nil, nil, fmt.Errorf("pake: the login key must be %d bytes, not %d", LoginKeySize, len(loginKey))
	}
	c, err := opaque.NewClient(configuration())
	if err != nil {
		return nil, nil, fmt.Errorf("pake: configuring OPAQUE: %w", err)
	}
	ke1, err := c.GenerateKE1(loginKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pake: starting login: %w", err)
	}
	return &Login{c: c}, ke1.Serialize(), nil
}

// Finish checks the server's KE2 and returns KE3 for POST
// /v1/login/finish. It fails with ErrServerAuth unless the server proved
// it holds this account's record (mutual authentication): that is also how
// a wrong password or Secret Key shows, since OPAQUE cannot tell the two
// apart. On failure, send nothing more for this login.
func (l *Login) Finish(accountID [16]byte, ke2 []byte) ([]byte, error) {
	if l.c == nil {
		return nil, errFinished
	}
	defer l.Discard()
	if len(ke2) != KE2Size {
		return nil, fmt.Errorf("%w (its answer is %d bytes, not %d)", ErrServerAuth, len(ke2), KE2Size)
	}
	msg, err := l.c.Deserialize.KE2(ke2)
	if err != nil {
		return nil, fmt.Errorf("%w (its answer is malformed)", ErrServerAuth)
	}
	ke3, sessionKey, exportKey, err := l.c.GenerateKE3(msg, accountID[:], []byte(ServerIdentity))
	clear(sessionKey)
	clear(exportKey)
	if err != nil {
		return nil, ErrServerAuth
	}
	return ke3.Serialize(), nil
}

// Discard clears the login's secrets (best effort). Finish calls it.
func (l *Login) Discard() {
	if l.c != nil {
		l.c.ClearState()
		l.c = nil
	}
}
