package syncclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/pake"
)

// ErrLoginNeeded means the session token is missing, expired or revoked:
// the password is needed to log in again.
var ErrLoginNeeded = errors.New("this device must log in to the server again")

// ErrLoginFailed means the server did not accept the login: a wrong
// password, or no such account on that server (the two are not told
// apart, so the server cannot be used to find accounts).
var ErrLoginFailed = errors.New("login failed: wrong password, or the account does not exist on this server")

// ErrRevoked means this device was revoked on the server.
var ErrRevoked = errors.New("this device was revoked on the server; set it up again from the recovery kit to sync")

// ErrDisabled means the operator disabled the account.
var ErrDisabled = errors.New("the account is disabled on the server; contact its operator")

// Login runs the PAKE with the login key (SPEC §3) and keeps the session
// token in cfg (the caller saves it).
func Login(ctx context.Context, cl *api.Client, cfg *Config, id keys.AccountID, login *keys.Key32) error {
	fin, err := runLogin(ctx, cl, cfg, id, login, false)
	if err != nil {
		return err
	}
	cfg.Token, cfg.Expires = fin.Token, fin.Expires
	return nil
}

// runLogin runs the PAKE's three messages with the login key. With reauth
// the session in cl finishes it as a fresh proof (docs/LOGIN.md "Fresh
// proof") instead of opening a new session; the server then answers 401
// unauthorized if that session has ended (an *api.APIError, returned as
// it is).
func runLogin(ctx context.Context, cl *api.Client, cfg *Config, id keys.AccountID, login *keys.Key32, reauth bool) (*api.LoginFinishResponse, error) {
	l, ke1, err := pake.LoginStart(login[:])
	if err != nil {
		return nil, err
	}
	defer l.Discard()
	start, err := cl.LoginStart(ctx, &api.LoginStartRequest{AccountID: uuid.UUID(id).String(), Device: cfg.Device(), Message: ke1})
	if err != nil {
		return nil, loginError(err)
	}
	ke3, err := l.Finish(id, start.Message)
	if err != nil {
		// Tell the server the attempt failed, so it lands in the audit
		// log and counts against this address: a KE3 that cannot verify.
		cl.LoginFinish(ctx, &api.LoginFinishRequest{LoginID: start.LoginID, Message: make([]byte, 64), Reauth: reauth})
		// The server could not prove it holds this account's record: the
		// password or Secret Key is wrong, or the server is not the one
		// the account lives on.
		return nil, fmt.Errorf("%w (%s)", ErrLoginFailed, cl.URL())
	}
	fin, err := cl.LoginFinish(ctx, &api.LoginFinishRequest{LoginID: start.LoginID, Message: ke3, Reauth: reauth})
	if err != nil {
		if reauth && api.IsCode(err, api.CodeUnauthorized) {
			return nil, err
		}
		return nil, loginError(err)
	}
	return fin, nil
}

func loginError(err error) error {
	var ae *api.APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case api.CodeLoginFailed:
			return ErrLoginFailed
		case api.CodeThrottled:
			return fmt.Errorf("too many failed logins; wait %s and try again", ae.RetryAfter)
		case api.CodeRevoked:
			return ErrRevoked
		case api.CodeDisabled:
			return ErrDisabled
		}
	}
	return err
}

// NewRecord registers a login key with the server (for account creation,
// a password change or a key rotation) and returns the PAKE record to
// store. With a session token the server answers for the session's own
// account only.
func NewRecord(ctx context.Context, cl *api.Client, id keys.AccountID, login *keys.Key32) ([]byte, error) {
	r, req, err := pake.RegisterStart(login[:])
	if err != nil {
		return nil, err
	}
	defer r.Discard()
	resp, err := cl.RegisterStart(ctx, &api.RegisterStartRequest{AccountID: uuid.UUID(id).String(), Request: req})
	if err != nil {
		return nil, err
	}
	return r.Finish(id, resp.Response)
}

// Register creates the vault's account on the server and logs this device
// in. The server receives the envelope and key check (useless without the
// Secret Key and the password) and the PAKE record, never the login key.
func Register(ctx context.Context, cl *api.Client, cfg *Config, v Account, login *keys.Key32, email string) error {
	id := v.AccountID()
	record, err := NewRecord(ctx, cl, id, login)
	if api.IsCode(err, api.CodeExists) {
		return attach(ctx, cl, cfg, id, login)
	}
	if err != nil {
		return err
	}
	err = cl.CreateAccount(ctx, &api.CreateAccountRequest{
		AccountID: uuid.UUID(id).String(), Email: email, Record: record,
		Envelope: v.Envelope().Marshal(), KeyCheck: v.KeyCheckBytes(), KeyVersion: v.KeyVersion(),
		Device:       cfg.Device(),
		SyncSettings: &api.SyncSettings{Method: "server", Settings: map[string]string{"url": cfg.Server}},
	})
	if api.IsCode(err, api.CodeExists) {
		return attach(ctx, cl, cfg, id, login)
	}
	if err != nil {
		return err
	}
	return Login(ctx, cl, cfg, id, login)
}

// attach logs in to an account that already exists on the server: an
// earlier init or sync enable that was cut off after the server created
// it. If this device's login key opens it, it is this account.
func attach(ctx context.Context, cl *api.Client, cfg *Config, id keys.AccountID, login *keys.Key32) error {
	if err := Login(ctx, cl, cfg, id, login); err != nil {
		return fmt.Errorf("this account already exists on %s, and logging in to it failed: %w", cl.URL(), err)
	}
	return nil
}
