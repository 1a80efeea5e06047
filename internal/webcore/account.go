package webcore

import (
	"context"
	"fmt"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/syncclient"
)

// DeviceView is one device of the account.
type DeviceView struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Platform string     `json:"platform"`
	Current  bool       `json:"current"`
	Added    time.Time  `json:"added"`
	LastSeen time.Time  `json:"lastSeen"`
	Revoked  *time.Time `json:"revoked"`
}

// AccountView is the Account screen.
type AccountView struct {
	Email       string       `json:"email"`
	Plan        string       `json:"plan"`
	Effective   string       `json:"effective"`
	TrialEnds   string       `json:"trialEnds"`
	PaymentDate string       `json:"paymentDate"`
	PaidUntil   string       `json:"paidUntil"`
	Items       int          `json:"items"`
	Devices     []DeviceView `json:"devices"`
	Server      string       `json:"server"`
}

// Account fetches the account's plan and devices from the server.
func (c *Core) Account(ctx context.Context) (AccountView, error) {
	cl, cfg, err := c.client()
	if err != nil {
		return AccountView{}, err
	}
	a, err := cl.Account(ctx)
	if err != nil {
		return AccountView{}, c.apiError(ctx, err)
	}
	ds, err := cl.Devices(ctx)
	if err != nil {
		return AccountView{}, c.apiError(ctx, err)
	}
	v := AccountView{Email: a.Email, Plan: a.Plan.Name, Effective: a.Plan.Effective, TrialEnds: a.Plan.TrialEnds,
		PaymentDate: a.Plan.PaymentDate, PaidUntil: a.Plan.PaidUntil, Items: a.Items, Server: cfg.Server, Devices: []DeviceView{}}
	for _, d := range ds {
		v.Devices = append(v.Devices, DeviceView{ID: d.ID, Name: d.Name, Platform: d.Platform, Current: d.ID == cfg.DeviceID,
			Added: d.Added, LastSeen: d.LastSeen, Revoked: d.Revoked})
	}
	c.mu.Lock()
	if c.dev != nil && a.Email != "" {
		c.dev.Email = a.Email
	}
	c.mu.Unlock()
	return v, nil
}

// apiError turns a refused session into what it means for this browser:
// a revoked device wipes what it stored, and the page is told.
func (c *Core) apiError(ctx context.Context, err error) error {
	if api.IsCode(err, api.CodeRevoked) {
		c.stopSync()
		c.wipeAfter(LockedEvent{Reason: "revoked"})
		return syncclient.ErrRevoked
	}
	if api.IsCode(err, api.CodeUnauthorized) {
		return fmt.Errorf("%w: lock and unlock to sign in to the server again", syncclient.ErrLoginNeeded)
	}
	return err
}

// ErrProofNeeded means the change needs the account's password (a fresh
// proof, docs/LOGIN.md) and none was given.
var ErrProofNeeded = fmt.Errorf("%w: this change needs the account's password", ErrInvalid)

// RevokeDevice revokes a device of the account. Revoking another device
// needs a fresh proof of the password (docs/LOGIN.md "Fresh proof"), so
// that a stolen session token cannot shut the owner's devices out: pw is
// that password (nil: only this browser may be revoked). Revoking this
// browser wipes what it stored.
func (c *Core) RevokeDevice(ctx context.Context, id string, pw []byte) error {
	cl, cfg, err := c.client()
	if err != nil {
		return err
	}
	self := id == cfg.DeviceID
	err = cl.RevokeDevice(ctx, id)
	if !self && api.IsCode(err, api.CodeReauth) {
		if pw == nil {
			return ErrProofNeeded
		}
		if err := c.prove(ctx, cl, cfg, pw); err != nil {
			return err
		}
		err = cl.RevokeDevice(ctx, id)
	}
	if err != nil {
		return c.apiError(ctx, err)
	}
	if self {
		c.stopSync()
		c.wipeAfter(LockedEvent{Reason: "revoked"})
	}
	return nil
}

// prove gets the session a fresh proof of the password pw (derived
// against the browser's working envelope); cl keeps a new token if the
// proof had to log in again.
func (c *Core) prove(ctx context.Context, cl *api.Client, cfg *syncclient.Config, pw []byte) error {
	dk, id, err := c.derive(pw)
	if err != nil {
		return err
	}
	defer dk.Wipe()
	cc := *cfg
	if err := syncclient.Reauth(ctx, cl, &cc, id, &dk.Login); err != nil {
		return err
	}
	cl.SetToken(cc.Token)
	if cc.Token != cfg.Token {
		c.mu.Lock()
		if c.dev != nil {
			c.dev.Sync.Token, c.dev.Sync.Expires = cc.Token, cc.Expires
		}
		c.mu.Unlock()
		_ = c.persist(ctx, true)
	}
	return nil
}

// derive runs the key derivation of the working envelope with pw and
// checks that it opens it.
func (c *Core) derive(pw []byte) (*keys.Derived, keys.AccountID, error) {
	c.mu.Lock()
	d := c.dev
	c.mu.Unlock()
	if d == nil {
		return nil, keys.AccountID{}, ErrSignedOut
	}
	c.mu.Lock()
	env, sk, id := d.envelope(), d.secretKey(), d.accountID()
	c.mu.Unlock()
	defer sk.Wipe()
	dk, err := env.DeriveWith(c.o.Argon2, pw, sk)
	if err != nil {
		return nil, id, err
	}
	ak, err := env.OpenDerived(dk)
	if err != nil {
		dk.Wipe()
		return nil, id, err
	}
	ak.Wipe()
	return dk, id, nil
}

// AuditEntry is one event of the account's audit log.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Event  string    `json:"event"`
	Device string    `json:"device"`
	Source string    `json:"source"`
	Detail string    `json:"detail"`
}

// Audit returns the account's audit log, newest first as the server
// sends it.
func (c *Core) Audit(ctx context.Context) ([]AuditEntry, error) {
	cl, _, err := c.client()
	if err != nil {
		return nil, err
	}
	evs, err := cl.Log(ctx, 200)
	if err != nil {
		return nil, c.apiError(ctx, err)
	}
	out := make([]AuditEntry, len(evs))
	for i, e := range evs {
		out[i] = AuditEntry{Time: e.Time, Event: e.Kind, Device: e.DeviceID, Source: e.Source, Detail: e.Detail}
	}
	return out, nil
}

// ChangePassword changes the account's password: a new envelope (same
// key derivation parameters, the next password epoch) goes to the server
// with a login record for the new password, under a fresh proof of the
// current one, before this browser changes anything (docs/SYNC.md).
func (c *Core) ChangePassword(ctx context.Context, current, next []byte) error {
	if _, err := c.open(); err != nil {
		return err
	}
	dk, id, err := c.derive(current)
	if err != nil {
		return err
	}
	defer dk.Wipe()
	env, sk, epoch, err := c.workingEnvelope()
	if err != nil {
		return err
	}
	defer sk.Wipe()
	ak, err := env.OpenDerived(dk)
	if err != nil {
		return err
	}
	defer ak.Wipe()
	nenv, nd, err := format.NewEnvelopeWith(c.o.Argon2, ak, id, env.KeyVersion, epoch+1, next, sk, env.KDF)
	if err != nil {
		return err
	}
	defer nd.Wipe()
	y, cfg, err := c.syncer()
	if err != nil {
		return err
	}
	y.Prove = func(ctx context.Context) error { return syncclient.Reauth(ctx, y.C, cfg, id, &dk.Login) }
	nb := nenv.Marshal()
	if err := y.PublishPassword(ctx)(nb, &nd.Login); err != nil {
		return c.apiError(ctx, err)
	}
	c.mu.Lock()
	if c.dev != nil {
		c.dev.Envelope, c.dev.Pending = nb, nil
		c.dev.Sync.Token, c.dev.Sync.Expires = cfg.Token, cfg.Expires
	}
	c.mu.Unlock()
	return c.persist(ctx, true)
}

// workingEnvelope returns the working envelope, the Secret Key and the
// highest password epoch this browser knows, or why it cannot: the
// derivation before it takes seconds, in which a sign-out or a
// revocation may have dropped the device, or a Lock the vault.
func (c *Core) workingEnvelope() (*format.Envelope, *keys.SecretKey, uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dev
	switch {
	case d == nil:
		return nil, nil, 0, ErrSignedOut
	case c.v == nil:
		return nil, nil, 0, ErrLocked
	}
	env := d.envelope()
	epoch := env.Epoch
	if d.Pending != nil {
		if p, err := format.ParseEnvelope(d.Pending); err == nil {
			epoch = max(epoch, p.Epoch)
		}
	}
	return env, d.secretKey(), epoch, nil
}
